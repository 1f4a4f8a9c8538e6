/**
 * Accounts live in `<data_dir>/accounts.db` (SQLite through the built-in node:sqlite), managed
 * by `postie user ...` and read live by the server, so adding a user needs no reload.
 *
 * An account is an address in a local domain; its mailbox is
 * `<data_dir>/mail/<domain>/<local>/`. Local parts are restricted to a filesystem-safe subset
 * of dot-atoms, checked here, so a path is never built from untrusted input.
 *
 * The same database holds each account's forward and the aliases added from the admin page or
 * `postie alias add` (the config file's aliases stay in the config); the router reads both per
 * recipient.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { hashPassword } from "./password.ts";

/** An account as stored. */
export interface Account {
  /** Canonical address: lower-case local part, canonical domain. */
  address: string;
  local: string;
  domain: string;
  passwordHash: string;
  created: string;
  /** No login (SMTP AUTH, IMAP) while locked. */
  locked: boolean;
  /** May use the admin web page for everything (others see only their own account). */
  admin: boolean;
}

/** An alias stored in the database (added from the admin page or `postie alias add`). */
export interface StoredAlias {
  /** Canonical alias address (`local@domain`, or `@domain` for a catch-all). */
  address: string;
  /** Where its mail goes: full addresses, local or external (checked by the caller). */
  targets: string[];
  /** When it was added (ISO 8601). */
  created: string;
}

// Letters, digits, and "." "_" "-" inside; no "+" (subaddress separator), no leading dot.
const ACCOUNT_LOCAL_REGEXP = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9_-])?$/;

/** Where an account's mail is forwarded. */
export interface AccountForward {
  /** The external (or local) address that gets the mail. */
  target: string;
  /** Whether the account's own mailbox keeps a copy. */
  keepCopy: boolean;
}

/** Thrown for a bad account operation (exists, missing, invalid name). */
export class AccountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AccountError";
  }
}

/** Split and validate an account address against the local domains. */
export function parseAccountAddress(
  address: string,
  domains: readonly string[],
): { local: string; domain: string } {
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at).toLowerCase();
  const domain = address.slice(at + 1).toLowerCase().replace(/\.$/, "");
  if (at < 1) throw new AccountError(`Invalid address "${address}": expected local@domain`);
  if (!ACCOUNT_LOCAL_REGEXP.test(local) || local.includes("..")) {
    throw new AccountError(
      `Invalid address "${address}": the local part may use a-z, 0-9, ".", "_" and "-" ` +
        `(no "+", which separates subaddresses), at most 64 characters`,
    );
  }
  if (!domains.includes(domain)) {
    throw new AccountError(
      `Invalid address "${address}": "${domain}" is not a local domain (domains: ${
        domains.join(", ")
      })`,
    );
  }
  return { local, domain };
}

/** The targets column: a JSON array of strings (anything else reads as no targets). */
function parseTargets(json: string): string[] {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((t): t is string => typeof t === "string") : [];
  } catch {
    return [];
  }
}

/** The account database. */
export class AccountStore {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Open (and create if needed) the account database in `dataDir`. */
  static async open(dataDir: string): Promise<AccountStore> {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const db = new DatabaseSync(join(dataDir, "accounts.db"));
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
    db.exec(`CREATE TABLE IF NOT EXISTS accounts (
      address TEXT PRIMARY KEY, local TEXT NOT NULL, domain TEXT NOT NULL,
      password_hash TEXT NOT NULL, created TEXT NOT NULL)`);
    // Added later: a locked account cannot log in (postie user lock).
    const cols = db.prepare("PRAGMA table_info(accounts)").all() as { name: string }[];
    if (!cols.some((c) => c.name === "locked")) {
      db.exec("ALTER TABLE accounts ADD COLUMN locked INTEGER NOT NULL DEFAULT 0");
    }
    // Added later: an admin account may use the whole admin page.
    if (!cols.some((c) => c.name === "admin")) {
      db.exec("ALTER TABLE accounts ADD COLUMN admin INTEGER NOT NULL DEFAULT 0");
    }
    db.exec(`CREATE TABLE IF NOT EXISTS forwards (
      address TEXT PRIMARY KEY, target TEXT NOT NULL, keep_copy INTEGER NOT NULL)`);
    // targets: a JSON array of addresses.
    db.exec(`CREATE TABLE IF NOT EXISTS aliases (
      address TEXT PRIMARY KEY, targets TEXT NOT NULL, created TEXT NOT NULL)`);
    return new AccountStore(db);
  }

  #getStatement?: ReturnType<DatabaseSync["prepare"]>;

  /** Look up an account by canonical address. */
  get(address: string): Account | undefined {
    // Prepared once: this runs for every RCPT.
    this.#getStatement ??= this.#db.prepare(
      "SELECT address, local, domain, password_hash, created, locked, admin FROM accounts " +
        "WHERE address = ?",
    );
    const row = this.#getStatement.get(address) as Record<string, string | number> | undefined;
    if (!row) return undefined;
    return {
      address: String(row["address"]),
      local: String(row["local"]),
      domain: String(row["domain"]),
      passwordHash: String(row["password_hash"]),
      created: String(row["created"]),
      locked: Number(row["locked"]) === 1,
      admin: Number(row["admin"]) === 1,
    };
  }

  /** All accounts, sorted by domain then local part. */
  list(): Account[] {
    const rows = this.#db.prepare(
      "SELECT address FROM accounts ORDER BY domain, local",
    ).all() as { address: string }[];
    return rows.map((r) => this.get(r.address)!);
  }

  /**
   * Add an account (an admin one with `options.admin`). `local` and `domain` are checked by the
   * caller ({@link parseAccountAddress}). @throws {AccountError} when it exists.
   */
  async add(
    local: string,
    domain: string,
    password: string,
    options: { admin?: boolean } = {},
  ): Promise<Account> {
    const address = `${local}@${domain}`;
    if (this.get(address)) throw new AccountError(`Account "${address}" already exists`);
    const hash = await hashPassword(password);
    // Checked again after the hash (which waits): another add may have come in between.
    if (this.get(address)) throw new AccountError(`Account "${address}" already exists`);
    this.#db.prepare(
      "INSERT INTO accounts (address, local, domain, password_hash, created, admin) " +
        "VALUES (?,?,?,?,?,?)",
    ).run(address, local, domain, hash, new Date().toISOString(), options.admin ? 1 : 0);
    return this.get(address)!;
  }

  /** Give or take the admin flag. @throws {AccountError} when the account does not exist. */
  setAdmin(address: string, admin: boolean): void {
    if (!this.get(address)) throw new AccountError(`No account "${address}"`);
    this.#db.prepare("UPDATE accounts SET admin = ? WHERE address = ?").run(
      admin ? 1 : 0,
      address,
    );
  }

  /** Replace an account's password. @throws {AccountError} when it does not exist. */
  async setPassword(address: string, password: string): Promise<void> {
    if (!this.get(address)) throw new AccountError(`No account "${address}"`);
    const hash = await hashPassword(password);
    this.#db.prepare("UPDATE accounts SET password_hash = ? WHERE address = ?").run(hash, address);
  }

  /** Lock or unlock an account. @throws {AccountError} when it does not exist. */
  setLocked(address: string, locked: boolean): void {
    if (!this.get(address)) throw new AccountError(`No account "${address}"`);
    this.#db.prepare("UPDATE accounts SET locked = ? WHERE address = ?").run(
      locked ? 1 : 0,
      address,
    );
  }

  /** Delete an account (its mailbox stays on disk). @throws {AccountError} when missing. */
  delete(address: string): void {
    const r = this.#db.prepare("DELETE FROM accounts WHERE address = ?").run(address);
    if (Number(r.changes) === 0) throw new AccountError(`No account "${address}"`);
    this.#db.prepare("DELETE FROM forwards WHERE address = ?").run(address);
  }

  #forwardStatement?: ReturnType<DatabaseSync["prepare"]>;

  /** Where an account forwards its mail (`postie user forward`), if it does. */
  forward(address: string): AccountForward | undefined {
    // Prepared once: this runs for every RCPT to an account.
    this.#forwardStatement ??= this.#db.prepare(
      "SELECT target, keep_copy FROM forwards WHERE address = ?",
    );
    const row = this.#forwardStatement.get(address) as
      | { target: string; keep_copy: number }
      | undefined;
    return row ? { target: row.target, keepCopy: Number(row.keep_copy) === 1 } : undefined;
  }

  /**
   * Forward the account's mail to `target` (an address checked by the caller), keeping a copy
   * in the account's mailbox when `keepCopy`. @throws {AccountError} when there is no account.
   */
  setForward(address: string, target: string, keepCopy: boolean): void {
    if (!this.get(address)) throw new AccountError(`No account "${address}"`);
    this.#db.prepare(
      "INSERT INTO forwards (address, target, keep_copy) VALUES (?,?,?) " +
        "ON CONFLICT(address) DO UPDATE SET target = excluded.target, keep_copy = excluded.keep_copy",
    ).run(address, target, keepCopy ? 1 : 0);
  }

  /** Stop forwarding; returns whether there was a forward. */
  clearForward(address: string): boolean {
    const r = this.#db.prepare("DELETE FROM forwards WHERE address = ?").run(address);
    return Number(r.changes) > 0;
  }

  /** The stored aliases, sorted by domain then address (catch-alls `@domain` first). */
  aliases(): StoredAlias[] {
    const rows = this.#db.prepare("SELECT address, targets, created FROM aliases").all() as {
      address: string;
      targets: string;
      created: string;
    }[];
    const domainOf = (a: string) => a.slice(a.lastIndexOf("@") + 1);
    return rows
      .map((r) => ({ address: r.address, targets: parseTargets(r.targets), created: r.created }))
      .sort((a, b) =>
        domainOf(a.address).localeCompare(domainOf(b.address)) ||
        a.address.localeCompare(b.address)
      );
  }

  #aliasStatement?: ReturnType<DatabaseSync["prepare"]>;

  /** The targets of a stored alias (canonical address), or undefined when there is none. */
  alias(address: string): string[] | undefined {
    // Prepared once: this runs for every RCPT.
    this.#aliasStatement ??= this.#db.prepare("SELECT targets FROM aliases WHERE address = ?");
    const row = this.#aliasStatement.get(address) as { targets: string } | undefined;
    return row ? parseTargets(row.targets) : undefined;
  }

  /**
   * Add or replace an alias: `address` (canonical) to `targets`, both checked by the caller
   * (src/admin/alias_actions.ts). A replaced alias keeps its creation time.
   */
  setAlias(address: string, targets: readonly string[]): void {
    this.#db.prepare(
      "INSERT INTO aliases (address, targets, created) VALUES (?,?,?) " +
        "ON CONFLICT(address) DO UPDATE SET targets = excluded.targets",
    ).run(address, JSON.stringify(targets), new Date().toISOString());
  }

  /** Delete a stored alias; returns whether there was one. */
  deleteAlias(address: string): boolean {
    const r = this.#db.prepare("DELETE FROM aliases WHERE address = ?").run(address);
    return Number(r.changes) > 0;
  }

  /** Close the database. */
  close(): void {
    this.#db.close();
  }
}
