import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { createCsr } from "./csr.ts";

Deno.test("createCsr() puts every name in subjectAltName, the first as CN, and signs with the key", async () => {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const der = await createCsr(["mx.example.test", "autoconfig.example.test"], keys);
  const csr = new x509.Pkcs10CertificateRequest(der);
  assert.equal(csr.subject, "CN=mx.example.test");
  const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension) as
    | x509.SubjectAlternativeNameExtension
    | undefined;
  assert.deepEqual(san?.names.toJSON(), [
    { type: "dns", value: "mx.example.test" },
    { type: "dns", value: "autoconfig.example.test" },
  ]);
  assert.ok(await csr.verify());
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  assert.deepEqual(new Uint8Array(csr.publicKey.rawData), spki);
  await assert.rejects(() => createCsr([], keys), TypeError);
});
