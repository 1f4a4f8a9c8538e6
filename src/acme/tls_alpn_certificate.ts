/**
 * The tls-alpn-01 challenge certificate (RFC 8737 §3): self-signed, for one name, whose
 * subjectAltName holds that dNSName and no other identifier, with the critical extension
 * id-pe-acmeIdentifier carrying the SHA-256 digest of the key authorization. The validation
 * server gets it in a TLS handshake that negotiates ALPN `acme-tls/1` with the name in SNI.
 *
 * Beware: Deno's TLS is rustls, whose certificate parser (webpki) refuses any certificate with an
 * unknown critical extension (`UnsupportedCriticalExtension`), and the acmeIdentifier extension
 * must be critical (RFC 8737 §3; pebble and Boulder check it). So no node:tls SecureContext is
 * made of it: postie's own TLS 1.3 responder (tls_alpn_responder.ts) serves the DER certificate
 * and signs with the CryptoKey.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";
import type { TlsAlpnChallenge } from "./tls_alpn_responder.ts";

/** id-pe-acmeIdentifier (RFC 8737 §6.1). */
export const ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31";

/** The challenge certificate and its key: PEM, and as the responder uses them. */
export interface TlsAlpnCertificate extends TlsAlpnChallenge {
  certPem: string;
  keyPem: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = new Uint8Array(der).toBase64().replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/**
 * The acmeIdentifier extension value: `Authorization ::= OCTET STRING (SIZE (32))` holding
 * SHA-256 of the key authorization, DER-encoded (RFC 8737 §3).
 */
export async function acmeIdentifierValue(
  keyAuthorization: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(keyAuthorization),
  );
  const out = new Uint8Array(34);
  out[0] = 0x04; // OCTET STRING
  out[1] = 32;
  out.set(new Uint8Array(digest), 2);
  return out;
}

/**
 * Make the challenge certificate for `name` and `keyAuthorization` (a fresh P-256 key, valid
 * from an hour ago for a week: the CA looks at it only during the validation).
 */
export async function tlsAlpnCertificate(
  name: string,
  keyAuthorization: string,
): Promise<TlsAlpnCertificate> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01" + new Uint8Array(crypto.getRandomValues(new Uint8Array(8))).toHex(),
    name: [{ CN: [name] }],
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 7 * 86400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }]),
      new x509.Extension(ACME_IDENTIFIER_OID, true, await acmeIdentifierValue(keyAuthorization)),
    ],
  });
  const certPem = cert.toString("pem") + "\n";
  const keyPem = pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem, keyPem, certDer: new Uint8Array(cert.rawData), privateKey: keys.privateKey };
}
