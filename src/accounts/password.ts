/**
 * Password hashing with scrypt (RFC 7914), a memory-hard function built into node:crypto, so no
 * native add-on is needed in the single binary.
 *
 * Stored form: `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt b64>$<hash b64>`, so parameters can be
 * raised later while old hashes keep verifying.
 *
 * @module
 */

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt cost: N = 2^15, r = 8 (32 MiB per hash), p = 1: about 0.1 s on a small VPS. */
const LOG_N = 15;
const R = 8;
const P = 1;
const KEY_LEN = 32;

function scryptAsync(
  password: string,
  salt: Uint8Array,
  logN: number,
  r: number,
  p: number,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const N = 2 ** logN;
    scrypt(password, salt, KEY_LEN, { N, r, p, maxmem: 256 * N * r }, (err, key) => {
      if (err) reject(err);
      else resolve(new Uint8Array(key));
    });
  });
}

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
}

function unb64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** Hash a password for storage. */
export async function hashPassword(password: string): Promise<string> {
  const salt = new Uint8Array(randomBytes(16));
  const key = await scryptAsync(password, salt, LOG_N, R, P);
  return `$scrypt$ln=${LOG_N},r=${R},p=${P}$${b64(salt)}$${b64(key)}`;
}

/**
 * Check a password against a stored hash in constant time (relative to the hash length).
 * Returns false for a malformed stored hash.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(
    stored,
  );
  if (!m) return false;
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (logN < 10 || logN > 22 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const expected = unb64(m[5]!);
  const actual = await scryptAsync(password, unb64(m[4]!), logN, r, p);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A random password for generated accounts: 20 characters from an unambiguous alphabet. */
export function randomPassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = randomBytes(20);
  let out = "";
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}
