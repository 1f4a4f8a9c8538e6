/** The Received field in its two forms: with the client's address, and for submission. */
import assert from "node:assert/strict";
import { validateConfig } from "../config/config.ts";
import type { SessionOptions, SessionView } from "./session_options.ts";
import { authenticationHeaders, receivedHeader } from "./trace_headers.ts";

function view(over: Partial<SessionView>, configDoc: Record<string, unknown> = {}): SessionView {
  const config = validateConfig(
    { hostname: "mx.example.test", domains: ["example.test"], ...configDoc },
    "(test)",
    "/tmp",
  );
  return {
    options: { id: "t", config, peer: { address: "2001:db8::7", port: 4000 } } as SessionOptions,
    now: () => new Date(Date.UTC(2026, 10, 29, 12, 0, 0)),
    hello: { verb: "EHLO", name: "client(x).example.org" },
    tls: undefined,
    user: null,
    ...over,
  };
}

Deno.test("receivedHeader() names the client, its address literal and TLS (RFC 5321 §4.4)", () => {
  const v = view({ tls: { protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256" } });
  assert.equal(
    receivedHeader(v, "t.1", undefined, true),
    "Received: from client?x?.example.org ([IPv6:2001:db8::7])\r\n\tby mx.example.test (postie) " +
      "with UTF8ESMTPS id t.1\r\n\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256);" +
      "\r\n\tSun, 29 Nov 2026 12:00:00 +0000\r\n",
  );
});

Deno.test("receivedHeader() for an authenticated user keeps the client's address out", () => {
  const tls = { protocol: "TLSv1.3", cipher: "X" };
  const hidden = receivedHeader(view({ tls, user: "alice@example.test" }), "t.2", "b@x", false);
  assert.equal(
    hidden,
    "Received: by mx.example.test (postie) with ESMTPSA id t.2\r\n\tfor <b@x>;" +
      "\r\n\tSun, 29 Nov 2026 12:00:00 +0000\r\n",
  );
  const shown = receivedHeader(
    view({ tls, user: "alice@example.test" }, { submission: { reveal_client_ip: true } }),
    "t.3",
    undefined,
    false,
  );
  assert.match(shown, /^Received: from client\?x\?\.example\.org \(\[IPv6:2001:db8::7\]\)/);
});

Deno.test("authenticationHeaders() is empty when no SPF check was made", () => {
  assert.equal(
    authenticationHeaders(view({}), { from: null, smtputf8: false, rcpts: [] }, [], null),
    "",
  );
});
