/**
 * The queue's SQLite database, `<data_dir>/queue/queue.db`: its schema, opening it (WAL,
 * synchronous=FULL, busy_timeout), prepared statements, and the transactions and durable group
 * commits that the other parts of the queue run on it.
 *
 * One `messages` row per message and one `recipients` row per recipient carrying that
 * recipient's own state (queued, delivered, failed), attempt count, next attempt time and last
 * error, so retries, DSNs and `postie queue flush|delete|bounce` can act per recipient.
 *
 * Readers in other processes see committed rows at once: WAL lets them read while the server
 * writes, and `busy_timeout` makes short write conflicts wait instead of failing.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import { syncDir } from "../fs/durable.ts";
import { commitDurably, transaction } from "./commit_durably.ts";

/** A row as node:sqlite returns it. */
export type Row = Record<string, string | number | null>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY,
  created TEXT NOT NULL,
  size INTEGER NOT NULL,
  sender TEXT NOT NULL,
  account TEXT
);
CREATE TABLE IF NOT EXISTS recipients (
  message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  address TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt TEXT NOT NULL,
  last_error TEXT,
  -- RFC 3463 status and Remote-MTA of the last attempt, for the DSN.
  status_code TEXT,
  remote_mta TEXT,
  -- 1 once the sender was told (DSN for "failed", delay warning for "queued").
  notified INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (message_id, seq)
);
CREATE INDEX IF NOT EXISTS recipients_due ON recipients (status, next_attempt);
PRAGMA user_version = 1;
`;

/** The open queue database, with its WAL file for durable commits (see {@link commitDurably}). */
export class QueueDatabase {
  readonly #db: DatabaseSync;
  /** The WAL file, for {@link QueueDatabase.commitDurably}; without it commits sync themselves. */
  #wal: Deno.FsFile | undefined;
  /** Prepared statements by SQL text: preparing costs more than running, on every call. */
  readonly #statements = new Map<string, StatementSync>();

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * Open (and create or migrate if needed) `<queueDir>/queue.db`, then make its directory
   * entries durable and open its WAL file.
   *
   * @param queueDir the queue directory, which must exist.
   */
  static async open(queueDir: string): Promise<QueueDatabase> {
    const db = new DatabaseSync(join(queueDir, "queue.db"));
    try {
      // busy_timeout first: switching to WAL may have to wait for another process.
      db.exec("PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
      db.exec("PRAGMA foreign_keys=ON;");
      const version = db.prepare("PRAGMA user_version").get() as { user_version: number };
      if (version.user_version < 1) db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
      // Version 2: a message may be held (an account past its rate limit), with the reason.
      if (version.user_version < 2) {
        db.exec(
          "BEGIN IMMEDIATE; ALTER TABLE messages ADD COLUMN held TEXT; " +
            "CREATE TABLE held_accounts (account TEXT PRIMARY KEY, reason TEXT NOT NULL, " +
            "since TEXT NOT NULL); PRAGMA user_version = 2; COMMIT;",
        );
      }
    } catch (e) {
      db.close();
      throw e;
    }
    const database = new QueueDatabase(db);
    try {
      // Make the entries of queue.db and its WAL durable before anything is accepted.
      await syncDir(queueDir);
      // The WAL, for the group commits' own fdatasync (see commitDurably). It exists from the
      // first read in WAL mode and stays while our connection is open; kept open until close()
      // (closing another descriptor of a file can drop a process's POSIX locks on it).
      database.#wal = await Deno.open(join(queueDir, "queue.db-wal"), { read: true }).catch(
        () => undefined,
      );
    } catch (e) {
      database.close();
      throw e;
    }
    return database;
  }

  /** Whether the database is still open. */
  get isOpen(): boolean {
    return this.#db.isOpen;
  }

  /** Run SQL without results (such as `SAVEPOINT`). */
  exec(sql: string): void {
    this.#db.exec(sql);
  }

  /** The prepared statement for `sql`, prepared once. */
  stmt(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) this.#statements.set(sql, st = this.#db.prepare(sql));
    return st;
  }

  /** Run `fn` in one transaction with synchronous=FULL (see {@link transaction}). */
  transaction(fn: () => void): void {
    transaction(this.#db, fn);
  }

  /** Run `fn` in one transaction, durable once this resolves (see {@link commitDurably}). */
  commitDurably(fn: () => void): Promise<void> {
    return commitDurably(this.#db, this.#wal, fn);
  }

  /** Close the database and its WAL file. */
  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
    this.#wal?.close();
    this.#wal = undefined;
  }
}
