/**
 * The per-account index: one SQLite database (node:sqlite) in the account's Maildir root,
 * `postie-index.sqlite` (Dovecot ignores files there that are not folders). It holds what the
 * Maildir cannot: UIDs and UIDVALIDITY (RFC 3501 §2.3.1.1), modification sequences (RFC 7162
 * §3.1: every change of a message gets the mailbox's next `highestmodseq`), keywords, the
 * first UID still `\Recent`, special-use attributes (RFC 6154), subscriptions (RFC 3501
 * §6.3.6; kept apart from mailboxes because a subscription outlives its mailbox), expunge
 * tombstones `(uid, modseq)` so CONDSTORE/QRESYNC (RFC 7162 §3.2.5) can report
 * VANISHED later, and a cached structure blob per message.
 *
 * Tables (schema version in `PRAGMA user_version`, {@link SCHEMA_VERSION}):
 * `mailboxes(id, name, uidvalidity, uidnext, highestmodseq, first_recent, special_use)`,
 * `messages(mailbox_id, uid, base, info, system, keywords, modseq, internaldate, size,
 * structure)` with `base` the Maildir file name before `:2,` and `info` the letters after it,
 * `expunged(mailbox_id, uid, modseq)`, `subscriptions(name)`, `meta(key, value)`.
 *
 * Durability: WAL, `synchronous=FULL` for ordinary statements; {@link IndexDb.commit} runs its
 * transaction with `synchronous=NORMAL` and then fdatasyncs the WAL file off the main thread,
 * resolving only after that, as durable as FULL without blocking the event loop on the fsync.
 *
 * The index is derived data. When it is missing (or unreadable: it is moved aside as
 * `postie-index.sqlite.corrupt-<time>`), {@link IndexDb.open} creates an empty one and says
 * so ({@link IndexDb.fresh}); mailboxes are then registered again from the Maildir with NEW
 * UIDVALIDITY values. Those come from {@link IndexDb.allocateUidvalidity}: strictly
 * increasing, at least the current time in seconds, and above the last value ever given out
 * in this Maildir, which is kept (durably) in the file `postie-uidvalidity` beside the
 * database so that it survives the loss of the database.
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { pathExists } from "../../fs/path_exists.ts";
import { join } from "node:path";
import { syncDir, writeAll } from "../../fs/durable.ts";
import { joinKeywords, splitKeywords } from "./flags.ts";

/** The schema version this code writes. */
export const SCHEMA_VERSION = 1;

/** The database file name in the Maildir root. */
export const INDEX_FILE = "postie-index.sqlite";

/** The file with the last UIDVALIDITY given out. */
export const UIDVALIDITY_FILE = "postie-uidvalidity";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mailboxes (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  uidvalidity INTEGER NOT NULL,
  uidnext INTEGER NOT NULL DEFAULT 1,
  highestmodseq INTEGER NOT NULL DEFAULT 1,
  first_recent INTEGER NOT NULL DEFAULT 1,
  special_use TEXT
);
CREATE TABLE IF NOT EXISTS messages (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  base TEXT NOT NULL,
  info TEXT NOT NULL,
  system INTEGER NOT NULL,
  keywords TEXT NOT NULL DEFAULT '',
  modseq INTEGER NOT NULL,
  internaldate INTEGER NOT NULL,
  size INTEGER NOT NULL,
  structure BLOB,
  PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_base ON messages(mailbox_id, base);
CREATE TABLE IF NOT EXISTS expunged (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (name TEXT PRIMARY KEY);
`;

/** A mailbox as indexed. */
export interface MailboxRow {
  id: number;
  /** Canonical name (see names.ts). */
  name: string;
  uidvalidity: number;
  uidnext: number;
  highestmodseq: number;
  /** Messages with this UID or above are `\Recent` for the next session to claim them. */
  firstRecent: number;
  /** RFC 6154 attribute such as `\Sent`, or null. */
  specialUse: string | null;
}

/** A message as indexed. */
export interface MessageRow {
  uid: number;
  /** Maildir file name before `:2,`. */
  base: string;
  /** Letters after `:2,` as last seen on disk or written. */
  info: string;
  /** System flag bits (flags.ts). */
  system: number;
  keywords: string[];
  modseq: number;
  /** INTERNALDATE (RFC 3501 §2.3.3) in ms since the epoch; the file's mtime. */
  internalDate: number;
  size: number;
}

interface RawMessage {
  uid: number;
  base: string;
  info: string;
  system: number;
  keywords: string;
  modseq: number;
  internaldate: number;
  size: number;
}

function toMessage(r: RawMessage): MessageRow {
  return {
    uid: r.uid,
    base: r.base,
    info: r.info,
    system: r.system,
    keywords: splitKeywords(r.keywords),
    modseq: r.modseq,
    internalDate: r.internaldate,
    size: r.size,
  };
}

interface RawMailbox {
  id: number;
  name: string;
  uidvalidity: number;
  uidnext: number;
  highestmodseq: number;
  first_recent: number;
  special_use: string | null;
}

function toMailbox(r: RawMailbox): MailboxRow {
  return {
    id: r.id,
    name: r.name,
    uidvalidity: r.uidvalidity,
    uidnext: r.uidnext,
    highestmodseq: r.highestmodseq,
    firstRecent: r.first_recent,
    specialUse: r.special_use,
  };
}

const MAILBOX_COLS = "id, name, uidvalidity, uidnext, highestmodseq, first_recent, special_use";
const MESSAGE_COLS = "uid, base, info, system, keywords, modseq, internaldate, size";

/** Options of {@link IndexDb.open}. */
export interface IndexDbOptions {
  /** The clock, for UIDVALIDITY values (tests). */
  now?: () => number;
}

/** The account's index database (see module doc). Not safe for concurrent `commit` bodies. */
export class IndexDb {
  readonly root: string;
  /** True when the database was created by this open (a new account or a rebuild). */
  readonly fresh: boolean;
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #statements = new Map<string, StatementSync>();
  #wal: Deno.FsFile | undefined;
  #inTransaction = false;

  private constructor(root: string, db: DatabaseSync, fresh: boolean, now: () => number) {
    this.root = root;
    this.#db = db;
    this.fresh = fresh;
    this.#now = now;
  }

  /** Open (or create) the index of the Maildir at `root`, which must exist. */
  static async open(root: string, options: IndexDbOptions = {}): Promise<IndexDb> {
    const path = join(root, INDEX_FILE);
    let fresh = !await pathExists(path);
    if (fresh) {
      // A WAL left beside a deleted database belongs to the old one: never replay it.
      for (const ext of ["-wal", "-shm"]) await Deno.remove(path + ext).catch(() => {});
    }
    let db: DatabaseSync;
    try {
      db = openDb(path);
    } catch (e) {
      if (fresh || !isCorrupt(e)) throw e;
      // Unreadable: keep it for inspection and rebuild from the Maildir.
      await Deno.rename(path, `${path}.corrupt-${Date.now()}`);
      for (const ext of ["-wal", "-shm"]) await Deno.remove(path + ext).catch(() => {});
      fresh = true;
      db = openDb(path);
    }
    const index = new IndexDb(root, db, fresh, options.now ?? Date.now);
    try {
      await syncDir(root); // the entries of the database and its WAL
      index.#wal = await Deno.open(`${path}-wal`, { read: true }).catch(() => undefined);
    } catch (e) {
      index.close();
      throw e;
    }
    return index;
  }

  /** Close the database. */
  close(): void {
    this.#wal?.close();
    this.#wal = undefined;
    if (this.#db.isOpen) this.#db.close();
  }

  #stmt(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) this.#statements.set(sql, st = this.#db.prepare(sql));
    return st;
  }

  #run(sql: string, ...args: SQLInputValue[]): void {
    this.#stmt(sql).run(...args);
  }

  /**
   * Run `fn` in one transaction and resolve once it is durable (see module doc). `fn` must be
   * synchronous; it may call the mutating methods below. If it throws, nothing is changed.
   */
  async commit<T>(fn: () => T): Promise<T> {
    if (this.#inTransaction) throw new Error("nested IndexDb.commit");
    const wal = this.#wal;
    if (wal) this.#db.exec("PRAGMA synchronous=NORMAL");
    let result: T;
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      this.#inTransaction = true;
      try {
        result = fn();
        this.#db.exec("COMMIT");
      } catch (e) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw e;
      } finally {
        this.#inTransaction = false;
      }
    } finally {
      if (wal && this.#db.isOpen) this.#db.exec("PRAGMA synchronous=FULL");
    }
    if (wal) await wal.syncData();
    return result;
  }

  #requireTransaction(): void {
    if (!this.#inTransaction) throw new Error("IndexDb: mutation outside commit()");
  }

  // --- UIDVALIDITY ---------------------------------------------------------------------

  /**
   * `count` new UIDVALIDITY values (RFC 3501 §2.3.1.1: a mailbox re-created, or an index
   * rebuilt, must never get a value used before). Durable when it resolves.
   */
  async allocateUidvalidity(count = 1): Promise<number[]> {
    const file = join(this.root, UIDVALIDITY_FILE);
    let last = 0;
    try {
      last = Number.parseInt(await Deno.readTextFile(file), 10) || 0;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const meta = this.#stmt("SELECT value FROM meta WHERE key = 'last_uidvalidity'").get() as
      | { value: string }
      | undefined;
    last = Math.max(last, Number(meta?.value ?? 0));
    const start = Math.max(last + 1, Math.floor(this.#now() / 1000));
    if (start + count - 1 > 0xffffffff) throw new Error("UIDVALIDITY space exhausted");
    const values = Array.from({ length: count }, (_, i) => start + i);
    const top = String(start + count - 1);
    const tmp = `${file}.tmp`;
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      await writeAll(f, new TextEncoder().encode(top + "\n"));
      await f.syncData();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, file);
    await syncDir(this.root);
    await this.commit(() =>
      this.#run("INSERT OR REPLACE INTO meta(key, value) VALUES ('last_uidvalidity', ?)", top)
    );
    return values;
  }

  // --- meta ------------------------------------------------------------------------------

  /** A value of the `meta` table. */
  meta(key: string): string | undefined {
    const r = this.#stmt("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return r?.value;
  }

  /** Set a `meta` value (inside {@link commit}). */
  setMeta(key: string, value: string): void {
    this.#requireTransaction();
    this.#run("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", key, value);
  }

  // --- mailboxes -------------------------------------------------------------------------

  /** Every indexed mailbox, by name. */
  mailboxes(): MailboxRow[] {
    return (this.#stmt(`SELECT ${MAILBOX_COLS} FROM mailboxes ORDER BY name`)
      .all() as unknown as RawMailbox[]).map(toMailbox);
  }

  /** The mailbox called `name` (canonical). */
  mailbox(name: string): MailboxRow | undefined {
    const r = this.#stmt(`SELECT ${MAILBOX_COLS} FROM mailboxes WHERE name = ?`).get(name);
    return r ? toMailbox(r as unknown as RawMailbox) : undefined;
  }

  /** The mailbox with `id`. */
  mailboxById(id: number): MailboxRow | undefined {
    const r = this.#stmt(`SELECT ${MAILBOX_COLS} FROM mailboxes WHERE id = ?`).get(id);
    return r ? toMailbox(r as unknown as RawMailbox) : undefined;
  }

  /** Add a mailbox; returns its id. */
  insertMailbox(name: string, uidvalidity: number, specialUse: string | null): number {
    this.#requireTransaction();
    const r = this.#stmt(
      "INSERT INTO mailboxes(name, uidvalidity, special_use) VALUES (?, ?, ?) RETURNING id",
    ).get(name, uidvalidity, specialUse) as { id: number };
    return r.id;
  }

  /** Remove a mailbox with its messages and tombstones. */
  deleteMailbox(id: number): void {
    this.#requireTransaction();
    this.#run("DELETE FROM messages WHERE mailbox_id = ?", id);
    this.#run("DELETE FROM expunged WHERE mailbox_id = ?", id);
    this.#run("DELETE FROM mailboxes WHERE id = ?", id);
  }

  /** Give a mailbox a new name. */
  renameMailbox(id: number, name: string): void {
    this.#requireTransaction();
    this.#run("UPDATE mailboxes SET name = ? WHERE id = ?", name, id);
  }

  /** Set the special-use attribute. */
  setSpecialUse(id: number, specialUse: string | null): void {
    this.#requireTransaction();
    this.#run("UPDATE mailboxes SET special_use = ? WHERE id = ?", specialUse, id);
  }

  /** Messages from `uid` on are `\Recent` for the next session to claim them. */
  setFirstRecent(id: number, uid: number): void {
    this.#requireTransaction();
    this.#run("UPDATE mailboxes SET first_recent = ? WHERE id = ?", uid, id);
  }

  /** Take the next modseq of a mailbox (RFC 7162 §3.1.1: strictly increasing per mailbox). */
  nextModseq(id: number): number {
    this.#requireTransaction();
    const r = this.#stmt(
      "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ? RETURNING highestmodseq",
    ).get(id) as { highestmodseq: number };
    return r.highestmodseq;
  }

  /** Take `count` UIDs of a mailbox; returns the first (RFC 3501 §2.3.1.1: ascending). */
  takeUids(id: number, count: number): number {
    this.#requireTransaction();
    const r = this.#stmt(
      "UPDATE mailboxes SET uidnext = uidnext + ? WHERE id = ? RETURNING uidnext",
    ).get(count, id) as { uidnext: number };
    return r.uidnext - count;
  }

  // --- messages --------------------------------------------------------------------------

  /** All messages of a mailbox, by UID. */
  messages(mailboxId: number): MessageRow[] {
    return (this.#stmt(`SELECT ${MESSAGE_COLS} FROM messages WHERE mailbox_id = ? ORDER BY uid`)
      .all(mailboxId) as unknown as RawMessage[]).map(toMessage);
  }

  /** One message. */
  message(mailboxId: number, uid: number): MessageRow | undefined {
    const r = this.#stmt(`SELECT ${MESSAGE_COLS} FROM messages WHERE mailbox_id = ? AND uid = ?`)
      .get(mailboxId, uid);
    return r ? toMessage(r as unknown as RawMessage) : undefined;
  }

  /** Counts for STATUS (RFC 3501 §6.3.10) and the RFC 8438 SIZE. */
  counts(mailboxId: number, firstRecent: number): {
    messages: number;
    unseen: number;
    recent: number;
    size: number;
  } {
    const r = this.#stmt(
      `SELECT count(*) AS n, coalesce(sum((system & 1) = 0), 0) AS unseen,
         coalesce(sum(uid >= ?), 0) AS recent, coalesce(sum(size), 0) AS size
       FROM messages WHERE mailbox_id = ?`,
    ).get(firstRecent, mailboxId) as { n: number; unseen: number; recent: number; size: number };
    return { messages: r.n, unseen: r.unseen, recent: r.recent, size: r.size };
  }

  /** Add a message (its UID taken with {@link takeUids}). */
  insertMessage(mailboxId: number, m: MessageRow): void {
    this.#requireTransaction();
    this.#run(
      `INSERT INTO messages(mailbox_id, ${MESSAGE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      mailboxId,
      m.uid,
      m.base,
      m.info,
      m.system,
      joinKeywords(m.keywords),
      m.modseq,
      m.internalDate,
      m.size,
    );
  }

  /** Record new flags (and the info letters now on disk) with a new modseq. */
  updateFlags(
    mailboxId: number,
    uid: number,
    info: string,
    system: number,
    keywords: readonly string[],
    modseq: number,
  ): void {
    this.#requireTransaction();
    this.#run(
      "UPDATE messages SET info = ?, system = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
      info,
      system,
      joinKeywords(keywords),
      modseq,
      mailboxId,
      uid,
    );
  }

  /** Record the info letters on disk without a flag change (letters the store does not map). */
  updateInfo(mailboxId: number, uid: number, info: string): void {
    this.#requireTransaction();
    this.#run(
      "UPDATE messages SET info = ? WHERE mailbox_id = ? AND uid = ?",
      info,
      mailboxId,
      uid,
    );
  }

  /** Remove a message, leaving a tombstone with `modseq` (RFC 7162 §3.2.5.1). */
  expungeMessage(mailboxId: number, uid: number, modseq: number): void {
    this.#requireTransaction();
    this.#run("DELETE FROM messages WHERE mailbox_id = ? AND uid = ?", mailboxId, uid);
    this.#run(
      "INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq) VALUES (?, ?, ?)",
      mailboxId,
      uid,
      modseq,
    );
  }

  /** Tombstones with a modseq above `since`, by UID (for QRESYNC later). */
  expungedSince(mailboxId: number, since: number): { uid: number; modseq: number }[] {
    return this.#stmt(
      "SELECT uid, modseq FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
    ).all(mailboxId, since) as unknown as { uid: number; modseq: number }[];
  }

  /** The cached structure of a message (the message piece decides the format). */
  structure(mailboxId: number, uid: number): Uint8Array | undefined {
    const r = this.#stmt("SELECT structure FROM messages WHERE mailbox_id = ? AND uid = ?")
      .get(mailboxId, uid) as { structure: Uint8Array | null } | undefined;
    return r?.structure ?? undefined;
  }

  /**
   * Cache a structure blob. Not a user-visible change: committed without waiting for the
   * fsync (a lost cache entry is recomputed).
   */
  setStructure(mailboxId: number, uid: number, blob: Uint8Array): void {
    this.#run(
      "UPDATE messages SET structure = ? WHERE mailbox_id = ? AND uid = ?",
      blob,
      mailboxId,
      uid,
    );
  }

  // --- subscriptions ---------------------------------------------------------------------

  /** Subscribed names (RFC 3501 §6.3.6), sorted. */
  subscriptions(): string[] {
    return (this.#stmt("SELECT name FROM subscriptions ORDER BY name").all() as unknown as {
      name: string;
    }[]).map((r) => r.name);
  }

  /** Add or remove a subscription. */
  setSubscribed(name: string, on: boolean): void {
    this.#requireTransaction();
    if (on) this.#run("INSERT OR IGNORE INTO subscriptions(name) VALUES (?)", name);
    else this.#run("DELETE FROM subscriptions WHERE name = ?", name);
  }
}

function openDb(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    db.exec("PRAGMA foreign_keys=ON;");
    const v = db.prepare("PRAGMA user_version").get() as { user_version: number };
    if (v.user_version > SCHEMA_VERSION) {
      throw new Error(`index schema ${v.user_version} is newer than this postie`);
    }
    if (v.user_version < SCHEMA_VERSION) {
      db.exec(`BEGIN IMMEDIATE; ${SCHEMA} PRAGMA user_version = ${SCHEMA_VERSION}; COMMIT;`);
    }
    db.prepare("SELECT count(*) FROM mailboxes").get(); // fails on a corrupt file
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** SQLITE_CORRUPT (11) or SQLITE_NOTADB (26): the file is not a usable database. */
function isCorrupt(e: unknown): boolean {
  const code = (e as { errcode?: unknown } | null)?.errcode;
  if (code === 11 || code === 26) return true;
  return /not a database|malformed/i.test(e instanceof Error ? e.message : String(e));
}
