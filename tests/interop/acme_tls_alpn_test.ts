/**
 * tls-alpn-01 (RFC 8737 §3) against Debian's `openssl s_client`: postie's HttpService HTTPS
 * listener, with a challenge pending, answers an `acme-tls/1` TLS 1.3 handshake with its own
 * responder (src/acme/tls_alpn_responder.ts). The handshake completes, ALPN is acme-tls/1, and
 * the certificate shown has the critical acmeIdentifier extension with SHA-256 of the key
 * authorization. Also through a HelloRetryRequest (no x25519 share offered first) and over
 * secp256r1. Pebble's Go client validating the same is in acme_pebble_test.ts.
 *
 * @module
 */

import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { ChallengeStore } from "../../src/acme/challenges.ts";
import { ACME_IDENTIFIER_OID, tlsAlpnCertificate } from "../../src/acme/tls_alpn_certificate.ts";
import { HttpService } from "../../src/http/server.ts";
import { TlsContext } from "../../src/listen/tls_context.ts";
import { generateSelfSigned, secureContext } from "../../src/tls/certificate.ts";
import { run } from "./tools.ts";

const NAME = "mx.example.test";
const KEY_AUTHORIZATION = "token-123.thumbprint-456";

async function sClient(port: number, extra: string[]) {
  const r = await run("openssl", {
    args: [
      ...["s_client", "-connect", `127.0.0.1:${port}`, "-servername", NAME],
      ...["-showcerts", ...extra],
    ],
    stdin: "",
  });
  const pem = r.stdout.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/)?.[0];
  return { ...r, cert: pem ? new x509.X509Certificate(pem) : undefined };
}

Deno.test("openssl s_client gets the tls-alpn-01 certificate from postie's HTTPS listener over TLS 1.3", async () => {
  const challenges = new ChallengeStore();
  const material = await generateSelfSigned(NAME);
  const service = await HttpService.start({
    listen: { http: [], https: [{ host: "127.0.0.1", port: 0 }] },
    hostname: NAME,
    domains: ["example.test"],
    tls: new TlsContext(secureContext(material)),
    challenges,
    limits: { maxConnections: 10, maxConnectionsPerIp: 10, handshakeTimeoutMs: 5000 },
  });
  challenges.setTlsAlpn(NAME, await tlsAlpnCertificate(NAME, KEY_AUTHORIZATION));
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(KEY_AUTHORIZATION)),
  );
  const port = service.addresses[0]!.port;
  try {
    for (
      const groups of [[], ["-groups", "X448:X25519"], ["-groups", "P-256"]]
    ) {
      const what = groups.join(" ") || "default groups";
      const r = await sClient(port, ["-alpn", "acme-tls/1", "-tls1_3", ...groups]);
      const out = r.stdout + r.stderr;
      assert.match(out, /ALPN protocol: acme-tls\/1/, `${what}: ${out}`);
      assert.match(out, /New, TLSv1\.3, Cipher is TLS_AES_128_GCM_SHA256/, what);
      // openssl does not know acmeIdentifier, so it calls it an unhandled critical extension.
      assert.match(out, /unhandled critical extension/, what);
      assert.ok(r.cert, `${what}: no certificate shown`);
      const ext = r.cert.getExtension(ACME_IDENTIFIER_OID);
      assert.ok(ext, what);
      assert.equal(ext.critical, true, what);
      assert.deepEqual(new Uint8Array(ext.value), Uint8Array.from([0x04, 0x20, ...digest]), what);
      const san = r.cert.getExtension(x509.SubjectAlternativeNameExtension);
      assert.deepEqual(san?.names.toJSON(), [{ type: "dns", value: NAME }], what);
    }
    // The same listener, an ordinary hello: the normal certificate and http/1.1, from node:tls.
    const normal = await sClient(port, ["-alpn", "http/1.1"]);
    assert.match(normal.stdout, /ALPN protocol: http\/1\.1/);
    assert.equal(normal.cert?.getExtension(ACME_IDENTIFIER_OID), null);
    // TLS 1.2 with acme-tls/1: the responder has no TLS 1.2, a protocol_version alert.
    const old = await sClient(port, ["-alpn", "acme-tls/1", "-tls1_2"]);
    assert.match(old.stdout + old.stderr, /alert protocol version/);
    assert.equal(old.cert, undefined);
  } finally {
    await service.stop(1000);
  }
});
