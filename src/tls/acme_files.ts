/**
 * The files of the ACME certificate in `<data_dir>/acme/`, as the certificate manager writes
 * them and `postie dns`, `postie check` and `postie quickstart` read them:
 *
 * - `cert.pem`: the full chain the CA issued (RFC 8555 §7.4.2, `application/pem-certificate-chain`);
 * - `cert-key.pem`: its private key, PKCS#8 PEM, mode 0600, kept across renewals (unless
 *   `acme.rotate_key`) so that a published `TLSA 3 1 1` record stays valid (RFC 7671 §8.1);
 * - `account.json` (0600): at least `{ "directory": string, "url": string }`, the account URL
 *   being what a CAA `accounturi` names (RFC 8657 §3);
 * - `state.json`: `{ names, failures, lastError?, lastSuccess?, nextAttempt? }`.
 *
 * The certificate key can be made before the first order ({@linkcode ensureCertificateKey}), so
 * that the TLSA record can be published before the first certificate exists.
 *
 * @module
 */

import { join } from "node:path";
import { generateKeyPair } from "node:crypto";
import { mkdirDurable, syncDir } from "../fs/durable.ts";
import { pathExists } from "../fs/path_exists.ts";
import { writeNewFile } from "../fs/write_new_file.ts";

/** The paths of the ACME files under a data directory. */
export interface AcmeFiles {
  dir: string;
  cert: string;
  key: string;
  account: string;
  state: string;
}

/**
 * The paths of the ACME files of `dataDir`.
 *
 * @example
 * ```ts
 * acmeFiles("/var/lib/postie").key; // "/var/lib/postie/acme/cert-key.pem"
 * ```
 */
export function acmeFiles(dataDir: string): AcmeFiles {
  const dir = join(dataDir, "acme");
  return {
    dir,
    cert: join(dir, "cert.pem"),
    key: join(dir, "cert-key.pem"),
    account: join(dir, "account.json"),
    state: join(dir, "state.json"),
  };
}

/** What `account.json` holds that others read. */
export interface AcmeAccountFile {
  /** The directory URL the account belongs to. */
  directory: string;
  /** The account URL (the `Location` of newAccount, RFC 8555 §7.3). */
  url: string;
}

/** The last failure of the certificate manager. */
export interface AcmeLastError {
  /** ISO 8601 time. */
  at: string;
  /** The problem type (RFC 8555 §6.7, e.g. "urn:ietf:params:acme:error:rateLimited"). */
  type: string;
  detail: string;
  /** The HTTP status of the reply, when there was one. */
  status?: number;
}

/** What `state.json` holds. */
export interface AcmeStateFile {
  /** The names of the certificate being ordered or held. */
  names: string[];
  /** Failures in a row since the last success. */
  failures: number;
  lastError?: AcmeLastError;
  /** ISO 8601 times. */
  lastSuccess?: string;
  nextAttempt?: string;
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`"${path}" is not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new TypeError(`"${path}" must hold a JSON object`);
  }
  return doc as Record<string, unknown>;
}

function isString(v: unknown): v is string {
  return typeof v === "string";
}

/**
 * Read `account.json`.
 *
 * @returns undefined when there is no account yet.
 * @throws {TypeError} when the file lacks `directory` or `url`.
 * @throws {SyntaxError} when it is not JSON.
 */
export async function readAcmeAccount(dataDir: string): Promise<AcmeAccountFile | undefined> {
  const path = acmeFiles(dataDir).account;
  const doc = await readJson(path);
  if (doc === undefined) return undefined;
  const { directory, url } = doc;
  if (!isString(directory) || !isString(url)) {
    throw new TypeError(`"${path}" must have the strings "directory" and "url"`);
  }
  return { directory, url };
}

/**
 * Read `state.json`; fields of the wrong type are left out.
 *
 * @returns undefined when the certificate manager has not written it yet.
 * @throws {SyntaxError} when it is not JSON.
 */
export async function readAcmeState(dataDir: string): Promise<AcmeStateFile | undefined> {
  const doc = await readJson(acmeFiles(dataDir).state);
  if (doc === undefined) return undefined;
  const state: AcmeStateFile = {
    names: Array.isArray(doc.names) ? doc.names.filter(isString) : [],
    failures: typeof doc.failures === "number" ? doc.failures : 0,
  };
  const e = doc.lastError as Record<string, unknown> | undefined;
  if (typeof e === "object" && e !== null && isString(e.at)) {
    state.lastError = {
      at: e.at,
      type: isString(e.type) ? e.type : "unknown",
      detail: isString(e.detail) ? e.detail : "",
      ...(typeof e.status === "number" ? { status: e.status } : {}),
    };
  }
  if (isString(doc.lastSuccess)) state.lastSuccess = doc.lastSuccess;
  if (isString(doc.nextAttempt)) state.nextAttempt = doc.nextAttempt;
  return state;
}

function generateP256Pkcs8Pem(): Promise<string> {
  return new Promise((resolve, reject) =>
    generateKeyPair("ec", {
      namedCurve: "P-256",
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    }, (err, _pub, key) => err ? reject(err) : resolve(key))
  );
}

/**
 * Create the certificate key `<data_dir>/acme/cert-key.pem` (ECDSA P-256, PKCS#8 PEM, mode
 * 0600) unless it exists; an existing key is never replaced.
 *
 * @returns its path, and whether it was created now.
 */
export async function ensureCertificateKey(
  dataDir: string,
): Promise<{ path: string; created: boolean }> {
  const files = acmeFiles(dataDir);
  await mkdirDurable(files.dir);
  if (await pathExists(files.key)) return { path: files.key, created: false };
  const keyPem = await generateP256Pkcs8Pem();
  const tmp = `${files.key}.${crypto.randomUUID()}.tmp`;
  await writeNewFile(tmp, keyPem, 0o600);
  try {
    // A link fails when the name exists: a key made meanwhile by the server is kept.
    await Deno.link(tmp, files.key);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    return { path: files.key, created: false };
  } finally {
    await Deno.remove(tmp);
  }
  await syncDir(files.dir);
  return { path: files.key, created: true };
}
