import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { ariCertId } from "./ari_cert_id.ts";

const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

async function cert(serialNumber: string, extensions: x509.Extension[]): Promise<string> {
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber,
    name: "CN=leaf",
    keys,
    signingAlgorithm: alg,
    extensions,
  });
  return c.toString("pem");
}

Deno.test("ariCertId() gives RFC 9773 §4.1's example identifier, the serial's leading zero kept", async () => {
  // RFC 9773 §4.1: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4,
  // serial 00:87:65:43:21.
  const pem = await cert("0087654321", [
    new x509.AuthorityKeyIdentifierExtension("69885b6b87464041e1b37b847ba0ae2cde01c8d4"),
  ]);
  assert.equal(ariCertId(pem), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
});

Deno.test("ariCertId() is undefined without an Authority Key Identifier and throws for junk", async () => {
  assert.equal(ariCertId(await cert("01", [])), undefined);
  assert.throws(() => ariCertId("not a certificate"));
});
