/**
 * Test helpers: a throwaway CA that signs certificates for given names and keys, as an ACME CA
 * would, so that the certificate manager can be tested without one.
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A CA: its certificate, and a function that issues leaf chains (leaf + CA, PEM). */
export interface TestCa {
  certPem: string;
  issue(
    names: string[],
    publicKey: CryptoKey,
    validity?: { notBefore?: Date; notAfter?: Date },
  ): Promise<string>;
}

function serial(): string {
  return "01" + [...crypto.getRandomValues(new Uint8Array(8))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A new CA named `name`. */
export async function testCa(name = "postie test CA"): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 86400_000),
    notAfter: new Date(Date.now() + 3650 * 86400_000),
    signingAlgorithm: ALG,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const certPem = ca.toString("pem") + "\n";
  return {
    certPem,
    async issue(names, publicKey, validity = {}) {
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${names[0]}`,
        issuer: ca.subject,
        notBefore: validity.notBefore ?? new Date(Date.now() - 3600_000),
        notAfter: validity.notAfter ?? new Date(Date.now() + 90 * 86400_000),
        signingAlgorithm: ALG,
        publicKey,
        signingKey: keys.privateKey,
        extensions: [
          new x509.SubjectAlternativeNameExtension(
            names.map((n) => ({ type: "dns" as const, value: n })),
          ),
          new x509.BasicConstraintsExtension(false),
        ],
      });
      return leaf.toString("pem") + "\n" + certPem;
    },
  };
}
