/**
 * The outbound queue: accepted mail for non-local recipients, kept on disk until the delivery
 * engine has sent it, bounced it, or an operator has deleted it.
 *
 * Once the server answers 250 to the end of DATA it has taken responsibility for the message
 * and "MUST NOT lose the message for frivolous reasons, such as because the host later crashes
 * or because of a predictable resource shortage" (RFC 5321 §6.1; also §4.5.4.1, where the
 * sender-SMTP keeps a message queued until each recipient is delivered or failed). So
 * {@link QueueStore.enqueue} resolves only when the message is durable, and the caller replies
 * 250 only after that; any failure is a 4xx and the client keeps the message.
 *
 * Layout under `<data_dir>/queue/` (directories mode 0700, files 0600):
 *
 * - `msg/<id>.eml`: the message as it will be sent: our trace header block, then the content
 *   (`message_files.ts`).
 * - `queue.db`: SQLite (WAL, synchronous=FULL; group commits see `commit_durably.ts`) with one
 *   `messages` row per message and one `recipients` row per recipient carrying that
 *   recipient's own state (`queue_database.ts`).
 * - `lock`: an advisory lock file that keeps the orphan cleanup of {@link QueueStore.open} away
 *   from messages being enqueued (`queue_lock.ts`).
 *
 * {@link QueueStore} puts the parts together: enqueueing with group commit (`enqueuer.ts`),
 * the recipients' delivery state and its changes (`recipient_states.ts`), and the messages as
 * listed (`queued_message.ts`; `format_queue_list.ts` renders them for `postie queue list`).
 *
 * Readers in other processes see committed rows at once: WAL lets them read while the server
 * writes, and `busy_timeout` makes short write conflicts wait instead of failing.
 *
 * @module
 */

import { join } from "node:path";
import { mkdirDurable } from "../fs/durable.ts";
import { Enqueuer, type EnqueueRequest } from "./enqueuer.ts";
import { MessageFiles } from "./message_files.ts";
import { QueueDatabase } from "./queue_database.ts";
import { QueueLock } from "./queue_lock.ts";
import {
  countMessages,
  getMessage,
  hasMessage,
  listMessages,
  type QueueCounts,
  type QueuedMessage,
} from "./queued_message.ts";
import {
  type DueRecipient,
  type NoticeRecipient,
  RecipientStates,
  type RecipientUpdate,
} from "./recipient_states.ts";

/** Options for {@link QueueStore.open}. */
export interface QueueStoreOptions {
  /**
   * The clock for ids, `created` and the first `nextAttempt`.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/**
 * The outbound queue on disk (see the module doc for the layout and durability rules).
 *
 * @example
 * ```ts ignore
 * const queue = await QueueStore.open("/var/lib/postie");
 * const id = await queue.enqueue({
 *   sender: "alice@example.test",
 *   recipients: ["bob@example.net"],
 *   header: "Received: from ...\r\n",
 *   content: [new TextEncoder().encode("Subject: hi\r\n\r\nhello\r\n")],
 * });
 * // Only now reply "250 2.0.0 Ok: queued as <id>".
 * queue.close();
 * ```
 */
export class QueueStore {
  readonly #db: QueueDatabase;
  readonly #files: MessageFiles;
  readonly #lock: QueueLock;
  readonly #enqueuer: Enqueuer;
  readonly #states: RecipientStates;

  private constructor(db: QueueDatabase, queueDir: string, now: () => Date) {
    this.#db = db;
    this.#files = new MessageFiles(join(queueDir, "msg"));
    this.#lock = new QueueLock(join(queueDir, "lock"));
    this.#enqueuer = new Enqueuer(db, this.#files, this.#lock, now);
    this.#states = new RecipientStates(db, this.#files, this.#enqueuer.unsynced, now);
  }

  /**
   * Open (and create if needed) the queue in `<dataDir>/queue/`, then remove orphan body files
   * left by a crash, unless a message is being enqueued right now (see `queue_lock.ts`).
   *
   * Safe to call from another process while the server has the queue open.
   *
   * @param dataDir the server's data directory.
   * @returns the open store; call {@link QueueStore.close} when done.
   */
  static async open(dataDir: string, options: QueueStoreOptions = {}): Promise<QueueStore> {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const queueDir = join(dataDir, "queue");
    await mkdirDurable(queueDir);
    await mkdirDurable(join(queueDir, "msg"));
    const db = await QueueDatabase.open(queueDir);
    const store = new QueueStore(db, queueDir, options.now ?? (() => new Date()));
    try {
      await store.#lock.create();
      // Body files that have no row, and tmp files, if no enqueue is in flight anywhere.
      await store.#lock.ifIdle(() =>
        store.#files.removeOrphans(() =>
          new Set(
            (db.stmt("SELECT id FROM messages").all() as { id: string }[]).map((r) => r.id),
          )
        )
      );
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  /**
   * Store a message durably (see {@link Enqueuer.enqueue}): when this resolves the message is
   * accepted and the caller may reply 250; when it rejects nothing of it is left behind.
   *
   * @param req the envelope, trace header block and content.
   * @returns the queue id.
   * @throws {DeliveryError} 452 4.3.1 when the disk is full, 451 4.3.0 for other trouble.
   * @throws {TypeError} when there are no recipients.
   */
  enqueue(req: EnqueueRequest): Promise<string> {
    return this.#enqueuer.enqueue(req);
  }

  /** How many group commits of enqueued rows this store made (diagnostics and tests). */
  get enqueueCommits(): number {
    return this.#enqueuer.commits;
  }

  /** All queued messages, oldest first. */
  list(): QueuedMessage[] {
    return listMessages(this.#db);
  }

  /** How many messages (and held ones, and recipients to deliver) are queued; cheap. */
  counts(): QueueCounts {
    return countMessages(this.#db);
  }

  /** Whether a message with this id is queued. */
  has(id: string): boolean {
    return hasMessage(this.#db, id);
  }

  /** One queued message, or undefined when there is none with that id. */
  get(id: string): QueuedMessage | undefined {
    return getMessage(this.#db, id);
  }

  /**
   * The body file of a message (trace header block plus content).
   *
   * @throws {TypeError} when `id` is not a queue id, so no path is built from bad input.
   */
  bodyPath(id: string): string {
    return this.#files.path(id);
  }

  /** The body of a queued message (trace header block plus content). */
  readBody(id: string): Promise<Uint8Array> {
    return this.#files.read(id);
  }

  /** Queued recipients whose next attempt is due, oldest message first. */
  due(now: Date, limit?: number): DueRecipient[] {
    return this.#states.due(now, limit);
  }

  /** Record the outcome of attempts, all in one transaction (crash-safe). */
  record(updates: readonly RecipientUpdate[]): void {
    this.#states.record(updates);
  }

  /**
   * Record the outcome of attempts in a group commit with those of concurrent callers, and
   * delete the messages they finish (see {@link RecipientStates.settle}). Resolves after the
   * commit.
   */
  settle(updates: readonly RecipientUpdate[]): Promise<void> {
    return this.#states.settle(updates);
  }

  /**
   * Recipients the sender must be told about: failed ones not yet reported, and (when
   * `delayedBefore` is given) still queued ones of messages older than that, not yet warned.
   */
  notices(delayedBefore?: Date): NoticeRecipient[] {
    return this.#states.notices(delayedBefore);
  }

  /** Mark recipients as reported to the sender. */
  markNotified(keys: readonly { messageId: string; seq: number }[]): void {
    this.#states.markNotified(keys);
  }

  /** Remove messages that are finished: no recipient queued, every failed one reported. */
  removeFinished(): Promise<string[]> {
    return this.#states.removeFinished();
  }

  /** Make every queued recipient (of one message, or all) due now. Returns how many. */
  flush(id?: string): number {
    return this.#states.flush(id);
  }

  /** Hold one message or an account's messages (not delivered until released). */
  hold(which: { id: string } | { account: string }, reason: string): number {
    return this.#states.hold(which, reason);
  }

  /** Release held messages: due now. */
  release(which: { id: string } | { account: string }): number {
    return this.#states.release(which);
  }

  /** Held messages older than `before` fail (and bounce) like other mail that waited too long. */
  expireHeld(before: Date, reason: string): number {
    return this.#states.expireHeld(before, reason);
  }

  /** Give up on a message now: its queued recipients fail and the sender gets a DSN. */
  bounce(id: string, reason?: string): number {
    return this.#states.bounce(id, reason);
  }

  /** Delete a message without telling anyone. Returns whether it existed. */
  delete(id: string): Promise<boolean> {
    return this.#states.delete(id);
  }

  /** Close the database. Enqueues still waiting for their commit fail (451, nothing kept). */
  close(): void {
    this.#enqueuer.close();
    this.#states.close();
    this.#files.clear();
    this.#db.close();
  }
}
