/**
 * Putting a message in the queue durably, with group commit.
 *
 * Once the server answers 250 to the end of DATA it has taken responsibility for the message
 * (RFC 5321 §6.1), so {@link Enqueuer.enqueue} resolves only when the message is durable, and
 * the caller replies 250 only after that; any failure is a 4xx and the client keeps the
 * message. Enqueue order, so that a crash at any point loses nothing acknowledged:
 *
 * 1. write `msg/<id>.eml` (create-new), write all, fdatasync, then fsync `msg/` so that the new
 *    entry survives a crash ({@link MessageFiles.write});
 * 2. insert the message row and its recipient rows. The commit (a fsynced WAL frame) is the
 *    moment the message is accepted.
 *
 * Group commit: enqueues that run at the same time share the expensive steps. Their body files
 * are written and synced in parallel, one fsync of `msg/` covers every file created before it
 * started, and the rows of all messages whose files are durable by then go into one
 * transaction, each message in its own savepoint (so a failing message does not take the
 * others with it). Every enqueue still resolves only after the commit that covers its own
 * rows: under load one WAL fsync and one directory fsync serve many messages, and none is
 * acknowledged before it is durable. The commit does its WAL fdatasync off the main thread
 * (see `commit_durably.ts`); until then its messages are not due for delivery
 * ({@link Enqueuer.unsynced}).
 *
 * The shared lock of {@link QueueLock} is held from before the body file exists until after
 * the commit, so that no orphan cleanup in any process takes the message for an orphan.
 *
 * @module
 */

import { DeliveryError, isNoSpace } from "../delivery/maildir.ts";
import { SyncFailed } from "./commit_durably.ts";
import type { MessageFiles } from "./message_files.ts";
import type { QueueDatabase } from "./queue_database.ts";
import { newQueueId } from "./queue_id.ts";
import type { QueueLock } from "./queue_lock.ts";
import { hasMessage } from "./queued_message.ts";

/** What {@link Enqueuer.enqueue} stores. */
export interface EnqueueRequest {
  /** The reverse-path; "" for the null sender. */
  sender: string;
  /** Forward-paths; at least one. Exact duplicates are stored once. */
  recipients: string[];
  /** The authenticated submitter, if any. */
  account?: string;
  /** Trace header block to put above the content; ends in CRLF, may be "". */
  header: string;
  /** The message content as received. */
  content: readonly Uint8Array[];
  /**
   * The queue id, chosen earlier (by the inbound spool, which enqueues what it accepted and,
   * after a crash, enqueues it again): a message with this id already queued is not queued
   * twice, and a body file left by an interrupted enqueue is overwritten.
   */
  id?: string;
}

const encoder = new TextEncoder();

function queueError(what: string, e: unknown): DeliveryError {
  if (isNoSpace(e)) {
    return new DeliveryError("Insufficient disk space", 452, "4.3.1", { cause: e });
  }
  const detail = e instanceof Error ? e.message : String(e);
  return new DeliveryError(`${what}: ${detail}`, 451, "4.3.0", { cause: e });
}

/** The rows of one message, waiting for a group commit. */
interface PendingRows {
  id: string;
  created: string;
  size: number;
  sender: string;
  account: string | null;
  recipients: string[];
}

interface PendingCommit {
  rows: PendingRows;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** The enqueue side of the queue: body files, then rows in group commits. */
export class Enqueuer {
  readonly #db: QueueDatabase;
  readonly #files: MessageFiles;
  readonly #lock: QueueLock;
  readonly #now: () => Date;
  /** Rows waiting for the next group commit. */
  readonly #pending: PendingCommit[] = [];
  #commitTimer: ReturnType<typeof setTimeout> | undefined;
  #commits = 0;
  /** Messages committed whose commit is not yet known durable: not due for delivery yet. */
  readonly #unsynced = new Set<string>();

  /**
   * @param now the clock for ids and `created` (also the first `nextAttempt`).
   */
  constructor(db: QueueDatabase, files: MessageFiles, lock: QueueLock, now: () => Date) {
    this.#db = db;
    this.#files = files;
    this.#lock = lock;
    this.#now = now;
  }

  /** Messages committed whose commit is not yet known durable: not due for delivery yet. */
  get unsynced(): ReadonlySet<string> {
    return this.#unsynced;
  }

  /** How many group commits of enqueued rows were made (diagnostics and tests). */
  get commits(): number {
    return this.#commits;
  }

  /**
   * Store a message durably: body file first (written, fdatasynced, directory fsynced), then its
   * rows, committed together with those of concurrent enqueues (see "Group commit" in the
   * module doc). When this resolves the message is accepted and the caller may reply 250; when
   * it rejects nothing of it is left behind.
   *
   * @param req the envelope, trace header block and content.
   * @returns the queue id.
   * @throws {DeliveryError} 452 4.3.1 when the disk is full, 451 4.3.0 for other trouble.
   * @throws {TypeError} when there are no recipients.
   */
  async enqueue(req: EnqueueRequest): Promise<string> {
    const recipients = [...new Set(req.recipients)];
    if (recipients.length === 0) throw new TypeError("Cannot enqueue a message: no recipients");
    if (!this.#db.isOpen) throw queueError("Cannot queue message", new Error("queue is closed"));
    const now = this.#now();
    if (req.id !== undefined && hasMessage(this.#db, req.id)) return req.id;
    const id = req.id ?? newQueueId(now);
    this.#files.path(id); // a bad id throws before anything is written
    const header = encoder.encode(req.header);
    const size = req.content.reduce((n, p) => n + p.length, header.length);

    // Shared lock from before the body file exists until after the commit, so that no open()
    // in any process takes this message for an orphan.
    try {
      await this.#lock.hold();
    } catch (e) {
      throw queueError("Cannot queue message", e);
    }
    let body: Uint8Array | undefined;
    try {
      try {
        body = await this.#files.write(id, header, req.content, size, req.id !== undefined);
      } catch (e) {
        await this.#files.remove(id).catch(() => {});
        throw queueError("Cannot write queued message", e);
      }

      // RFC 5321 §6.1: the commit is the moment we take responsibility.
      try {
        await this.#commitRows({
          id,
          created: now.toISOString(),
          size,
          sender: req.sender,
          account: req.account ?? null,
          recipients,
        });
      } catch (e) {
        await this.#files.remove(id).catch(() => {});
        throw queueError("Cannot record queued message", e);
      }
      if (body) this.#files.keep(id, body);
      return id;
    } finally {
      this.#lock.release();
    }
  }

  /**
   * Queue a message's rows for the next group commit; resolves once they are committed
   * (durable), rejects when they could not be.
   */
  #commitRows(rows: PendingRows): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ rows, resolve, reject });
      // A macrotask, so that every enqueue whose directory fsync finished in the same batch
      // (their continuations are microtasks) joins this commit.
      this.#commitTimer ??= setTimeout(() => this.#commitPending(), 0);
    });
  }

  /** One transaction for every pending message, each in its own savepoint; one WAL fsync. */
  async #commitPending(): Promise<void> {
    this.#commitTimer = undefined;
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return;
    /** Messages whose rows failed on their own (their savepoint was rolled back). */
    const failed = new Set<PendingCommit>();
    const ids = batch.map((p) => p.rows.id);
    const db = this.#db;
    try {
      if (!db.isOpen) throw new Error("queue is closed");
      // Not due for delivery until the commit is durable (a crash before would deliver a
      // message that was never acknowledged, and the client sends it again).
      for (const id of ids) this.#unsynced.add(id);
      const insertMessage = db.stmt(
        // An account whose mail is held (rate_limits.on_limit) has its new messages held too.
        "INSERT INTO messages (id, created, size, sender, account, held) VALUES (?, ?, ?, ?, ?, " +
          "(SELECT reason FROM held_accounts WHERE account = ?5))",
      );
      const insertRecipient = db.stmt(
        "INSERT INTO recipients (message_id, seq, address, status, attempts, next_attempt) " +
          "VALUES (?, ?, ?, 'queued', 0, ?)",
      );
      await db.commitDurably(() => {
        for (const p of batch) {
          const r = p.rows;
          db.exec("SAVEPOINT msg");
          try {
            insertMessage.run(r.id, r.created, r.size, r.sender, r.account);
            for (const [i, address] of r.recipients.entries()) {
              insertRecipient.run(r.id, i, address, r.created);
            }
            db.exec("RELEASE msg");
          } catch (e) {
            // Only this message fails, unless the rollback fails too (SQLite may have
            // rolled back the whole transaction, as on SQLITE_FULL): then all of them do.
            try {
              db.exec("ROLLBACK TO msg; RELEASE msg");
            } catch {
              throw e;
            }
            failed.add(p);
            p.reject(e);
          }
        }
      });
      this.#commits++;
    } catch (e) {
      let cause = e;
      if (e instanceof SyncFailed) {
        // Committed, but not known to be durable: take the rows back, as nothing of these
        // messages was acknowledged (their files go when each enqueue fails).
        cause = e.cause;
        try {
          db.transaction(() => {
            for (const id of ids) db.stmt("DELETE FROM messages WHERE id = ?").run(id);
          });
        } catch {
          // Left for the worker; a message is never lost by this, at worst sent twice.
        }
      }
      for (const p of batch) if (!failed.has(p)) p.reject(cause);
      return;
    } finally {
      for (const id of ids) this.#unsynced.delete(id);
    }
    for (const p of batch) if (!failed.has(p)) p.resolve();
  }

  /** Stop: enqueues still waiting for their commit fail with `queue is closed`. */
  close(): void {
    if (this.#commitTimer !== undefined) {
      clearTimeout(this.#commitTimer);
      this.#commitTimer = undefined;
    }
    const closed = new Error("queue is closed");
    for (const p of this.#pending.splice(0)) p.reject(closed);
  }
}
