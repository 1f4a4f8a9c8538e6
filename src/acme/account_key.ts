/**
 * The ACME account key (RFC 8555 §7.3): an ECDSA P-256 key pair made once and kept as a private
 * JWK (RFC 7517) in a JSON file of mode 0600. The CA knows the account by this key, so losing it
 * means a new account, and anyone who reads it can act as the account: it is written durably
 * (temporary file, fsync, rename, directory fsync) and never with looser permissions.
 *
 * @module
 */

import { dirname } from "node:path";
import { mkdirDurable, syncDir, writeDurably } from "../fs/durable.ts";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;

/** Import a private P-256 JWK as a key pair. @throws when it is not one. */
export async function importAccountKey(jwk: JsonWebKey): Promise<CryptoKeyPair> {
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string") {
    throw new TypeError("not a private ECDSA P-256 JWK");
  }
  const privateKey = await crypto.subtle.importKey("jwk", jwk, ALGORITHM, true, ["sign"]);
  const { kty, crv, x, y } = jwk;
  const publicKey = await crypto.subtle.importKey("jwk", { kty, crv, x, y }, ALGORITHM, true, [
    "verify",
  ]);
  return { privateKey, publicKey };
}

/**
 * The account key stored at `path`, created (with its missing directories) on first use.
 * @throws Error naming `path` when the file exists but holds no usable key (never replaced:
 *   that would silently change the account)
 */
export async function loadOrCreateAccountKey(path: string): Promise<CryptoKeyPair> {
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (text !== undefined) {
    try {
      return await importAccountKey(JSON.parse(text));
    } catch (e) {
      throw new Error(`${path}: not an ACME account key (${(e as Error).message})`);
    }
  }
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", keys.privateKey);
  const { kty, crv, x, y, d } = jwk;
  const dir = dirname(path);
  await mkdirDurable(dir);
  await writeDurably(path, JSON.stringify({ kty, crv, x, y, d }) + "\n", 0o600);
  await syncDir(dir);
  return keys;
}
