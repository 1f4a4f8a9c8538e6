import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { ACME_IDENTIFIER_OID, tlsAlpnCertificate } from "./tls_alpn_certificate.ts";

Deno.test("tlsAlpnCertificate() is self-signed for the name only, with a critical acmeIdentifier of SHA-256(key authorization)", async () => {
  const keyAuth =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
  const made = await tlsAlpnCertificate("mx.example.test", keyAuth);
  const cert = new x509.X509Certificate(made.certPem);
  assert.ok(await cert.isSelfSigned());
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.deepEqual(san?.names.toJSON(), [{ type: "dns", value: "mx.example.test" }]);
  const ext = cert.getExtension(ACME_IDENTIFIER_OID);
  assert.ok(ext);
  assert.equal(ext.critical, true);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(keyAuth)),
  );
  // DER: OCTET STRING (0x04), length 32, the digest.
  assert.deepEqual(new Uint8Array(ext.value), new Uint8Array([0x04, 0x20, ...digest]));
  assert.match(made.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.deepEqual(made.certDer, new Uint8Array(cert.rawData));
  assert.deepEqual(made.privateKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });
  assert.deepEqual(made.privateKey.usages, ["sign"]);
});
