/**
 * What postie remembers about its ACME certificate between runs, in `<data_dir>/acme/`:
 *
 * - `cert.pem`: the full chain from the CA; `cert-key.pem`: its private key (PKCS#8, 0600),
 *   kept across renewals unless `acme.rotate_key` (a TLSA 3 1 1 record stays valid);
 * - `account-key.json`: the ACME account key (private JWK, 0600), made once;
 *   `account.json`: the account URL and the directory it belongs to (for CAA `accounturi`);
 * - `state.json`: the names of the last order, the failures since the last success, the last
 *   CA problem (for the log, `postie check` and the postmaster's notice), and when to try next;
 * - `renew-request`: written by `postie cert renew`, taken by the running server.
 *
 * @module
 */

import { join } from "node:path";
import { mkdirDurable, syncDir, writeDurably } from "../fs/durable.ts";

/** The last problem an order ran into (RFC 8555 §6.7 problem document, or a local error). */
export interface AcmeLastError {
  at: string;
  type: string;
  detail: string;
  status?: number;
}

/** `state.json`. */
export interface AcmeState {
  names: string[];
  /** Failed attempts since the last success. */
  failures: number;
  lastError?: AcmeLastError;
  lastSuccess?: string;
  /** Not before this time (ISO), after a failure or a rate limit. */
  nextAttempt?: string;
  /** When the postmaster was last told (ISO), so that a notice is not repeated every retry. */
  lastNotice?: string;
}

/** `account.json`. */
export interface AcmeAccountRecord {
  directory: string;
  url: string;
}

/** The paths of the ACME files under `dataDir`. */
export function acmePaths(dataDir: string) {
  const dir = join(dataDir, "acme");
  return {
    dir,
    cert: join(dir, "cert.pem"),
    certKey: join(dir, "cert-key.pem"),
    accountKey: join(dir, "account-key.json"),
    account: join(dir, "account.json"),
    state: join(dir, "state.json"),
    renewRequest: join(dir, "renew-request"),
  };
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
 * Read `state.json`; fields of the wrong type are left out.
 *
 * @returns undefined when the certificate manager has not written it yet.
 * @throws {SyntaxError} when it is not JSON.
 */
export async function readAcmeState(dataDir: string): Promise<AcmeState | undefined> {
  const doc = await readJson(acmePaths(dataDir).state);
  if (doc === undefined) return undefined;
  const state: AcmeState = {
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
  for (const k of ["lastSuccess", "nextAttempt", "lastNotice"] as const) {
    const v = doc[k];
    if (isString(v)) state[k] = v;
  }
  return state;
}

/** Store the state durably. */
export async function writeAcmeState(dataDir: string, state: AcmeState): Promise<void> {
  const p = acmePaths(dataDir);
  await mkdirDurable(p.dir);
  await writeDurably(p.state, JSON.stringify(state, null, 2) + "\n", 0o600);
  await syncDir(p.dir);
}

/**
 * Read `account.json`.
 *
 * @returns undefined when there is no account yet.
 * @throws {TypeError} when the file lacks `directory` or `url`.
 * @throws {SyntaxError} when it is not JSON.
 */
export async function readAcmeAccount(dataDir: string): Promise<AcmeAccountRecord | undefined> {
  const path = acmePaths(dataDir).account;
  const doc = await readJson(path);
  if (doc === undefined) return undefined;
  const { directory, url } = doc;
  if (!isString(directory) || !isString(url)) {
    throw new TypeError(`"${path}" must have the strings "directory" and "url"`);
  }
  return { directory, url };
}

/** Store the account URL for `directory`. */
export async function writeAccountRecord(dataDir: string, a: AcmeAccountRecord): Promise<void> {
  const p = acmePaths(dataDir);
  await mkdirDurable(p.dir);
  await writeDurably(p.account, JSON.stringify(a, null, 2) + "\n", 0o600);
  await syncDir(p.dir);
}

/** Ask the running server for a renewal now (`postie cert renew`). */
export async function requestRenewal(dataDir: string, now = new Date()): Promise<void> {
  const p = acmePaths(dataDir);
  await mkdirDurable(p.dir);
  await writeDurably(p.renewRequest, now.toISOString() + "\n", 0o600);
  await syncDir(p.dir);
}

/** Take a pending renewal request: true once per request. */
export async function takeRenewalRequest(dataDir: string): Promise<boolean> {
  try {
    await Deno.remove(acmePaths(dataDir).renewRequest);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
