/**
 * The certificate identifier of ACME Renewal Information (RFC 9773 §4.1):
 * `base64url(keyIdentifier of the Authority Key Identifier) "." base64url(serial number)`,
 * where the serial is the content of its DER INTEGER, a leading zero byte included.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";
import { b64url } from "./jws.ts";

/** Read the DER TLV at `off`: its tag, where its content starts and where it ends. */
function tlv(der: Uint8Array, off: number): { tag: number; start: number; end: number } {
  const tag = der[off];
  let len = der[off + 1];
  if (tag === undefined || len === undefined) throw new TypeError("truncated DER");
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new TypeError("unsupported DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] ?? 0);
    start += n;
  }
  const end = start + len;
  if (end > der.length) throw new TypeError("truncated DER");
  return { tag, start, end };
}

/**
 * The serial number's DER content octets (RFC 5280 §4.1: Certificate → tbsCertificate →
 * optional `[0] version` → serialNumber INTEGER).
 */
export function serialNumberBytes(certDer: Uint8Array): Uint8Array {
  const cert = tlv(certDer, 0);
  const tbs = tlv(certDer, cert.start);
  let field = tlv(certDer, tbs.start);
  if (field.tag === 0xa0) field = tlv(certDer, field.end);
  if (field.tag !== 0x02) throw new TypeError("no serial number in the certificate");
  return certDer.subarray(field.start, field.end);
}

/**
 * The ARI certificate identifier of a certificate (the first one of a PEM chain).
 * @returns undefined when it has no Authority Key Identifier keyIdentifier (no ARI then)
 * @throws TypeError when it is not a certificate
 */
export function ariCertId(certPem: string): string | undefined {
  const cert = new x509.X509Certificate(certPem);
  const keyId = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  if (!keyId) return undefined;
  const serial = serialNumberBytes(new Uint8Array(cert.rawData));
  return `${b64url(Uint8Array.fromHex(keyId))}.${b64url(serial)}`;
}
