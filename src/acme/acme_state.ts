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

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (e instanceof SyntaxError) return undefined; // a damaged file is as good as none
    throw e;
  }
}

/** The stored state, or a fresh one. */
export async function readAcmeState(dataDir: string): Promise<AcmeState> {
  const s = await readJson<AcmeState>(acmePaths(dataDir).state);
  return s && Array.isArray(s.names) && typeof s.failures === "number"
    ? s
    : { names: [], failures: 0 };
}

/** Store the state durably. */
export async function writeAcmeState(dataDir: string, state: AcmeState): Promise<void> {
  const p = acmePaths(dataDir);
  await mkdirDurable(p.dir);
  await writeDurably(p.state, JSON.stringify(state, null, 2) + "\n", 0o600);
  await syncDir(p.dir);
}

/** The stored account, if one was made. */
export async function readAccountRecord(dataDir: string): Promise<AcmeAccountRecord | undefined> {
  const a = await readJson<AcmeAccountRecord>(acmePaths(dataDir).account);
  return a && typeof a.url === "string" && typeof a.directory === "string" ? a : undefined;
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
