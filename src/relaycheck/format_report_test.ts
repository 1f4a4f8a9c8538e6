import assert from "node:assert/strict";
import { formatReport } from "./format_report.ts";
import type { RelayCheckReport } from "./relay_check.ts";

function report(
  probes: RelayCheckReport["probes"],
  counts: Pick<RelayCheckReport, "accepted" | "errors" | "ok">,
): RelayCheckReport {
  return {
    probes,
    ...counts,
    reconnects: 2,
    tls: "used",
    server: {
      host: "mx.our.example",
      port: 25,
      banner: "220 mx.our.example ESMTP",
      domain: "our.example",
      literal: "[192.0.2.25]",
    },
    notes: ["a remark"],
  };
}

Deno.test("formatReport: header, one line per probe, notes, PASS summary", () => {
  const text = formatReport(report([
    {
      id: "F1xR1",
      mailFrom: "<>",
      rcptTo: "<v@x.example>",
      reply: "554 5.7.1 Relay access denied",
      verdict: "refused",
      step: "RCPT",
    },
    {
      id: "H1xR1",
      helo: "EHLO our.example",
      mailFrom: "<antispam@our.example>",
      rcptTo: "<v@x.example>",
      reply: "451 4.7.1 later",
      verdict: "refused",
      step: "RCPT",
      note: "4xx: temporary, a server should say 5xx",
    },
    {
      id: "F4xR1",
      mailFrom: "<antispam@[192.0.2.25]>",
      rcptTo: " v@x.example",
      reply: "550 5.7.1 no literals",
      verdict: "refused",
      step: "MAIL",
    },
  ], { accepted: 0, errors: 0, ok: true }));
  assert.deepEqual(
    text.split("\n"),
    [
      "relay-check mx.our.example:25  banner: 220 mx.our.example ESMTP",
      "  domain L=our.example  literal IP=[192.0.2.25]  TLS: used",
      "refused  F1xR1     MAIL FROM:<> RCPT TO:<v@x.example>  -> 554 5.7.1 Relay access denied",
      "refused  H1xR1     EHLO our.example MAIL FROM:<antispam@our.example> RCPT TO:<v@x.example>" +
      "  -> 451 4.7.1 later  (4xx: temporary, a server should say 5xx)",
      'refused  F4xR1     MAIL FROM:<antispam@[192.0.2.25]> RCPT TO:" v@x.example"' +
      "  -> MAIL: 550 5.7.1 no literals",
      "note: a remark",
      "PASS: 3 probes, 3 refused (1 only with 4xx), 0 ACCEPTED, 0 errors; 2 reconnects. " +
      "No relay attempt was accepted.",
      "",
    ],
  );
});

Deno.test("formatReport: an accepted probe is an OPEN RELAY, a connect error has no commands", () => {
  const open = formatReport(report([{
    id: "F1xR1",
    mailFrom: "<>",
    rcptTo: "<v@x.example>",
    reply: "250 2.1.5 Ok",
    verdict: "ACCEPTED",
    step: "RCPT",
  }], { accepted: 1, errors: 0, ok: false }));
  assert.match(open, /^FAIL: 1 probes, 0 refused, 1 ACCEPTED, 0 errors; .* OPEN RELAY\.$/m);
  const r = report([{
    id: "connect",
    mailFrom: "",
    rcptTo: "",
    reply: "cannot connect",
    verdict: "error",
    step: "connect",
  }], { accepted: 0, errors: 1, ok: false });
  r.server.banner = "";
  r.server.domain = "";
  const down = formatReport(r);
  assert.match(down, /banner: \(none\)/);
  assert.match(down, /domain L=\?/);
  assert.match(down, /^error {4}connect {3} {2}-> cannot connect$/m);
  assert.match(down, /The check is incomplete; see the errors above\.$/m);
});
