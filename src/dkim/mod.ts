/**
 * DKIM: signing and verifying mail with DomainKeys Identified Mail signatures (RFC 6376),
 * with rsa-sha256 and ed25519-sha256 (RFC 8463) and the RFC 8301 rules (no rsa-sha1, RSA keys
 * of at least 1024 bits).
 *
 * A signer adds a DKIM-Signature header field: a hash of the canonicalized body (bh=) and a
 * signature over the canonicalized header fields it names (h=) and the DKIM-Signature field
 * itself, made with a private key whose public half is published in DNS as a TXT record at
 * `<selector>._domainkey.<domain>`. A verifier recomputes both hashes and checks the signature
 * with that key. A passing signature proves that the domain d= took responsibility for the
 * message; DMARC then checks that d= aligns with the From domain.
 *
 * - {@linkcode signMessage}: the DKIM-Signature field(s) to prepend (./sign.ts);
 * - {@linkcode verifyMessage}: one result per DKIM-Signature field (./verify.ts);
 * - {@linkcode loadOrCreateDomainKeys}, {@linkcode activeSigningKeys},
 *   {@linkcode keygenSelector}, {@linkcode rotateDomainKeys}: keys on disk (./keys.ts);
 * - ./canonicalize.ts: the canonicalization algorithms (RFC 6376 §3.4).
 *
 * @module
 */

export {
  type Canonicalization,
  canonicalizeBody,
  canonicalizeHeader,
  type HeaderField,
  limitBody,
  selectHeaders,
  splitMessage,
} from "./canonicalize.ts";
export {
  activeSigningKeys,
  type DkimAlgorithm,
  type DkimDomainKey,
  type DkimSigningKey,
  type GeneratedKey,
  generateKey,
  generateKeys,
  importSigningKey,
  type ImportSigningKeyOptions,
  keygenSelector,
  loadDomainKeys,
  loadOrCreateDomainKeys,
  rotateDomainKeys,
} from "./keys.ts";
export {
  DEFAULT_SIGNED_HEADERS,
  OVERSIGNED_HEADERS,
  signMessage,
  type SignOptions,
} from "./sign.ts";
export { parseTagList } from "./tag_list.ts";
export {
  type DkimResult,
  type DkimStatus,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_SIGNATURES,
  verifyMessage,
  type VerifyOptions,
} from "./verify.ts";
