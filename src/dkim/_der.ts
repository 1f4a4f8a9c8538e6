/**
 * Just enough DER (ITU-T X.690) for DKIM keys: reading RSA public keys published either as a
 * SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) or as a bare PKCS#1 RSAPublicKey (RFC 8017 §A.1.1),
 * and wrapping PKCS#1 keys into the forms WebCrypto imports. Private to src/dkim.
 *
 * @module
 */

import { concat } from "../util/bytes.ts";

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const NULL = 0x05;
const OID = 0x06;

/** rsaEncryption, 1.2.840.113549.1.1.1 (RFC 8017 §A.1), with a NULL parameter. */
const RSA_ALGORITHM = new Uint8Array([
  0x30,
  0x0d,
  0x06,
  0x09,
  0x2a,
  0x86,
  0x48,
  0x86,
  0xf7,
  0x0d,
  0x01,
  0x01,
  0x01,
  0x05,
  0x00,
]);
/** The PKCS#8 prefix of an Ed25519 private key (RFC 8410 §7), followed by the 32-byte seed. */
export const ED25519_PKCS8_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);

interface Tlv {
  tag: number;
  /** Start of the contents. */
  start: number;
  /** End of the contents (exclusive), which is where the next element starts. */
  end: number;
}

/** Reads one element at `at`; `null` if it is malformed or runs past `limit`. */
function readTlv(der: Uint8Array, at: number, limit: number): Tlv | null {
  if (at + 2 > limit) return null;
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  const end = start + len;
  return end > limit ? null : { tag, start, end };
}

/** Encodes a DER element. */
function encodeTlv(tag: number, contents: Uint8Array): Uint8Array {
  const n = contents.length;
  let head: number[];
  if (n < 0x80) head = [tag, n];
  else if (n < 0x100) head = [tag, 0x81, n];
  else if (n < 0x10000) head = [tag, 0x82, n >> 8, n & 0xff];
  else head = [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return concat([new Uint8Array(head), contents]);
}

/** An RSA public key ready for WebCrypto. */
export interface RsaPublicKeyInfo {
  /** The key as a SubjectPublicKeyInfo. */
  spki: Uint8Array;
  /** The size of the modulus in bits. */
  bits: number;
}

/** Parses RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, exactly. */
function parsePkcs1(der: Uint8Array, at: number, limit: number): number | null {
  const seq = readTlv(der, at, limit);
  if (!seq || seq.tag !== SEQUENCE || seq.end !== limit) return null;
  const n = readTlv(der, seq.start, seq.end);
  if (!n || n.tag !== INTEGER || n.end === n.start) return null;
  const e = readTlv(der, n.end, seq.end);
  if (!e || e.tag !== INTEGER || e.end !== seq.end || e.end === e.start) return null;
  let first = n.start;
  while (first < n.end && der[first] === 0) first++;
  if (first === n.end) return null;
  const top = der[first]!;
  return (n.end - first - 1) * 8 + (32 - Math.clz32(top));
}

/**
 * Reads an RSA public key given as SubjectPublicKeyInfo or as bare PKCS#1 RSAPublicKey (the
 * latter is what RFC 6376 §3.6.1 literally names for k=rsa; the former is what the example in
 * RFC 6376 §C and nearly every published record use). Every length must match exactly.
 *
 * @param der The decoded p= value.
 * @returns The key as SubjectPublicKeyInfo with its size, or `null` if it is not an RSA key.
 */
export function readRsaPublicKey(der: Uint8Array): RsaPublicKeyInfo | null {
  const outer = readTlv(der, 0, der.length);
  if (!outer || outer.tag !== SEQUENCE || outer.end !== der.length) return null;
  const first = readTlv(der, outer.start, outer.end);
  if (!first) return null;
  if (first.tag === INTEGER) {
    const bits = parsePkcs1(der, 0, der.length);
    if (bits === null) return null;
    const bitString = encodeTlv(BIT_STRING, concat([new Uint8Array([0]), der]));
    return { spki: encodeTlv(SEQUENCE, concat([RSA_ALGORITHM, bitString])), bits };
  }
  if (first.tag !== SEQUENCE) return null;
  const oid = readTlv(der, first.start, first.end);
  if (!oid || oid.tag !== OID) return null;
  // The parameters must be NULL or absent.
  const params = oid.end < first.end ? readTlv(der, oid.end, first.end) : null;
  if (params && (params.tag !== NULL || params.end !== first.end)) return null;
  if (!sameBytes(der.subarray(oid.start, oid.end), RSA_ALGORITHM.subarray(4, 13))) return null;
  const bitString = readTlv(der, first.end, outer.end);
  if (!bitString || bitString.tag !== BIT_STRING || bitString.end !== outer.end) return null;
  if (der[bitString.start] !== 0) return null;
  const bits = parsePkcs1(der, bitString.start + 1, bitString.end);
  if (bits === null) return null;
  return { spki: der, bits };
}

/**
 * Wraps a PKCS#1 RSAPrivateKey (RFC 8017 §A.1.2, "BEGIN RSA PRIVATE KEY") into a PKCS#8
 * PrivateKeyInfo (RFC 5208 §5), the only private key form WebCrypto imports.
 */
export function pkcs1PrivateToPkcs8(pkcs1: Uint8Array): Uint8Array {
  const version = new Uint8Array([INTEGER, 1, 0]);
  return encodeTlv(
    SEQUENCE,
    concat([version, RSA_ALGORITHM, encodeTlv(OCTET_STRING, pkcs1)]),
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
