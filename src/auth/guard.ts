/**
 * Protection of SMTP AUTH (RFC 4954 §4, §15 "Security Considerations") against password
 * guessing: failures are counted per client IP and per account in a sliding window. Past a
 * threshold the attempt is refused without checking the password (454 4.7.0), and every
 * failure is answered after a growing delay.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { AccountLookup } from "../delivery/router.ts";
import { hashPassword, randomPassword, verifyPassword } from "../accounts/password.ts";

/** An account with its stored password hash. */
export interface Credentials {
  address: string;
  local: string;
  domain: string;
  passwordHash: string;
  /** Locked by the owner (`postie user lock`): no login, whatever the password. */
  locked?: boolean;
}

/** Where accounts and their hashes come from. */
export interface CredentialStore extends AccountLookup {
  get(address: string): Credentials | undefined;
}

// A hash of a random password, verified when the user does not exist, so that an unknown
// user costs the same time as a wrong password (no user enumeration by timing).
let dummyHash: Promise<string> | undefined;

/** Counts AUTH failures and decides when to refuse. One per server. */
export class AuthGuard {
  readonly #failures = new Map<string, number[]>();
  #config: Config["auth"];
  readonly #now: () => number;

  /** Called once when an account reaches `auth.max_failures_per_account` (for the alert). */
  onAccountLockout?: (account: string, failures: number, ip: string) => void;

  constructor(config: Config["auth"], now: () => number = Date.now) {
    this.#config = config;
    this.#now = now;
  }

  /** Apply new limits (config reload); counts are kept. */
  configure(config: Config["auth"]): void {
    this.#config = config;
  }

  #recent(key: string): number[] {
    const since = this.#now() - this.#config.failureWindowSeconds * 1000;
    const list = (this.#failures.get(key) ?? []).filter((t) => t > since);
    if (list.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, list);
    return list;
  }

  /** Whether an attempt from `ip` (for `account`, when known) must be refused unchecked. */
  blocked(ip: string, account?: string): boolean {
    if (this.#recent(`ip ${ip}`).length >= this.#config.maxFailuresPerIp) return true;
    if (account === undefined) return false;
    return this.#recent(`acct ${account}`).length >= this.#config.maxFailuresPerAccount;
  }

  /** Record a failure; returns the delay (ms) to wait before answering. */
  failed(ip: string, account: string): number {
    const t = this.#now();
    for (const key of [`ip ${ip}`, `acct ${account}`]) {
      this.#failures.set(key, [...this.#recent(key), t]);
    }
    const perAccount = this.#recent(`acct ${account}`).length;
    if (perAccount === this.#config.maxFailuresPerAccount) {
      this.onAccountLockout?.(account, perAccount, ip);
    }
    const n = this.#recent(`ip ${ip}`).length;
    return this.#config.failureDelayMs * Math.min(16, 2 ** (n - 1));
  }

  /** A success clears the IP's failures (the account's stay: others may be guessing). */
  succeeded(ip: string): void {
    this.#failures.delete(`ip ${ip}`);
  }
}

/** The outcome of {@link guardedLogin}. */
export type GuardedLogin<T> =
  | { kind: "blocked" }
  | { kind: "failed"; delayMs: number }
  | { kind: "ok"; account: T };

/**
 * One login attempt through the guard, the same for SMTP AUTH, IMAP LOGIN and the admin page:
 * refused unchecked while the IP or the account (`name`, lower-case) is blocked; a failure is
 * counted and returned after the guard's delay (slept here, with `sleep`); a success clears
 * the IP's failures. Without a guard every attempt is checked and failures are not delayed.
 */
export async function guardedLogin<T>(
  guard: Pick<AuthGuard, "blocked" | "failed" | "succeeded"> | undefined,
  ip: string,
  name: string,
  check: () => Promise<T | undefined>,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<GuardedLogin<T>> {
  if (guard?.blocked(ip, name)) return { kind: "blocked" };
  const account = await check();
  if (account === undefined) {
    const delayMs = guard?.failed(ip, name) ?? 0;
    if (delayMs > 0) await sleep(delayMs);
    return { kind: "failed", delayMs };
  }
  guard?.succeeded(ip);
  return { kind: "ok", account };
}

/**
 * Check a username and password. The account lookup is case-insensitive; an unknown user
 * costs one scrypt like a known one.
 */
export async function checkCredentials(
  store: CredentialStore,
  username: string,
  password: string,
): Promise<Credentials | undefined> {
  const at = username.lastIndexOf("@");
  const canonical = at < 0
    ? username.toLowerCase()
    : `${username.slice(0, at).toLowerCase()}@${username.slice(at + 1).toLowerCase()}`;
  const acct = store.get(canonical);
  dummyHash ??= hashPassword(randomPassword());
  const ok = await verifyPassword(password, acct?.passwordHash ?? await dummyHash);
  return acct && ok && password !== "" && !acct.locked ? acct : undefined;
}
