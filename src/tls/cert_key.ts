/**
 * The private key of the server certificate an ACME CA issues: ECDSA P-256, stored as PKCS#8
 * PEM (mode 0600) in `<data_dir>/acme/cert-key.pem`. It is kept across renewals, so a
 * `TLSA 3 1 1` record (RFC 7671 §5.1: SPKI, SHA-256) published for it stays valid; a new one is
 * made only when there is none or `acme.rotate_key` asks for it.
 *
 * @module
 */

import { dirname } from "node:path";
import { mkdirDurable, syncDir, writeDurably } from "../fs/durable.ts";
import { pathExists } from "../fs/path_exists.ts";
import { createFileOnce } from "../fs/write_new_file.ts";
import { acmePaths } from "../acme/acme_state.ts";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;

function toPem(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n` +
    `-----END ${label}-----\n`;
}

function fromPem(text: string): Uint8Array<ArrayBuffer> {
  const m = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(text);
  if (!m) throw new TypeError("not a PKCS#8 PEM private key");
  return Uint8Array.from(atob(m[1]!.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}

/** A P-256 key pair with its PKCS#8 PEM. */
export interface CertKey {
  pair: CryptoKeyPair;
  pem: string;
}

/** Import a PKCS#8 PEM P-256 private key with its public half. @throws when it is not one. */
export async function importCertKey(pem: string): Promise<CertKey> {
  const privateKey = await crypto.subtle.importKey("pkcs8", fromPem(pem), ALGORITHM, true, [
    "sign",
  ]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", privateKey);
  const publicKey = await crypto.subtle.importKey("jwk", { kty, crv, x, y }, ALGORITHM, true, [
    "verify",
  ]);
  return { pair: { privateKey, publicKey }, pem };
}

/** A new P-256 key pair (not stored). */
export async function generateCertKey(): Promise<CertKey> {
  const pair = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  return {
    pair,
    pem: toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
  };
}

/** Store `key` at `path` (0600) durably. */
export async function storeCertKey(path: string, key: CertKey): Promise<void> {
  await mkdirDurable(dirname(path));
  await writeDurably(path, key.pem, 0o600);
  await syncDir(dirname(path));
}

/**
 * Create the certificate key `<data_dir>/acme/cert-key.pem` unless it exists (`postie
 * quickstart` does, so that the TLSA record can be published before the first certificate);
 * an existing key is never replaced, also not one the server makes at the same moment.
 *
 * @returns its path, and whether it was created now.
 */
export async function ensureCertificateKey(
  dataDir: string,
): Promise<{ path: string; created: boolean }> {
  const { dir, certKey } = acmePaths(dataDir);
  await mkdirDurable(dir);
  if (await pathExists(certKey)) return { path: certKey, created: false };
  // A key made meanwhile (by the server, or another quickstart) is kept.
  const created = await createFileOnce(certKey, (await generateCertKey()).pem, 0o600);
  return { path: certKey, created };
}
