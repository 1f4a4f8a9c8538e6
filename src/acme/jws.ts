/**
 * The JSON Web Signatures an ACME client sends (RFC 8555 §6.2): every POST body is a flattened
 * JWS (RFC 7515 §7.2.2) signed with the account key, ES256 (ECDSA P-256 with SHA-256,
 * RFC 7518 §3.4), whose protected header carries `alg`, `nonce`, `url` and either `jwk` (only
 * newAccount, and revocation by certificate key) or `kid` (the account URL). Also here: the
 * public JWK and its RFC 7638 thumbprint, the key authorization of a challenge (RFC 8555 §8.1),
 * and the External Account Binding inner JWS (RFC 8555 §7.3.4).
 *
 * @module
 */

/** A flattened JWS in JSON serialization (RFC 7515 §7.2.2). */
export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** The public members of a P-256 JWK (RFC 7518 §6.2.1). */
export interface EcPublicJwk {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
}

/** The protected header fields the caller chooses (RFC 8555 §6.2): `kid` or `jwk`. */
export type JwsKeyId = { kid: string } | { jwk: EcPublicJwk };

const encoder = new TextEncoder();

/** base64url without padding (RFC 7515 §2, RFC 4648 §5) of bytes or of a string's UTF-8. */
export function b64url(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Decode base64url (with or without padding). @throws SyntaxError on other characters. */
export function b64urlDecode(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.fromBase64(text, { alphabet: "base64url" });
}

/** The public JWK of a P-256 key (public or private; only public members are returned). */
export async function publicJwk(key: CryptoKey): Promise<EcPublicJwk> {
  const algorithm = key.algorithm as EcKeyAlgorithm;
  if (algorithm.name !== "ECDSA" || algorithm.namedCurve !== "P-256") {
    throw new TypeError(`ACME account keys are ECDSA P-256, not ${algorithm.name}`);
  }
  const jwk = await crypto.subtle.exportKey("jwk", key);
  if (typeof jwk.x !== "string" || typeof jwk.y !== "string") {
    throw new TypeError("the key has no public coordinates");
  }
  return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
}

/** The members that make up the thumbprint input, by key type (RFC 7638 §3.2, RFC 8037 §2). */
const REQUIRED_MEMBERS: Record<string, readonly string[]> = {
  EC: ["crv", "kty", "x", "y"],
  RSA: ["e", "kty", "n"],
  oct: ["k", "kty"],
  OKP: ["crv", "kty", "x"],
};

/**
 * The RFC 7638 thumbprint of a JWK: SHA-256 over the JSON object of only the required members,
 * in lexicographic order, without white space (§3), base64url-encoded.
 * @throws TypeError for an unknown key type or a missing member.
 */
export async function jwkThumbprint(jwk: JsonWebKey): Promise<string> {
  const members = REQUIRED_MEMBERS[jwk.kty ?? ""];
  if (!members) throw new TypeError(`no thumbprint for key type ${jwk.kty}`);
  const fields = jwk as Record<string, unknown>;
  const parts = members.map((m) => {
    const v = fields[m];
    if (typeof v !== "string") throw new TypeError(`JWK member ${m} is missing`);
    return `${JSON.stringify(m)}:${JSON.stringify(v)}`;
  });
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`{${parts.join(",")}}`));
  return b64url(new Uint8Array(digest));
}

/** The key authorization of a challenge token: `token "." thumbprint` (RFC 8555 §8.1). */
export function keyAuthorization(token: string, thumbprint: string): string {
  return `${token}.${thumbprint}`;
}

/**
 * Sign an ACME request body with ES256.
 * @param privateKey the account's P-256 private key
 * @param header `kid` or `jwk`, plus the `nonce` and the request `url` (RFC 8555 §6.4)
 * @param payload the JSON payload, or `undefined` for POST-as-GET (RFC 8555 §6.3: empty payload)
 */
export async function signJws(
  privateKey: CryptoKey,
  header: JwsKeyId & { nonce: string; url: string },
  payload: unknown,
): Promise<FlattenedJws> {
  const protectedB64 = b64url(JSON.stringify({ alg: "ES256", ...header }));
  const payloadB64 = payload === undefined ? "" : b64url(JSON.stringify(payload));
  // WebCrypto's ECDSA signature is r || s, 32 bytes each: the JWS form (RFC 7518 §3.4).
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    privateKey,
    encoder.encode(`${protectedB64}.${payloadB64}`),
  );
  return {
    protected: protectedB64,
    payload: payloadB64,
    signature: b64url(new Uint8Array(signature)),
  };
}

/** The CA-issued credentials of an External Account Binding (RFC 8555 §7.3.4). */
export interface ExternalAccountKey {
  /** The key identifier the CA gave. */
  kid: string;
  /** The MAC key the CA gave, base64url-encoded. */
  hmacKey: string;
}

/**
 * The `externalAccountBinding` member of a newAccount request (RFC 8555 §7.3.4): a JWS, HS256
 * with the CA's MAC key, whose payload is the account's public JWK and whose protected header
 * has `kid` = the EAB key id and `url` = the newAccount URL (and no nonce).
 * @throws SyntaxError when `hmacKey` is not base64url
 */
export async function externalAccountBinding(
  eab: ExternalAccountKey,
  accountJwk: EcPublicJwk,
  newAccountUrl: string,
): Promise<FlattenedJws> {
  const raw = b64urlDecode(eab.hmacKey.trim());
  if (raw.length === 0) throw new SyntaxError("the EAB HMAC key is empty");
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const protectedB64 = b64url(JSON.stringify({ alg: "HS256", kid: eab.kid, url: newAccountUrl }));
  const payloadB64 = b64url(JSON.stringify(accountJwk));
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    encoder.encode(`${protectedB64}.${payloadB64}`),
  );
  return { protected: protectedB64, payload: payloadB64, signature: b64url(new Uint8Array(mac)) };
}
