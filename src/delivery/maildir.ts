/**
 * Durable delivery into Maildir (https://cr.yp.to/proto/maildir.html), readable by Dovecot.
 *
 * One message for several mailboxes is written in two phases so that a failure leaves no
 * partial delivery behind:
 *
 * 1. for every mailbox, write `tmp/<unique>`, fsync the file;
 * 2. only when all are on disk, rename each into `new/` and fsync each `new/` directory.
 *
 * If phase 1 fails (disk full, I/O error) every tmp file is removed and the caller answers
 * 4xx, so the client retries and nothing was delivered twice. Only after phase 2 may the server
 * answer 250 (principle: nothing acknowledged is lost).
 *
 * @module
 */

import { join } from "node:path";
import { mkdirDurable, syncDir, writeAll } from "../fs/durable.ts";

export { syncDir };

/** A mailbox on disk: `<root>/<domain>/<local>/`. */
export interface MailboxRef {
  /** Canonical account address, written as Delivered-To. */
  address: string;
  local: string;
  domain: string;
  /**
   * A Maildir++ folder name such as "Junk" (stored as `.Junk/`, as Dovecot reads it), or
   * undefined for the INBOX.
   */
  folder?: string;
}

/** A failed delivery; `temporary` maps to 4xx, else 5xx. */
export class DeliveryError extends Error {
  readonly temporary: boolean;
  readonly code: number;
  readonly enhanced: string;
  constructor(message: string, code: number, enhanced: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DeliveryError";
    this.code = code;
    this.enhanced = enhanced;
    this.temporary = code < 500;
  }
}

const encoder = new TextEncoder();

/** The directory of a mailbox (or of one of its Maildir++ folders). */
export function mailboxDir(root: string, box: MailboxRef): string {
  const dir = join(root, box.domain, box.local);
  if (box.folder === undefined) return dir;
  if (!/^[A-Za-z0-9_-]+$/.test(box.folder)) throw new TypeError(`Bad folder "${box.folder}"`);
  return join(dir, `.${box.folder}`);
}

/** Create a Maildir (tmp, new, cur) durably, including missing parents. */
export async function createMaildir(dir: string): Promise<void> {
  await mkdirDurable(dir);
  for (const sub of ["tmp", "new", "cur"]) {
    const d = join(dir, sub);
    try {
      await Deno.mkdir(d, { mode: 0o700 });
      await syncDir(dir);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

/**
 * Whether an error means "the disk (or quota) is full": ENOSPC / EDQUOT from the file system,
 * or SQLITE_FULL (node:sqlite sets `errcode` on statement errors but not on exec() errors,
 * as in COMMIT, so the message is matched too).
 */
export function isNoSpace(e: unknown): boolean {
  if ((e as { errcode?: unknown } | null)?.errcode === 13) return true; // SQLITE_FULL
  const msg = e instanceof Error ? `${e.name} ${e.message} ${String(e.cause ?? "")}` : String(e);
  return /ENOSPC|No space left|os error 28|EDQUOT|Disk quota|database or disk is full/i.test(msg);
}

/**
 * Group commit for directory fsyncs: every caller of {@link DirSyncer.sync} gets a promise that
 * resolves after an fsync of that directory which *started after* the call, so its rename is
 * covered; callers that arrive while an fsync runs share the next one. Under load one fsync
 * covers many messages instead of one each, and no caller is answered before its entry is
 * durable.
 */
export class DirSyncer {
  readonly #dirs = new Map<
    string,
    { waiting: (() => void)[]; failed: ((e: unknown) => void)[]; running: boolean }
  >();

  /** Resolve once `dir` was fsynced after this call. */
  sync(dir: string): Promise<void> {
    let st = this.#dirs.get(dir);
    if (!st) this.#dirs.set(dir, st = { waiting: [], failed: [], running: false });
    const state = st;
    const p = new Promise<void>((resolve, reject) => {
      state.waiting.push(resolve);
      state.failed.push(reject);
    });
    if (!state.running) this.#run(dir, state);
    return p;
  }

  async #run(
    dir: string,
    st: { waiting: (() => void)[]; failed: ((e: unknown) => void)[]; running: boolean },
  ): Promise<void> {
    st.running = true;
    while (st.waiting.length > 0) {
      const batch = st.waiting.splice(0);
      const fails = st.failed.splice(0);
      try {
        await syncDir(dir);
        for (const r of batch) r();
      } catch (e) {
        for (const f of fails) f(e);
      }
    }
    st.running = false;
    this.#dirs.delete(dir);
  }
}

/** Writes messages into the Maildirs under `<data_dir>/mail`. */
export class MaildirStore {
  readonly root: string;
  readonly #host: string;
  readonly #ready = new Set<string>();
  readonly #syncer = new DirSyncer();
  #counter = 0;

  /**
   * @param root the `mail` directory.
   * @param hostname used in unique file names; "/" and ":" are escaped as the spec says.
   */
  /**
   * Called with each mailbox directory that received a message, once it is durable in `new/`
   * (the IMAP server wakes the sessions that have it selected, e.g. in IDLE).
   */
  onDelivered: (mailboxDir: string) => void = () => {};

  constructor(root: string, hostname: string) {
    this.root = root;
    this.#host = hostname.replaceAll("/", "\\057").replaceAll(":", "\\072");
  }

  /** A new unique file name for a message of `size` bytes (header block included). */
  uniqueName(size: number): string {
    // time.M<usec>P<pid>Q<counter>.host,S=<size>: unique per host; S= lets Dovecot skip a stat.
    const now = Date.now();
    const sec = Math.floor(now / 1000);
    const usec = (now % 1000) * 1000 + (this.#counter % 1000);
    this.#counter++;
    return `${sec}.M${usec}P${Deno.pid}Q${this.#counter}.${this.#host},S=${size}`;
  }

  async #ensure(dir: string, folder: boolean): Promise<void> {
    if (this.#ready.has(dir)) return;
    await createMaildir(dir);
    if (folder) {
      // Maildir++: a folder is marked by an empty "maildirfolder" file.
      await Deno.writeFile(join(dir, "maildirfolder"), new Uint8Array(), { mode: 0o600 });
    }
    this.#ready.add(dir);
  }

  /**
   * Deliver one message to several mailboxes, all or nothing (see module doc).
   *
   * @param headerFor the trace header block (ending in CRLF) to put above the content for
   *   each mailbox (it carries that mailbox's Delivered-To).
   * @param content the message as received.
   * @param names file names to use, one per mailbox (from {@link uniqueName}); the spool picks
   *   them when it accepts a message so that a replay after a crash writes the same names. An
   *   existing tmp file of that name (left by the crash) is overwritten.
   * @returns the file names written, one per mailbox, in order.
   * @throws {DeliveryError} 452 4.3.1 when the disk is full, 451 4.3.0 for other trouble.
   */
  async deliver(
    boxes: readonly MailboxRef[],
    headerFor: (box: MailboxRef) => string,
    content: readonly Uint8Array[],
    names?: readonly string[],
  ): Promise<string[]> {
    const contentSize = content.reduce((n, p) => n + p.length, 0);
    const written: { tmp: string; dest: string; dir: string }[] = [];
    try {
      for (const [i, box] of boxes.entries()) {
        const dir = mailboxDir(this.root, box);
        await this.#ensure(dir, box.folder !== undefined);
        const header = encoder.encode(headerFor(box));
        const name = names?.[i] ?? this.uniqueName(header.length + contentSize);
        const tmp = join(dir, "tmp", name);
        written.push({ tmp, dest: join(dir, "new", name), dir: join(dir, "new") });
        const file = await Deno.open(
          tmp,
          names ? { write: true, create: true, truncate: true, mode: 0o600 } : {
            write: true,
            createNew: true,
            mode: 0o600,
          },
        );
        try {
          await writeAll(file, header);
          for (const part of content) await writeAll(file, part);
          // fdatasync: the data and the size (needed to read it back), without timestamps.
          await file.syncData();
        } finally {
          file.close();
        }
      }
    } catch (e) {
      await Promise.all(written.map((w) => Deno.remove(w.tmp).catch(() => {})));
      if (isNoSpace(e)) {
        throw new DeliveryError("Insufficient disk space", 452, "4.3.1", { cause: e });
      }
      throw new DeliveryError(`Local delivery failed: ${(e as Error).message}`, 451, "4.3.0", {
        cause: e,
      });
    }
    try {
      for (const w of written) await Deno.rename(w.tmp, w.dest);
      await Promise.all([...new Set(written.map((w) => w.dir))].map((d) => this.#syncer.sync(d)));
    } catch (e) {
      // Renames within one filesystem practically never fail; if one did, the files already in
      // new/ are delivered and a retry could duplicate them. Report a temporary error anyway:
      // a duplicate is better than a loss.
      throw new DeliveryError(`Local delivery failed: ${(e as Error).message}`, 451, "4.3.0", {
        cause: e,
      });
    }
    for (const dir of new Set(written.map((w) => w.dir))) this.onDelivered(join(dir, ".."));
    return written.map((w) => w.dest);
  }

  /**
   * Whether a message file named `name` is in the mailbox: in `new/`, or in `cur/` where a
   * mail reader may have moved it and appended `:2,<flags>`. `curCache` keeps each `cur/`
   * listing for a series of calls (a replay after a crash).
   */
  async contains(
    box: MailboxRef,
    name: string,
    curCache: Map<string, Set<string>> = new Map(),
  ): Promise<boolean> {
    const dir = mailboxDir(this.root, box);
    try {
      await Deno.lstat(join(dir, "new", name));
      return true;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    let cur = curCache.get(dir);
    if (!cur) {
      cur = new Set();
      try {
        for await (const e of Deno.readDir(join(dir, "cur"))) {
          const colon = e.name.indexOf(":");
          cur.add(colon < 0 ? e.name : e.name.slice(0, colon));
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      curCache.set(dir, cur);
    }
    return cur.has(name);
  }
}
