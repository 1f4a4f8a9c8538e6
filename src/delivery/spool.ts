/**
 * The inbound spool: a group-committed, append-only journal that makes a message durable with
 * one fdatasync shared by every message in flight, so that the 250 after DATA (RFC 5321
 * §4.1.1.4, §6.1: "MUST NOT lose the message") does not wait for per-message file and directory
 * fsyncs. Delivery into the Maildir (and, for remote recipients, into the outbound queue under
 * the queue id chosen at acceptance) follows right after the 250, in the background, and the
 * journal is replayed at start for whatever a crash interrupted.
 *
 * Layout under `<data_dir>/spool/` (mode 0700, files 0600):
 *
 * - `lock`: held exclusively while a server runs, so two processes never replay one journal.
 * - `<seq>.journal`: segments. Records are appended to the newest one; a segment is rolled at
 *   {@link SEGMENT_BYTES} and removed once every message in it is in its Maildirs.
 *
 * Each message is one record, and so is the "done" mark written once it is in every Maildir
 * (the format is in journal_record.ts).
 *
 * Writing: a single writer takes every record that waits, appends them in one write, then
 * fdatasyncs the segment; only then are the callers answered. Records that arrive meanwhile
 * form the next batch. So under load one fdatasync covers many messages (group commit), and
 * no caller hears "durable" before an fdatasync that started after its bytes were written.
 * A failed write or fdatasync fails the whole batch (the client gets 4xx and retries), the
 * segment is cut back to its last good length and a new segment is started for what follows,
 * so a record that was acknowledged is never followed by garbage it depends on.
 *
 * Replay: records are read in order up to the first one that is short or fails its CRC (a
 * batch cut by the crash; none of it was acknowledged, since the fdatasync that would have
 * covered it had not returned). Every message without a done record is delivered again under
 * its recorded file names, skipping mailboxes that already hold that name in `new/` or `cur/`
 * (and a queue id the queue already has), so a message is neither lost nor duplicated. The one remaining window: a message delivered,
 * then deleted by its owner, before its done record reached the disk, comes back once.
 *
 * @module
 */

import { join } from "node:path";
import { DeliveryError, isNoSpace, type MailboxRef, type MaildirStore } from "./maildir.ts";
import { doneRecord, type JournalMeta, messageRecord, parseSegment } from "./journal_record.ts";
import { mkdirDurable, syncDir, writeAll } from "../fs/durable.ts";
import type { EnqueueRequest } from "../queue/enqueuer.ts";
import { newQueueId } from "../queue/queue_id.ts";

/** A segment is rolled once it holds this many bytes. */
export const SEGMENT_BYTES = 32 * 1024 * 1024;

/** Maildir deliveries running at once in the background. */
const DELIVERY_CONCURRENCY = 32;
/**
 * Accepted messages not yet in their Maildirs beyond which a new acceptance waits (delaying
 * its 250) until the backlog is below the limit again: back-pressure, so that a burst the disk
 * cannot keep up with slows the senders down instead of piling up in memory.
 */
export const MAX_BACKLOG = 2_000;
/** The same limit in bytes of message content held in memory for those deliveries. */
export const MAX_BACKLOG_BYTES = 128 * 1024 * 1024;

/** The outbound queue, as the spool hands accepted mail for remote recipients to it. */
export interface SpoolQueue {
  /** Whether the message with this id is queued already (replay after a crash). */
  has(id: string): boolean;
  /** Queue durably under the given id; a message already queued under it is left alone. */
  enqueue(req: EnqueueRequest & { id: string }): Promise<string>;
  /** There is new mail in the queue. */
  kick(): void;
}

/** Options of {@link Spool.open}: limits (the defaults suit a server; tests make them small). */
export interface SpoolOptions {
  backlog?: number;
  backlogBytes?: number;
  /** Where mail for remote recipients goes after acceptance (see {@link Spool.enqueue}). */
  queue?: SpoolQueue;
}
/** Retry delays for a Maildir delivery that failed (disk full, I/O error), capped at the last. */
const RETRY_MS = [1_000, 5_000, 30_000, 60_000];

const encoder = new TextEncoder();

/** What the spool logs through (a LogTape logger fits). */
export interface SpoolLog {
  info(message: string, props?: Record<string, unknown>): void;
  warning(message: string, props?: Record<string, unknown>): void;
  error(message: string, props?: Record<string, unknown>): void;
}

interface Segment {
  seq: number;
  path: string;
  file: Deno.FsFile | null;
  /** Bytes known good (written and synced, or read at replay). */
  size: number;
  /** Messages in this segment not yet durable in their Maildirs. */
  open: number;
  /** No more appends (rolled, or cut after a failure). */
  retired: boolean;
}

interface Job {
  meta: JournalMeta;
  content: readonly Uint8Array[];
  segment: Segment;
  offset: number;
  /** Content bytes (for the back-pressure limit). */
  size: number;
  attempt: number;
  /** From a replay: skip mailboxes that already hold the message. */
  replay?: boolean;
  /** Its remote part is in the outbound queue. */
  queued?: boolean;
}

interface Pending {
  /** The record's pieces (see {@link messageRecord}, {@link doneRecord}). */
  pieces: Uint8Array[];
  /** A done record that should reach the disk soon (not wait for the next message batch). */
  sync?: boolean;
  /** Set for message records: answered after the fdatasync. */
  done?: {
    resolve: (at: { segment: Segment; offset: number }) => void;
    reject: (e: unknown) => void;
  };
}

/**
 * Accepts messages for local mailboxes durably into the journal, then delivers them into the
 * Maildir (see module doc). It has the `deliver` signature of {@link MaildirStore}, so the
 * SMTP session uses either.
 */
export class Spool {
  readonly #dir: string;
  readonly #maildir: MaildirStore;
  readonly #log: SpoolLog;
  readonly #lock: Deno.FsFile;
  readonly #segments = new Map<number, Segment>();
  #active: Segment | null = null;
  #nextSeq: number;
  #pending: Pending[] = [];
  #writing: Promise<void> | null = null;
  readonly #queue: Job[] = [];
  #running = 0;
  #outstanding = 0;
  #idleWaiters: (() => void)[] = [];
  #roomWaiters: (() => void)[] = [];
  #backlogBytes = 0;
  readonly #limits: { backlog: number; backlogBytes: number };
  readonly #queueTarget: SpoolQueue | undefined;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  /** Counters: messages accepted into the journal and the fdatasyncs that made them durable. */
  readonly stats = { messages: 0, syncs: 0 };

  private constructor(
    dir: string,
    maildir: MaildirStore,
    log: SpoolLog,
    lock: Deno.FsFile,
    seq: number,
    options: SpoolOptions,
  ) {
    this.#limits = {
      backlog: options.backlog ?? MAX_BACKLOG,
      backlogBytes: options.backlogBytes ?? MAX_BACKLOG_BYTES,
    };
    this.#queueTarget = options.queue;
    this.#dir = dir;
    this.#maildir = maildir;
    this.#log = log;
    this.#lock = lock;
    this.#nextSeq = seq;
  }

  /**
   * Open `<dataDir>/spool`, take its lock, and start delivering (in the background) whatever an
   * earlier run accepted but did not finish delivering; {@link idle} tells when that is done.
   * @throws if another process holds the spool.
   */
  static async open(
    dataDir: string,
    maildir: MaildirStore,
    log: SpoolLog,
    options: SpoolOptions = {},
  ): Promise<Spool> {
    const dir = join(dataDir, "spool");
    await mkdirDurable(dir);
    const lock = await Deno.open(join(dir, "lock"), {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    if (!await lock.tryLock(true)) {
      lock.close();
      throw new Error(`The spool ${dir} is in use by another postie process`);
    }
    try {
      const seqs: number[] = [];
      for await (const e of Deno.readDir(dir)) {
        const m = /^(\d{1,9})\.journal$/.exec(e.name);
        if (m && e.isFile) seqs.push(Number(m[1]));
      }
      seqs.sort((a, b) => a - b);
      const spool = new Spool(dir, maildir, log, lock, (seqs.at(-1) ?? 0) + 1, options);
      await spool.#replay(seqs);
      return spool;
    } catch (e) {
      lock.close();
      throw e;
    }
  }

  #path(seq: number): string {
    return join(this.#dir, `${String(seq).padStart(9, "0")}.journal`);
  }

  // Queue every message of the old segments that has no done record; the deliveries run in
  // the background like fresh ones, each first skipping mailboxes that already hold it.
  async #replay(seqs: number[]): Promise<void> {
    const done = new Set<string>();
    const found: { seg: Segment; offset: number; meta: JournalMeta; content: Uint8Array }[] = [];
    for (const seq of seqs) {
      const path = this.#path(seq);
      const data = await Deno.readFile(path);
      const { records, good } = parseSegment(data);
      if (good < data.length) {
        // The tail of a batch whose fdatasync never returned: nobody was told 250 for it.
        this.#log.warning("spool segment {seq}: ignoring {bytes} unacknowledged bytes at its end", {
          event: "spool_tail",
          seq,
          bytes: data.length - good,
        });
      }
      const seg: Segment = { seq, path, file: null, size: good, open: 0, retired: true };
      this.#segments.set(seq, seg);
      for (const r of records) {
        if (r.kind === "done") done.add(`${r.segment}:${r.at}`);
        else found.push({ seg, offset: r.offset, meta: r.meta, content: r.content });
      }
    }
    let queued = 0;
    for (const m of found) {
      if (done.has(`${m.seg.seq}:${m.offset}`)) continue;
      m.seg.open++;
      this.#outstanding++;
      this.#queue.push({
        meta: m.meta,
        content: [m.content],
        size: m.content.length,
        segment: m.seg,
        offset: m.offset,
        attempt: 0,
        replay: true,
      });
      this.#backlogBytes += m.content.length;
      queued++;
    }
    if (seqs.length > 0) {
      this.#log.info("spool: {queued} message(s) to deliver after a restart", {
        event: "spool_replay",
        queued,
        segments: seqs.length,
      });
    }
    for (const seg of [...this.#segments.values()]) this.#maybeRemove(seg);
    this.#pump();
  }

  /**
   * Accept a message for local mailboxes: resolves once it is durable in the journal, which is
   * when the server may answer 250. Delivery into the Maildirs follows.
   * @throws {DeliveryError} 452 4.3.1 when the disk is full, 451 4.3.0 for other trouble.
   */
  async deliver(
    boxes: readonly MailboxRef[],
    headerFor: (box: MailboxRef) => string,
    content: readonly Uint8Array[],
  ): Promise<void> {
    const size = content.reduce((n, p) => n + p.length, 0);
    await this.#accept({
      boxes: boxes.map((box) => {
        const header = headerFor(box);
        return {
          box,
          name: this.#maildir.uniqueName(encoder.encode(header).length + size),
          header,
        };
      }),
    }, content);
  }

  /**
   * Accept a message for remote recipients: resolves with its queue id once it is durable in
   * the journal (250); it goes into the outbound queue right after, and again after a crash if
   * it had not got there (the queue ignores an id it already has).
   * @throws {DeliveryError} as {@link deliver}.
   */
  async enqueue(req: EnqueueRequest): Promise<string> {
    if (!this.#queueTarget) throw new Error("The spool has no outbound queue");
    const id = newQueueId(new Date());
    await this.#accept({
      boxes: [],
      queue: {
        id,
        sender: req.sender,
        recipients: req.recipients,
        header: req.header,
        ...(req.account !== undefined ? { account: req.account } : {}),
      },
    }, req.content);
    return id;
  }

  async #accept(meta: JournalMeta, content: readonly Uint8Array[]): Promise<void> {
    if (this.#closed) throw new DeliveryError("Server shutting down", 421, "4.3.2");
    while (
      this.#outstanding >= this.#limits.backlog || this.#backlogBytes >= this.#limits.backlogBytes
    ) {
      await new Promise<void>((r) => this.#roomWaiters.push(r));
      if (this.#closed) throw new DeliveryError("Server shutting down", 421, "4.3.2");
    }
    const size = content.reduce((n, p) => n + p.length, 0);
    const pieces = messageRecord(meta, content);
    let at: { segment: Segment; offset: number };
    try {
      at = await new Promise((resolve, reject) => {
        this.#pending.push({ pieces, done: { resolve, reject } });
        this.#kick();
      });
    } catch (e) {
      if (isNoSpace(e)) {
        throw new DeliveryError("Insufficient disk space", 452, "4.3.1", { cause: e });
      }
      throw new DeliveryError(`Local delivery failed: ${(e as Error).message}`, 451, "4.3.0", {
        cause: e,
      });
    }
    this.#outstanding++;
    this.#backlogBytes += size;
    this.#queue.push({
      meta,
      content,
      size,
      segment: at.segment,
      offset: at.offset,
      attempt: 0,
    });
    this.#pump();
  }

  /** Resolves when every accepted message is in its Maildirs. */
  idle(): Promise<void> {
    if (this.#outstanding === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /**
   * Stop: accept nothing more, wait up to `graceMs` for the deliveries in progress, write what
   * is left and release the lock. What was not delivered yet stays in the journal for the next
   * start.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.idle(),
      new Promise<void>((r) => timer = setTimeout(r, graceMs)),
    ]);
    clearTimeout(timer);
    for (const r of this.#roomWaiters.splice(0)) r(); // they see #closed and answer 421
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    while (this.#writing) await this.#writing;
    const clean = this.#outstanding === 0;
    for (const seg of this.#segments.values()) {
      if (seg.file) {
        if (!clean) await seg.file.syncData().catch(() => {});
        seg.file.close();
        seg.file = null;
      }
      if (clean) await Deno.remove(seg.path).catch(() => {});
    }
    if (clean) await syncDir(this.#dir).catch(() => {});
    this.#lock.close();
  }

  #kick(): void {
    if (!this.#writing) {
      this.#writing = this.#writeLoop().finally(() => this.#writing = null);
    }
  }

  // The single writer: one write and (when a message is in the batch) one fdatasync per batch.
  async #writeLoop(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      const waiters = batch.filter((p) => p.done);
      let seg: Segment;
      try {
        seg = await this.#segment();
      } catch (e) {
        for (const p of waiters) p.done!.reject(e);
        continue;
      }
      let total = 0;
      for (const p of batch) for (const piece of p.pieces) total += piece.length;
      const buf = new Uint8Array(total);
      const offsets: number[] = [];
      let off = 0;
      for (const p of batch) {
        offsets.push(seg.size + off);
        for (const piece of p.pieces) {
          buf.set(piece, off);
          off += piece.length;
        }
      }
      try {
        await writeAll(seg.file!, buf);
        // Done records alone need no fdatasync (except a queued message's, see #deliverJob):
        // the next message batch (or close) covers them, and a replay finds such a message in
        // the Maildir by its name anyway.
        if (waiters.length > 0 || batch.some((p) => p.sync)) {
          await seg.file!.syncData();
          if (waiters.length > 0) this.stats.syncs++;
          this.stats.messages += waiters.length;
        }
        seg.size += total;
      } catch (e) {
        this.#log.error("spool write failed: {error}", { event: "spool_error", error: String(e) });
        await seg.file!.truncate(seg.size).catch(() => {});
        this.#retire(seg);
        for (const p of waiters) p.done!.reject(e);
        continue;
      }
      batch.forEach((p, i) => {
        if (!p.done) return;
        seg.open++; // before the next roll can see this segment as finished
        p.done.resolve({ segment: seg, offset: offsets[i]! });
      });
    }
  }

  // The segment to append to, rolling to a new one when it is full or was cut.
  async #segment(): Promise<Segment> {
    const a = this.#active;
    if (a && !a.retired && a.size < SEGMENT_BYTES) return a;
    if (a) this.#retire(a);
    const seq = this.#nextSeq++;
    const path = this.#path(seq);
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    try {
      // The new name must be durable before any acknowledged record lives in it.
      await syncDir(this.#dir);
    } catch (e) {
      file.close();
      await Deno.remove(path).catch(() => {});
      throw e;
    }
    const seg: Segment = { seq, path, file, size: 0, open: 0, retired: false };
    this.#segments.set(seq, seg);
    this.#active = seg;
    return seg;
  }

  #retire(seg: Segment): void {
    seg.retired = true;
    if (this.#active === seg) this.#active = null;
    this.#maybeRemove(seg);
  }

  // A retired segment whose messages are all in their Maildirs is no longer needed.
  #maybeRemove(seg: Segment): void {
    if (!seg.retired || seg.open > 0 || !this.#segments.has(seg.seq)) return;
    this.#segments.delete(seg.seq);
    const file = seg.file;
    seg.file = null;
    (async () => {
      // A retired segment gets no more writes (the writer only appends to the active one).
      file?.close();
      await Deno.remove(seg.path);
      await syncDir(this.#dir);
    })().catch((e) =>
      this.#log.warning("cannot remove spool segment {path}: {error}", {
        event: "spool_error",
        path: seg.path,
        error: String(e),
      })
    );
  }

  #pump(): void {
    while (this.#running < DELIVERY_CONCURRENCY && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#running++;
      this.#deliverJob(job).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }

  async #deliverJob(job: Job): Promise<void> {
    try {
      const q = job.meta.queue;
      if (q && !job.queued) {
        const target = this.#queueTarget;
        if (!target) throw new Error("The spool has no outbound queue");
        if (!(job.replay && target.has(q.id))) {
          await target.enqueue({ ...q, content: job.content });
          target.kick();
        }
        job.queued = true; // a retry after a Maildir failure does not queue it again
      }
      let boxes = job.meta.boxes;
      if (job.replay) {
        const cur = new Map<string, Set<string>>();
        const missing = [];
        for (const b of boxes) {
          if (!await this.#maildir.contains(b.box, b.name, cur)) missing.push(b);
        }
        boxes = missing;
      }
      if (boxes.length > 0) {
        const headers = new Map(boxes.map((b) => [b.box, b.header]));
        await this.#maildir.deliver(
          boxes.map((b) => b.box),
          (box) => headers.get(box)!,
          job.content,
          boxes.map((b) => b.name),
        );
      }
    } catch (e) {
      // Disk full or an I/O error after the 250: the journal still has the message; try again.
      const delay = RETRY_MS[Math.min(job.attempt, RETRY_MS.length - 1)]!;
      job.attempt++;
      this.#log.error("delivery from the spool failed, retrying in {delay} ms: {error}", {
        event: "spool_delivery_failed",
        delay,
        error: String(e),
        mailboxes: job.meta.boxes.map((b) => b.box.address),
      });
      if (this.#closed) return; // stays in the journal for the next start
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#queue.push(job);
        this.#pump();
      }, delay);
      this.#timers.add(t);
      return;
    }
    if (!this.#closed) {
      // Once the queue may have sent it and forgotten it, a replay would send it again: the
      // done record of a queued message is synced soon (off the 250's path).
      this.#pending.push({
        pieces: doneRecord(job.segment.seq, job.offset),
        ...(job.meta.queue ? { sync: true } : {}),
      });
      this.#kick();
    }
    job.segment.open--;
    this.#maybeRemove(job.segment);
    this.#outstanding--;
    this.#backlogBytes -= job.size;
    this.#roomWaiters.shift()?.(); // the woken caller checks the limits again
    if (this.#outstanding === 0) {
      const w = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const r of w) r();
    }
  }
}
