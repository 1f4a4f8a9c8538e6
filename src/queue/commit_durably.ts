/**
 * Transactions on the queue database, and durable commits that do not block the event loop.
 *
 * node:sqlite is synchronous: a COMMIT with synchronous=FULL would block the event loop (every
 * session) for its fsync. So the group commits (of enqueues and of delivery outcomes) commit
 * with synchronous=NORMAL, which in WAL mode writes the WAL frames without syncing them, and
 * then fdatasync the WAL file off the main thread; only after that fdatasync is the commit
 * reported, as durable as with FULL.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/** A commit went through but the fdatasync after it failed: it may not be durable. */
export class SyncFailed extends Error {
  constructor(cause: unknown) {
    super(`Cannot sync the queue database: ${cause instanceof Error ? cause.message : cause}`, {
      cause,
    });
    this.name = "SyncFailed";
  }
}

/** Run `fn` in one `BEGIN IMMEDIATE` transaction; roll back and rethrow when it throws. */
export function transaction(db: DatabaseSync, fn: () => void): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    fn();
    db.exec("COMMIT");
  } catch (e) {
    // SQLite may have rolled back already (SQLITE_FULL): keep the original error.
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

/**
 * Run `fn` in a transaction and make it durable without blocking the event loop for the
 * fsync: the COMMIT runs with synchronous=NORMAL (in WAL mode SQLite then writes the WAL
 * frames but does not sync them; checkpoints still sync the WAL before and the database
 * after), and an fdatasync of the WAL file, which runs off the main thread, follows. The
 * promise resolves after that fdatasync, when the commit is as durable as with
 * synchronous=FULL. Other statements of this connection keep synchronous=FULL.
 *
 * @param wal the open WAL file; without it the transaction commits with synchronous=FULL.
 * @throws {SyncFailed} when the commit went through but the fdatasync failed.
 */
export async function commitDurably(
  db: DatabaseSync,
  wal: Deno.FsFile | undefined,
  fn: () => void,
): Promise<void> {
  if (!wal) {
    transaction(db, fn); // synchronous=FULL
    return;
  }
  db.exec("PRAGMA synchronous=NORMAL");
  try {
    transaction(db, fn);
  } finally {
    if (db.isOpen) db.exec("PRAGMA synchronous=FULL");
  }
  try {
    await wal.syncData();
  } catch (e) {
    throw new SyncFailed(e);
  }
}
