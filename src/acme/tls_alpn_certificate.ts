/**
 * The tls-alpn-01 challenge certificate (RFC 8737 §3): self-signed, for one name, whose
 * subjectAltName holds that dNSName and no other identifier, with the critical extension
 * id-pe-acmeIdentifier carrying the SHA-256 digest of the key authorization. The validation
 * server gets it in a TLS handshake that negotiates ALPN `acme-tls/1` with the name in SNI.
 *
 * Beware: Deno's TLS is rustls, whose certificate parser (webpki) refuses any certificate with an
 * unknown critical extension (`UnsupportedCriticalExtension`), and the acmeIdentifier extension
 * must be critical (RFC 8737 §3; pebble and Boulder check it). So `new tls.TLSSocket(...)` with
 * this SecureContext fails in Deno 2.9 ("unsupported protocol"), as does `Deno.listenTls`; a
 * server has to hand the handshake to a TLS stack that accepts it. Deno's SecureContext keeps the
 * PEMs it was made from (`cert`, `key`), which is how the interop test gives them to
 * `openssl s_server`.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";
import tls from "node:tls";

/** id-pe-acmeIdentifier (RFC 8737 §6.1). */
export const ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31";

/** The challenge certificate and its key, PEM, and a TLS context serving them. */
export interface TlsAlpnCertificate {
  certPem: string;
  keyPem: string;
  secureContext: tls.SecureContext;
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
  const secureContext = tls.createSecureContext({
    cert: certPem,
    key: keyPem,
    minVersion: "TLSv1.2",
  });
  return { certPem, keyPem, secureContext };
}
