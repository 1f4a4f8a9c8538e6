/**
 * The delivery state of queued recipients, and the changes to it: which recipients are due,
 * recording the outcomes of attempts ({@link RecipientStates.settle} in group commits, like
 * the enqueues), which recipients the sender must be told about (DSNs and delay warnings), and
 * the operator's `postie queue flush|delete|bounce`.
 *
 * A message is finished when no recipient is queued and every failed one was reported; it is
 * then deleted, its row first, then its body file (a crash between leaves an orphan file that
 * the next open removes).
 *
 * @module
 */

import type { MessageFiles } from "./message_files.ts";
import type { QueueDatabase, Row } from "./queue_database.ts";

/** A recipient due for an attempt. */
export interface DueRecipient {
  messageId: string;
  seq: number;
  address: string;
  attempts: number;
  created: Date;
  sender: string;
  /** The authenticated submitter of the message, if any. */
  account?: string;
}

/** The outcome of one attempt for one recipient. */
export interface RecipientUpdate {
  messageId: string;
  seq: number;
  status: "queued" | "delivered" | "failed";
  /** Count this as an attempt. */
  attempted: boolean;
  nextAttempt?: Date;
  lastError?: string;
  statusCode?: string;
  remoteMta?: string;
}

/** A recipient to report to the sender (DSN). */
export interface NoticeRecipient {
  messageId: string;
  seq: number;
  address: string;
  status: "failed" | "queued";
  lastError?: string;
  statusCode?: string;
  remoteMta?: string;
  created: Date;
  sender: string;
}

interface PendingSettle {
  updates: readonly RecipientUpdate[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Reading and changing the per-recipient delivery state of the queue. */
export class RecipientStates {
  readonly #db: QueueDatabase;
  readonly #files: MessageFiles;
  readonly #unsynced: ReadonlySet<string>;
  readonly #now: () => Date;
  /** Outcomes waiting for the next group commit of {@link RecipientStates.settle}. */
  readonly #settling: PendingSettle[] = [];
  #settleTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param unsynced messages whose commit is not yet durable; they are not due yet.
   * @param now the clock for {@link RecipientStates.flush}.
   */
  constructor(
    db: QueueDatabase,
    files: MessageFiles,
    unsynced: ReadonlySet<string>,
    now: () => Date,
  ) {
    this.#db = db;
    this.#files = files;
    this.#unsynced = unsynced;
    this.#now = now;
  }

  /** Queued recipients whose next attempt is due, oldest message first. */
  due(now: Date, limit = 1000): DueRecipient[] {
    const rows = this.#db.stmt(
      "SELECT r.message_id, r.seq, r.address, r.attempts, m.created, m.sender, m.account " +
        "FROM recipients r JOIN messages m ON m.id = r.message_id " +
        "WHERE r.status = 'queued' AND r.next_attempt <= ? " +
        "AND m.held IS NULL " +
        "ORDER BY m.created, r.message_id, r.seq LIMIT ?",
    ).all(now.toISOString(), limit) as Row[];
    const ready = this.#unsynced.size === 0
      ? rows
      : rows.filter((r) => !this.#unsynced.has(String(r["message_id"])));
    return ready.map((r) => ({
      messageId: String(r["message_id"]),
      seq: Number(r["seq"]),
      address: String(r["address"]),
      attempts: Number(r["attempts"]),
      created: new Date(String(r["created"])),
      sender: String(r["sender"]),
      ...(r["account"] ? { account: String(r["account"]) } : {}),
    }));
  }

  /** Record the outcome of attempts, all in one transaction (crash-safe). */
  record(updates: readonly RecipientUpdate[]): void {
    this.#db.transaction(() => {
      for (const u of updates) this.#update(u);
    });
  }

  /**
   * Record the outcome of attempts, as {@link RecipientStates.record} does, committed together with
   * the outcomes of concurrent callers: one transaction and one WAL fsync for all of them
   * (node:sqlite blocks the event loop for each commit). In the same transaction the messages
   * these updates finish (no recipient queued, every failed one reported) are deleted; their
   * body files are removed after the commit. Resolves after the commit.
   */
  settle(updates: readonly RecipientUpdate[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#settling.push({ updates, resolve, reject });
      this.#settleTimer ??= setTimeout(() => this.#settlePending(), 0);
    });
  }

  async #settlePending(): Promise<void> {
    this.#settleTimer = undefined;
    const batch = this.#settling.splice(0);
    const finished: string[] = [];
    try {
      if (!this.#db.isOpen) throw new Error("queue is closed");
      const touched = new Set(batch.flatMap((b) => b.updates.map((u) => u.messageId)));
      const finish = this.#db.stmt(
        "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM recipients r WHERE " +
          "r.message_id = ?1 AND (r.status = 'queued' OR (r.status = 'failed' AND r.notified = 0)))",
      );
      await this.#db.commitDurably(() => {
        for (const b of batch) for (const u of b.updates) this.#update(u);
        for (const id of touched) if (Number(finish.run(id).changes) > 0) finished.push(id);
      });
    } catch (e) {
      for (const b of batch) b.reject(e);
      return;
    }
    // The rows are gone; a crash before the files are leaves orphans for open() to remove.
    await Promise.all(finished.map((id) => this.#files.remove(id).catch(() => {})));
    for (const b of batch) b.resolve();
  }

  #update(u: RecipientUpdate): void {
    this.#db.stmt(
      // A newly failed recipient must be reported, even if a delay warning went out before.
      "UPDATE recipients SET notified = CASE WHEN ?1 = 'failed' THEN 0 ELSE notified END, " +
        "status = ?1, attempts = attempts + ?, next_attempt = " +
        "COALESCE(?, next_attempt), last_error = COALESCE(?, last_error), status_code = " +
        "COALESCE(?, status_code), remote_mta = COALESCE(?, remote_mta) " +
        "WHERE message_id = ? AND seq = ?",
    ).run(
      u.status,
      u.attempted ? 1 : 0,
      u.nextAttempt?.toISOString() ?? null,
      u.lastError ?? null,
      u.statusCode ?? null,
      u.remoteMta ?? null,
      u.messageId,
      u.seq,
    );
  }

  /**
   * Recipients the sender must be told about: failed ones not yet reported, and (when
   * `delayedBefore` is given) still queued ones of messages older than that, not yet warned.
   */
  notices(delayedBefore?: Date): NoticeRecipient[] {
    const rows = this.#db.stmt(
      "SELECT r.message_id, r.seq, r.address, r.status, r.last_error, r.status_code, " +
        "r.remote_mta, m.created, m.sender FROM recipients r JOIN messages m ON m.id = r.message_id " +
        "WHERE r.notified = 0 AND (r.status = 'failed' OR (r.status = 'queued' AND m.created < ?)) " +
        "ORDER BY m.created, r.message_id, r.seq",
    ).all(delayedBefore?.toISOString() ?? "") as Row[];
    return rows.map((r) => ({
      messageId: String(r["message_id"]),
      seq: Number(r["seq"]),
      address: String(r["address"]),
      status: String(r["status"]) as "failed" | "queued",
      ...(r["last_error"] != null ? { lastError: String(r["last_error"]) } : {}),
      ...(r["status_code"] != null ? { statusCode: String(r["status_code"]) } : {}),
      ...(r["remote_mta"] != null ? { remoteMta: String(r["remote_mta"]) } : {}),
      created: new Date(String(r["created"])),
      sender: String(r["sender"]),
    }));
  }

  /** Mark recipients as reported to the sender. */
  markNotified(keys: readonly { messageId: string; seq: number }[]): void {
    const stmt = this.#db.stmt(
      "UPDATE recipients SET notified = 1 WHERE message_id = ? AND seq = ?",
    );
    this.#db.transaction(() => {
      for (const k of keys) stmt.run(k.messageId, k.seq);
    });
  }

  /**
   * Remove messages that are finished: no recipient queued, every failed one reported. The
   * row goes first, then the body (a crash between leaves an orphan file that open() removes).
   */
  async removeFinished(): Promise<string[]> {
    const ids = (this.#db.stmt(
      "SELECT id FROM messages m WHERE NOT EXISTS (SELECT 1 FROM recipients r WHERE " +
        "r.message_id = m.id AND (r.status = 'queued' OR (r.status = 'failed' AND r.notified = 0)))",
    ).all() as Row[]).map((r) => String(r["id"]));
    for (const id of ids) await this.delete(id);
    return ids;
  }

  /** Make every queued recipient (of one message, or all) due now. Returns how many. */
  flush(id?: string): number {
    const now = this.#now().toISOString();
    const r = id === undefined
      ? this.#db.stmt("UPDATE recipients SET next_attempt = ? WHERE status = 'queued'")
        .run(now)
      : this.#db.stmt(
        "UPDATE recipients SET next_attempt = ? WHERE status = 'queued' AND message_id = ?",
      ).run(now, id);
    return Number(r.changes);
  }

  /**
   * Hold the messages of `which` (one message id, or every message of an account, and then
   * also what the account submits until it is released): they are not delivered until
   * released. Returns how many queued messages were held now.
   */
  hold(which: { id: string } | { account: string }, reason: string): number {
    if ("account" in which) {
      // Also what the account submits from now on, until released.
      this.#db.stmt(
        "INSERT INTO held_accounts (account, reason, since) VALUES (?, ?, ?) " +
          "ON CONFLICT(account) DO NOTHING",
      ).run(which.account, reason, this.#now().toISOString());
    }
    const r = "id" in which
      ? this.#db.stmt("UPDATE messages SET held = ? WHERE id = ? AND held IS NULL").run(
        reason,
        which.id,
      )
      : this.#db.stmt("UPDATE messages SET held = ? WHERE account = ? AND held IS NULL").run(
        reason,
        which.account,
      );
    return Number(r.changes);
  }

  /** Release held messages (one, or an account's): due now. Returns how many were released. */
  release(which: { id: string } | { account: string }): number {
    const where = "id" in which ? "id = ?" : "account = ?";
    const key = "id" in which ? which.id : which.account;
    let n = 0;
    this.#db.transaction(() => {
      const ids = (this.#db.stmt(`SELECT id FROM messages WHERE ${where} AND held IS NOT NULL`)
        .all(key) as Row[]).map((r) => String(r["id"]));
      for (const id of ids) {
        this.#db.stmt("UPDATE messages SET held = NULL WHERE id = ?").run(id);
        this.#db.stmt(
          "UPDATE recipients SET next_attempt = ? WHERE message_id = ? AND status = 'queued'",
        ).run(this.#now().toISOString(), id);
      }
      n = ids.length;
      if ("account" in which) {
        this.#db.stmt("DELETE FROM held_accounts WHERE account = ?").run(which.account);
      }
    });
    return n;
  }

  /**
   * Held messages expire like others (RFC 5321 §4.5.4.1): those created before `before` fail
   * now and their sender gets a DSN. Returns how many recipients failed.
   */
  expireHeld(before: Date, reason: string): number {
    const r = this.#db.stmt(
      "UPDATE recipients SET status = 'failed', last_error = ?, status_code = '4.4.7', " +
        "notified = 0 WHERE status = 'queued' AND message_id IN " +
        "(SELECT id FROM messages WHERE held IS NOT NULL AND created < ?)",
    ).run(reason, before.toISOString());
    return Number(r.changes);
  }

  /** Give up on a message now: its queued recipients fail and the sender gets a DSN. */
  bounce(id: string, reason = "delivery cancelled by the administrator"): number {
    const r = this.#db.stmt(
      "UPDATE recipients SET status = 'failed', last_error = ?, status_code = '5.0.0', " +
        "notified = 0 WHERE message_id = ? AND status = 'queued'",
    ).run(reason, id);
    return Number(r.changes);
  }

  /** Delete a message without telling anyone. Returns whether it existed. */
  async delete(id: string): Promise<boolean> {
    this.#files.path(id); // a bad id throws before anything is deleted
    const r = this.#db.stmt("DELETE FROM messages WHERE id = ?").run(id);
    await this.#files.remove(id);
    return Number(r.changes) > 0;
  }

  /** Stop: outcomes still waiting for their commit fail with `queue is closed`. */
  close(): void {
    if (this.#settleTimer !== undefined) {
      clearTimeout(this.#settleTimer);
      this.#settleTimer = undefined;
    }
    const closed = new Error("queue is closed");
    for (const p of this.#settling.splice(0)) p.reject(closed);
  }
}
