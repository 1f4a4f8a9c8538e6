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
 * - `msg/<id>.eml`: the message as it will be sent: our trace header block, then the content.
 * - `queue.db`: SQLite (WAL, synchronous=FULL; group commits see below) with one `messages`
 *   row per message and one `recipients` row per recipient carrying that recipient's own state
 *   (queued, delivered, failed), attempt count, next attempt time and last error, so retries,
 *   DSNs and `postie queue flush|delete|bounce` can act per recipient.
 * - `lock`: an advisory lock file (see "Orphans" below).
 *
 * Enqueue order, so that a crash at any point loses nothing acknowledged:
 *
 * 1. write `msg/<id>.eml` (create-new), write all, fdatasync, then fsync `msg/` so that the new
 *    entry survives a crash;
 * 2. insert the message row and its recipient rows. The commit (a fsynced WAL frame) is the
 *    moment the message is accepted.
 *
 * Group commit: enqueues that run at the same time share the expensive steps. Their body files
 * are written and synced in parallel, one fsync of `msg/` covers every file created before it
 * started ({@link DirSyncer}), and the rows of all messages whose files are durable by then go
 * into one transaction, each message in its own savepoint (so a failing message does not take
 * the others with it). Every {@link QueueStore.enqueue} still resolves only after the commit
 * that covers its own rows: under load one WAL fsync and one directory fsync serve many
 * messages, and none is acknowledged before it is durable. node:sqlite is synchronous: a
 * COMMIT with synchronous=FULL would block the event loop (every session) for its fsync. So
 * the group commits (of enqueues and of delivery outcomes, {@link QueueStore.settle}) commit
 * with synchronous=NORMAL, which in WAL mode writes the WAL frames without syncing them, and
 * then fdatasync the WAL file off the main thread; only after that fdatasync is the commit
 * reported, as durable as with FULL. Until then its messages are not due for delivery.
 *
 * Orphans: a crash between the two steps leaves a body file without a row (or a `tmp-` file
 * from older versions, which wrote a tmp file and renamed it). Neither was acknowledged, so
 * {@link QueueStore.open} removes them. A process enqueueing holds a shared lock on `lock`
 * from before it creates a body file until after the commit (one lock for all enqueues in
 * flight in the process), and the cleanup runs only when it gets the exclusive lock without
 * waiting. So opening the queue from another process while the server runs (`postie queue
 * list`) never removes a message in flight; the cleanup then simply waits for a later open.
 * Whoever deletes a message later should delete the row first, then the file, so that a crash
 * in between leaves only an orphan for this cleanup.
 *
 * Readers in other processes see committed rows at once: WAL lets them read while the server
 * writes, and `busy_timeout` makes short write conflicts wait instead of failing.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import { DeliveryError, DirSyncer, isNoSpace } from "../delivery/maildir.ts";
import { mkdirDurable, syncDir, writeAll } from "../fs/durable.ts";

/** One recipient of a queued message, with its own delivery state. */
export interface QueueRecipient {
  /** The forward-path address, as given in RCPT TO. */
  address: string;
  /** `queued` until delivered, or failed permanently (a DSN is due or was sent). */
  status: "queued" | "delivered" | "failed";
  /** Delivery attempts made so far. */
  attempts: number;
  /** When the next attempt is due (ISO 8601). */
  nextAttempt: string;
  /** The last error, such as the remote reply to the last failed attempt. */
  lastError?: string;
}

/** A queued message as listed. */
export interface QueuedMessage {
  /** Queue id; sortable by time of enqueue. */
  id: string;
  /** When the message was accepted (ISO 8601). */
  created: string;
  /** Size of the stored body file in bytes (trace header block plus content). */
  size: number;
  /** The reverse-path; "" for the null sender (`MAIL FROM:<>`). */
  sender: string;
  /** The authenticated submitter, if any. */
  account?: string;
  /** Recipients in RCPT order. */
  recipients: QueueRecipient[];
}

/** What {@link QueueStore.enqueue} stores. */
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

/** Options for {@link QueueStore.open}. */
export interface QueueStoreOptions {
  /**
   * The clock for ids, `created` and the first `nextAttempt`.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** Queue ids: base36 time (9), sequence (3), random (6); lower-case letters and digits. */
const QUEUE_ID_REGEXP = /^[0-9a-z]{18}$/;
const BODY_SUFFIX = ".eml";
const TMP_PREFIX = "tmp-";

const encoder = new TextEncoder();

let lastMs = -1;
let seq = 0;

/** A new queue id: sortable by time (monotonic within this process) and unique. */
export function newQueueId(now: Date): string {
  let ms = Math.max(now.getTime(), 0);
  if (ms <= lastMs) {
    ms = lastMs;
    seq++;
    if (seq >= 36 ** 3) {
      ms++;
      seq = 0;
    }
  } else {
    seq = 0;
  }
  lastMs = ms;
  const random = crypto.getRandomValues(new Uint32Array(1))[0]! % 36 ** 6;
  return ms.toString(36).padStart(9, "0") + seq.toString(36).padStart(3, "0") +
    random.toString(36).padStart(6, "0");
}

function queueError(what: string, e: unknown): DeliveryError {
  if (isNoSpace(e)) {
    return new DeliveryError("Insufficient disk space", 452, "4.3.1", { cause: e });
  }
  const detail = e instanceof Error ? e.message : String(e);
  return new DeliveryError(`${what}: ${detail}`, 451, "4.3.0", { cause: e });
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

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

type Row = Record<string, string | number | null>;

/** A commit went through but the fdatasync after it failed: it may not be durable. */
class SyncFailed extends Error {
  constructor(cause: unknown) {
    super(`Cannot sync the queue database: ${cause instanceof Error ? cause.message : cause}`, {
      cause,
    });
    this.name = "SyncFailed";
  }
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

interface PendingSettle {
  updates: readonly RecipientUpdate[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface PendingCommit {
  rows: PendingRows;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Bodies up to this size are written with one write (and kept in memory for the worker). */
const SMALL_BODY = 256 * 1024;
/** Most bytes of bodies kept in memory. */
const BODY_CACHE_BYTES = 16 * 1024 * 1024;

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
  readonly #db: DatabaseSync;
  readonly #msgDir: string;
  readonly #lockPath: string;
  readonly #now: () => Date;
  readonly #insertMessage: StatementSync;
  readonly #insertRecipient: StatementSync;
  readonly #dirSyncer = new DirSyncer();
  /** Rows waiting for the next group commit. */
  readonly #pending: PendingCommit[] = [];
  #commitTimer: ReturnType<typeof setTimeout> | undefined;
  /** The shared lock on `lock` while enqueues are in flight, and how many hold it. */
  #lock: Promise<Deno.FsFile> | null = null;
  #lockHolders = 0;
  #enqueueCommits = 0;
  /**
   * Bodies of messages this process enqueued lately, oldest first, so that the worker
   * usually sends them without reading the file back; at most {@link BODY_CACHE_BYTES}.
   */
  readonly #bodies = new Map<string, Uint8Array>();
  #bodyBytes = 0;
  /** The WAL file, for {@link QueueStore.#commitDurably}; without it commits sync themselves. */
  #wal: Deno.FsFile | undefined;
  /** Messages committed whose commit is not yet known durable: not due for delivery yet. */
  readonly #unsynced = new Set<string>();
  /** Prepared statements by SQL text: preparing costs more than running, on every call. */
  readonly #statements = new Map<string, StatementSync>();
  /** Outcomes waiting for the next group commit of {@link QueueStore.settle}. */
  readonly #settling: PendingSettle[] = [];
  #settleTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(db: DatabaseSync, queueDir: string, now: () => Date) {
    this.#db = db;
    this.#msgDir = join(queueDir, "msg");
    this.#lockPath = join(queueDir, "lock");
    this.#now = now;
    this.#insertMessage = db.prepare(
      "INSERT INTO messages (id, created, size, sender, account) VALUES (?, ?, ?, ?, ?)",
    );
    this.#insertRecipient = db.prepare(
      "INSERT INTO recipients (message_id, seq, address, status, attempts, next_attempt) " +
        "VALUES (?, ?, ?, 'queued', 0, ?)",
    );
  }

  /**
   * Open (and create if needed) the queue in `<dataDir>/queue/`, then remove orphan body files
   * left by a crash, unless a message is being enqueued right now (see the module doc).
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
    const db = new DatabaseSync(join(queueDir, "queue.db"));
    let store: QueueStore;
    try {
      // busy_timeout first: switching to WAL may have to wait for another process.
      db.exec("PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
      db.exec("PRAGMA foreign_keys=ON;");
      const version = db.prepare("PRAGMA user_version").get() as { user_version: number };
      if (version.user_version < 1) db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
      store = new QueueStore(db, queueDir, options.now ?? (() => new Date()));
    } catch (e) {
      db.close();
      throw e;
    }
    try {
      // Make the entries of queue.db and its WAL durable before anything is accepted.
      await syncDir(queueDir);
      // The WAL, for the group commits' own fdatasync (see #commitDurably). It exists from the
      // first read in WAL mode and stays while our connection is open; kept open until close()
      // (closing another descriptor of a file can drop a process's POSIX locks on it).
      store.#wal = await Deno.open(join(queueDir, "queue.db-wal"), { read: true }).catch(
        () => undefined,
      );
      const lock = await Deno.open(store.#lockPath, {
        read: true,
        write: true,
        create: true,
        mode: 0o600,
      });
      lock.close();
      await store.#removeOrphans();
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  /** Remove body files that have no row, and tmp files, if no enqueue is in flight anywhere. */
  async #removeOrphans(): Promise<void> {
    const lock = await Deno.open(this.#lockPath, { read: true, write: true });
    try {
      if (!await lock.tryLock(true)) return; // an enqueue is in flight: clean up another time
      const names: string[] = [];
      for await (const e of Deno.readDir(this.#msgDir)) names.push(e.name);
      const ids = new Set(
        (this.#stmt("SELECT id FROM messages").all() as { id: string }[]).map((r) => r.id),
      );
      for (const name of names) {
        const orphan = name.startsWith(TMP_PREFIX) ||
          (name.endsWith(BODY_SUFFIX) && !ids.has(name.slice(0, -BODY_SUFFIX.length)));
        if (orphan) await removeIfExists(join(this.#msgDir, name));
      }
    } finally {
      lock.close(); // releases the lock
    }
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
    if (req.id !== undefined && this.has(req.id)) return req.id;
    const id = req.id ?? newQueueId(now);
    const dest = this.bodyPath(id);
    const header = encoder.encode(req.header);
    const size = req.content.reduce((n, p) => n + p.length, header.length);

    // Shared lock from before the body file exists until after the commit, so that no open()
    // in any process takes this message for an orphan.
    try {
      await this.#holdLock();
    } catch (e) {
      throw queueError("Cannot queue message", e);
    }
    let body: Uint8Array | undefined;
    try {
      try {
        const file = await Deno.open(
          dest,
          req.id === undefined ? { write: true, createNew: true, mode: 0o600 } : {
            write: true,
            create: true,
            truncate: true,
            mode: 0o600,
          },
        );
        try {
          if (size <= SMALL_BODY) {
            // One write instead of one per part: small messages are the common case.
            body = new Uint8Array(size);
            body.set(header, 0);
            let off = header.length;
            for (const part of req.content) {
              body.set(part, off);
              off += part.length;
            }
            await writeAll(file, body);
          } else {
            await writeAll(file, header);
            for (const part of req.content) await writeAll(file, part);
          }
          await file.syncData();
        } finally {
          file.close();
        }
        await this.#dirSyncer.sync(this.#msgDir);
      } catch (e) {
        await removeIfExists(dest).catch(() => {});
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
        await removeIfExists(dest).catch(() => {});
        throw queueError("Cannot record queued message", e);
      }
      if (body) this.#keepBody(id, body);
      return id;
    } finally {
      this.#releaseLock();
    }
  }

  /** How many group commits of enqueued rows this store made (diagnostics and tests). */
  get enqueueCommits(): number {
    return this.#enqueueCommits;
  }

  /** Take (or share) this process's shared lock on `lock` for one enqueue. */
  async #holdLock(): Promise<void> {
    this.#lockHolders++;
    try {
      if (!this.#lock) {
        const opening = (async () => {
          const f = await Deno.open(this.#lockPath, { read: true, write: true });
          try {
            await f.lock(false);
          } catch (e) {
            f.close();
            throw e;
          }
          return f;
        })();
        this.#lock = opening;
        opening.catch(() => {
          if (this.#lock === opening) this.#lock = null;
        });
      }
      await this.#lock;
    } catch (e) {
      this.#releaseLock();
      throw e;
    }
  }

  /** Drop one enqueue's share of the lock; the last one closes the file (releasing it). */
  #releaseLock(): void {
    if (--this.#lockHolders > 0) return;
    const held = this.#lock;
    this.#lock = null;
    held?.then((f) => f.close(), () => {});
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
    try {
      if (!this.#db.isOpen) throw new Error("queue is closed");
      // Not due for delivery until the commit is durable (a crash before would deliver a
      // message that was never acknowledged, and the client sends it again).
      for (const id of ids) this.#unsynced.add(id);
      await this.#commitDurably(() => {
        for (const p of batch) {
          const r = p.rows;
          this.#db.exec("SAVEPOINT msg");
          try {
            this.#insertMessage.run(r.id, r.created, r.size, r.sender, r.account);
            for (const [i, address] of r.recipients.entries()) {
              this.#insertRecipient.run(r.id, i, address, r.created);
            }
            this.#db.exec("RELEASE msg");
          } catch (e) {
            // Only this message fails, unless the rollback fails too (SQLite may have
            // rolled back the whole transaction, as on SQLITE_FULL): then all of them do.
            try {
              this.#db.exec("ROLLBACK TO msg; RELEASE msg");
            } catch {
              throw e;
            }
            failed.add(p);
            p.reject(e);
          }
        }
      });
      this.#enqueueCommits++;
    } catch (e) {
      let cause = e;
      if (e instanceof SyncFailed) {
        // Committed, but not known to be durable: take the rows back, as nothing of these
        // messages was acknowledged (their files go when each enqueue fails).
        cause = e.cause;
        try {
          this.#transaction(() => {
            for (const id of ids) this.#stmt("DELETE FROM messages WHERE id = ?").run(id);
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

  /**
   * Run `fn` in a transaction and make it durable without blocking the event loop for the
   * fsync: the COMMIT runs with synchronous=NORMAL (in WAL mode SQLite then writes the WAL
   * frames but does not sync them; checkpoints still sync the WAL before and the database
   * after), and an fdatasync of the WAL file, which runs off the main thread, follows. The
   * promise resolves after that fdatasync, when the commit is as durable as with
   * synchronous=FULL. Other statements of this connection keep synchronous=FULL.
   */
  async #commitDurably(fn: () => void): Promise<void> {
    const wal = this.#wal;
    if (!wal) {
      this.#transaction(fn); // synchronous=FULL
      return;
    }
    this.#db.exec("PRAGMA synchronous=NORMAL");
    try {
      this.#transaction(fn);
    } finally {
      if (this.#db.isOpen) this.#db.exec("PRAGMA synchronous=FULL");
    }
    try {
      await wal.syncData();
    } catch (e) {
      throw new SyncFailed(e);
    }
  }

  #stmt(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) this.#statements.set(sql, st = this.#db.prepare(sql));
    return st;
  }

  /** All queued messages, oldest first. */
  list(): QueuedMessage[] {
    const messages = this.#stmt(
      "SELECT id, created, size, sender, account FROM messages ORDER BY created, id",
    ).all() as Row[];
    const byId = new Map<string, QueueRecipient[]>();
    const rows = this.#stmt(
      "SELECT message_id, address, status, attempts, next_attempt, last_error FROM recipients " +
        "ORDER BY message_id, seq",
    ).all() as Row[];
    for (const r of rows) {
      const id = String(r["message_id"]);
      let list = byId.get(id);
      if (!list) byId.set(id, list = []);
      list.push(toRecipient(r));
    }
    return messages.map((m) => toMessage(m, byId.get(String(m["id"])) ?? []));
  }

  /** Whether a message with this id is queued. */
  has(id: string): boolean {
    return this.#stmt("SELECT 1 AS x FROM messages WHERE id = ?").get(id) !== undefined;
  }

  /** One queued message, or undefined when there is none with that id. */
  get(id: string): QueuedMessage | undefined {
    const m = this.#stmt(
      "SELECT id, created, size, sender, account FROM messages WHERE id = ?",
    ).get(id) as Row | undefined;
    if (!m) return undefined;
    const rows = this.#stmt(
      "SELECT address, status, attempts, next_attempt, last_error FROM recipients " +
        "WHERE message_id = ? ORDER BY seq",
    ).all(id) as Row[];
    return toMessage(m, rows.map(toRecipient));
  }

  /**
   * The body file of a message (trace header block plus content).
   *
   * @throws {TypeError} when `id` is not a queue id, so no path is built from bad input.
   */
  bodyPath(id: string): string {
    if (!QUEUE_ID_REGEXP.test(id)) {
      throw new TypeError(`Invalid queue id "${id}": expected 18 characters of a-z and 0-9`);
    }
    return join(this.#msgDir, `${id}${BODY_SUFFIX}`);
  }

  /** The body of a queued message (trace header block plus content). */
  readBody(id: string): Promise<Uint8Array> {
    const cached = this.#bodies.get(id);
    return cached ? Promise.resolve(cached) : Deno.readFile(this.bodyPath(id));
  }

  #keepBody(id: string, body: Uint8Array): void {
    this.#bodies.set(id, body);
    this.#bodyBytes += body.length;
    for (const [old, b] of this.#bodies) {
      if (this.#bodyBytes <= BODY_CACHE_BYTES) break;
      this.#forgetBody(old, b);
    }
  }

  #forgetBody(id: string, body = this.#bodies.get(id)): void {
    if (body && this.#bodies.delete(id)) this.#bodyBytes -= body.length;
  }

  /** Queued recipients whose next attempt is due, oldest message first. */
  due(now: Date, limit = 1000): DueRecipient[] {
    const rows = this.#stmt(
      "SELECT r.message_id, r.seq, r.address, r.attempts, m.created, m.sender FROM recipients r " +
        "JOIN messages m ON m.id = r.message_id WHERE r.status = 'queued' AND r.next_attempt <= ? " +
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
    }));
  }

  /** Record the outcome of attempts, all in one transaction (crash-safe). */
  record(updates: readonly RecipientUpdate[]): void {
    this.#transaction(() => {
      for (const u of updates) this.#update(u);
    });
  }

  /**
   * Record the outcome of attempts, as {@link QueueStore.record} does, committed together with
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
      const finish = this.#stmt(
        "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM recipients r WHERE " +
          "r.message_id = ?1 AND (r.status = 'queued' OR (r.status = 'failed' AND r.notified = 0)))",
      );
      await this.#commitDurably(() => {
        for (const b of batch) for (const u of b.updates) this.#update(u);
        for (const id of touched) if (Number(finish.run(id).changes) > 0) finished.push(id);
      });
    } catch (e) {
      for (const b of batch) b.reject(e);
      return;
    }
    // The rows are gone; a crash before the files are leaves orphans for open() to remove.
    for (const id of finished) this.#forgetBody(id);
    await Promise.all(finished.map((id) => removeIfExists(this.bodyPath(id)).catch(() => {})));
    for (const b of batch) b.resolve();
  }

  #update(u: RecipientUpdate): void {
    this.#stmt(
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
    const rows = this.#stmt(
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
    const stmt = this.#stmt(
      "UPDATE recipients SET notified = 1 WHERE message_id = ? AND seq = ?",
    );
    this.#transaction(() => {
      for (const k of keys) stmt.run(k.messageId, k.seq);
    });
  }

  /**
   * Remove messages that are finished: no recipient queued, every failed one reported. The
   * row goes first, then the body (a crash between leaves an orphan file that open() removes).
   */
  async removeFinished(): Promise<string[]> {
    const ids = (this.#stmt(
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
      ? this.#stmt("UPDATE recipients SET next_attempt = ? WHERE status = 'queued'")
        .run(now)
      : this.#stmt(
        "UPDATE recipients SET next_attempt = ? WHERE status = 'queued' AND message_id = ?",
      ).run(now, id);
    return Number(r.changes);
  }

  /** Give up on a message now: its queued recipients fail and the sender gets a DSN. */
  bounce(id: string, reason = "delivery cancelled by the administrator"): number {
    const r = this.#stmt(
      "UPDATE recipients SET status = 'failed', last_error = ?, status_code = '5.0.0', " +
        "notified = 0 WHERE message_id = ? AND status = 'queued'",
    ).run(reason, id);
    return Number(r.changes);
  }

  /** Delete a message without telling anyone. Returns whether it existed. */
  async delete(id: string): Promise<boolean> {
    const path = this.bodyPath(id);
    const r = this.#stmt("DELETE FROM messages WHERE id = ?").run(id);
    this.#forgetBody(id);
    await removeIfExists(path);
    return Number(r.changes) > 0;
  }

  #transaction(fn: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      fn();
      this.#db.exec("COMMIT");
    } catch (e) {
      // SQLite may have rolled back already (SQLITE_FULL): keep the original error.
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /** Close the database. Enqueues still waiting for their commit fail (451, nothing kept). */
  close(): void {
    if (this.#commitTimer !== undefined) {
      clearTimeout(this.#commitTimer);
      this.#commitTimer = undefined;
    }
    if (this.#settleTimer !== undefined) {
      clearTimeout(this.#settleTimer);
      this.#settleTimer = undefined;
    }
    const closed = new Error("queue is closed");
    for (const p of this.#pending.splice(0)) p.reject(closed);
    for (const p of this.#settling.splice(0)) p.reject(closed);
    this.#statements.clear();
    this.#bodies.clear();
    this.#bodyBytes = 0;
    if (this.#db.isOpen) this.#db.close();
    this.#wal?.close();
    this.#wal = undefined;
  }
}

/** A recipient due for an attempt. */
export interface DueRecipient {
  messageId: string;
  seq: number;
  address: string;
  attempts: number;
  created: Date;
  sender: string;
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

function toRecipient(r: Row): QueueRecipient {
  const out: QueueRecipient = {
    address: String(r["address"]),
    status: String(r["status"]) as QueueRecipient["status"],
    attempts: Number(r["attempts"]),
    nextAttempt: String(r["next_attempt"]),
  };
  if (r["last_error"] != null) out.lastError = String(r["last_error"]);
  return out;
}

function toMessage(m: Row, recipients: QueueRecipient[]): QueuedMessage {
  const out: QueuedMessage = {
    id: String(m["id"]),
    created: String(m["created"]),
    size: Number(m["size"]),
    sender: String(m["sender"]),
    recipients,
  };
  if (m["account"] != null) out.account = String(m["account"]);
  return out;
}

/** Control characters (which a remote reply could carry) shown as \xNN, not sent to a tty. */
function printable(s: string): string {
  // deno-lint-ignore no-control-regex
  const control = /[\x00-\x1f\x7f-\x9f]/g;
  return s.replace(control, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** A duration as "45s", "12m", "3h05m" or "2d04h"; negative (clock skew) counts as 0. */
function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}

function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function formatRecipient(r: QueueRecipient, now: Date): string {
  const parts = [`${r.status}, ${r.attempts} ${r.attempts === 1 ? "attempt" : "attempts"}`];
  if (r.status === "queued") {
    const wait = Date.parse(r.nextAttempt) - now.getTime();
    parts.push(wait > 0 ? `next in ${formatDuration(wait)}` : "due now");
  }
  const line = `    ${printable(r.address)}  ${parts.join(", ")}`;
  return r.lastError === undefined ? line : `${line}: ${printable(r.lastError)}`;
}

/**
 * Render the queue for `postie queue list`: a table of id, age, size and sender (`<>` for the
 * null sender), each message followed by one indented line per recipient with its status,
 * attempts, next attempt and last error, then a summary line. No trailing newline.
 *
 * @param messages as returned by {@link QueueStore.list}.
 * @param now the reference time for ages.
 * @returns the text, or "queue is empty".
 *
 * @example
 * ```ts
 * import { formatQueueList } from "./store.ts";
 * formatQueueList([]); // "queue is empty"
 * ```
 */
export function formatQueueList(messages: QueuedMessage[], now: Date = new Date()): string {
  if (messages.length === 0) return "queue is empty";
  const rows = messages.map((m) => ({
    id: m.id,
    age: formatDuration(now.getTime() - Date.parse(m.created)),
    size: formatSize(m.size),
    sender: m.sender === "" ? "<>" : printable(m.sender),
  }));
  const w = {
    id: Math.max(2, ...rows.map((r) => r.id.length)),
    age: Math.max(3, ...rows.map((r) => r.age.length)),
    size: Math.max(4, ...rows.map((r) => r.size.length)),
  };
  const line = (id: string, age: string, size: string, sender: string) =>
    `${id.padEnd(w.id)}  ${age.padStart(w.age)}  ${size.padStart(w.size)}  ${sender}`;
  const out = [line("ID", "AGE", "SIZE", "SENDER")];
  let pending = 0;
  let total = 0;
  for (const [i, m] of messages.entries()) {
    const r = rows[i]!;
    out.push(line(r.id, r.age, r.size, r.sender));
    for (const rcpt of m.recipients) {
      out.push(formatRecipient(rcpt, now));
      total++;
      if (rcpt.status === "queued") pending++;
    }
  }
  const n = messages.length;
  out.push(
    `${n} ${n === 1 ? "message" : "messages"}, ${total} ${
      total === 1 ? "recipient" : "recipients"
    } (${pending} queued)`,
  );
  return out.join("\n");
}
