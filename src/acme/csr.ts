/**
 * The certificate signing request sent to finalize an ACME order (RFC 8555 §7.4): PKCS#10
 * (RFC 2986) signed with the certificate's ECDSA P-256 key, every name of the order in
 * subjectAltName as a dNSName, the first one also as the subject's CN.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";

/**
 * The DER bytes of a CSR for `names` and `keys` (ECDSA P-256).
 * @throws TypeError for no names
 */
export async function createCsr(
  names: readonly string[],
  keys: CryptoKeyPair,
): Promise<Uint8Array<ArrayBuffer>> {
  const first = names[0];
  if (first === undefined) throw new TypeError("a CSR needs at least one name");
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // A JSON name, not a DN string: a name can never inject further attributes.
    name: [{ CN: [first] }],
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.SubjectAlternativeNameExtension(
        names.map((value) => ({ type: "dns" as const, value })),
      ),
    ],
  });
  return new Uint8Array(csr.rawData);
}
