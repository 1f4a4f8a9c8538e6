/**
 * Reconciling a mailbox's index with its Maildir directory.
 *
 * Mail reaches a Maildir by many routes (postie's spool, fetchmail, procmail, a script, a
 * Dovecot running on the same files), and other programs rename files to change flags or
 * remove them. {@link syncMailbox} makes the index agree with the directory, reading names
 * only (two `readdir`s) and `stat`ing only files the index does not know:
 *
 * - a file in `new/` gets the next UID (RFC 3501 §2.3.1.1: UIDs ascend in order of arrival;
 *   several new files are ordered by mtime, then name, which is stable across retries) and is
 *   renamed to `cur/<base>:2,` (its flags, if it had an info part, kept);
 * - a file in `cur/` the index does not know gets a UID the same way (a rebuilt index, or a
 *   file a crash left between rename and commit);
 * - a known base name whose info letters differ from the index is a flag change by another
 *   program: new system flags, a new modseq (RFC 7162 §3.1), reported as `flagged`;
 * - a known base name that is on disk no more is an expunge: the row goes, a tombstone with
 *   the modseq stays. Before concluding that, both directories are listed again, since a
 *   rename racing with the first `readdir` can hide a file from it (`new/` is read before
 *   `cur/` for the same reason: a file moving from `new/` to `cur/` is seen at least once).
 *
 * Ordering for crashes: files are renamed first, `cur/` and `new/` fsynced, then the index
 * transaction is committed. A crash in between leaves a file the next sync adopts; nothing is
 * lost and no UID is given twice. Base names are unique per mailbox (the Maildir spec's
 * uniqueness), so a base name identifies a message for the index; a second file with a base
 * name already present is left alone.
 *
 * Bodies are never read or rewritten here. `size` is the file size, `internalDate` its mtime
 * (what Dovecot uses too; APPEND sets the mtime to the INTERNALDATE it was given).
 *
 * @module
 */

import { join } from "node:path";
import { createMaildir, DirSyncer } from "../../delivery/maildir.ts";
import type { IndexDb, MailboxRow, MessageRow } from "./index_db.ts";
import { systemFromInfo } from "./flags.ts";

/** The parts of a Maildir file name. */
export interface MaildirName {
  /** The unique part, before the first `:`. */
  base: string;
  /** The rest including the `:` (`":2,FS"`), or "" when there is none. */
  info: string;
}

/** Split a Maildir file name. */
export function splitName(name: string): MaildirName {
  const colon = name.indexOf(":");
  return colon < 0
    ? { base: name, info: "" }
    : { base: name.slice(0, colon), info: name.slice(colon) };
}

/** The flag letters of an info part (`":2,FS"` → `"FS"`), "" for other or no info. */
export function lettersOf(info: string): string {
  return info.startsWith(":2,") ? info.slice(3) : "";
}

/** What one sync changed, in UID order. */
export interface SyncResult {
  added: MessageRow[];
  flagged: MessageRow[];
  expunged: { uid: number; modseq: number }[];
}

interface Entry {
  sub: "new" | "cur";
  name: string;
  base: string;
  info: string;
}

/** List `new/` then `cur/` (see module doc), skipping dot files. */
export async function listMaildir(dir: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const sub of ["new", "cur"] as const) {
    try {
      for await (const e of Deno.readDir(join(dir, sub))) {
        if (e.name.startsWith(".") || e.isDirectory) continue;
        out.push({ sub, name: e.name, ...splitName(e.name) });
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return out;
}

/**
 * The current path of the message with `base` (another program may have renamed it), or
 * null when it is gone. `hint` is the name the index last knew, tried first.
 */
export async function resolveMessageFile(
  dir: string,
  base: string,
  hint: string,
): Promise<{ path: string; info: string; sub: "new" | "cur" } | null> {
  const first = join(dir, "cur", base + hint);
  try {
    await Deno.lstat(first);
    return { path: first, info: hint, sub: "cur" };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const e of await listMaildir(dir)) {
    if (e.base === base) return { path: join(dir, e.sub, e.name), info: e.info, sub: e.sub };
  }
  return null;
}

/** Options of {@link syncMailbox}. */
export interface SyncOptions {
  /** Shared directory fsyncs. */
  syncer?: DirSyncer;
  /** Called at the end of the index transaction that adds messages (to claim `\Recent`). */
  inTransaction?: () => void;
}

/**
 * Bring the index of `mailbox` (whose Maildir is `dir`) in line with the directory (see module
 * doc) and commit. The caller serialises syncs and other changes of one account.
 */
export async function syncMailbox(
  db: IndexDb,
  mailbox: MailboxRow,
  dir: string,
  options: SyncOptions = {},
): Promise<SyncResult> {
  const syncer = options.syncer ?? new DirSyncer();
  await createMaildir(dir);
  const known = new Map<string, MessageRow>();
  for (const m of db.messages(mailbox.id)) known.set(m.base, m);

  let entries = await listMaildir(dir);
  let present = presence(entries);
  if ([...known.keys()].some((b) => !present.has(b))) {
    // Confirm before expunging: a rename may have hidden a file from the first listing.
    entries = await listMaildir(dir);
    present = presence(entries);
  }

  const flagChanges: { row: MessageRow; info: string; system: number }[] = [];
  const infoOnly: { uid: number; info: string }[] = [];
  const unknown: (Entry & { mtime: number; size: number })[] = [];
  const moves: { from: string; to: string; entry: Entry; row?: MessageRow }[] = [];
  for (const [base, e] of present) {
    const row = known.get(base);
    if (e.sub === "new") {
      const info = row ? (row.info.startsWith(":2,") ? row.info : ":2,") : (
        e.info.startsWith(":2,") ? e.info : ":2,"
      );
      moves.push({
        from: join(dir, "new", e.name),
        to: join(dir, "cur", base + info),
        entry: e,
        row,
      });
      continue;
    }
    if (row) {
      if (row.info !== e.info) {
        const system = systemFromInfo(lettersOf(e.info));
        if (system !== row.system) flagChanges.push({ row, info: e.info, system });
        else infoOnly.push({ uid: row.uid, info: e.info });
      }
    } else {
      unknown.push({ ...e, mtime: 0, size: 0 });
    }
  }

  let movedSomething = false;
  for (const m of moves) {
    try {
      await Deno.rename(m.from, m.to);
      movedSomething = true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // taken by another program; next sync
      throw e;
    }
    const info = splitName(m.to.slice(m.to.lastIndexOf("/") + 1)).info;
    if (m.row) {
      if (m.row.info !== info) infoOnly.push({ uid: m.row.uid, info });
    } else {unknown.push({
        sub: "cur",
        name: m.entry.base + info,
        base: m.entry.base,
        info,
        mtime: 0,
        size: 0,
      });}
  }
  if (movedSomething) {
    await Promise.all([syncer.sync(join(dir, "cur")), syncer.sync(join(dir, "new"))]);
  }

  const adopt: typeof unknown = [];
  for (const u of unknown) {
    try {
      const st = await Deno.stat(join(dir, "cur", u.name));
      u.mtime = st.mtime?.getTime() ?? Date.now();
      u.size = st.size;
      adopt.push(u);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  adopt.sort((a, b) => a.mtime - b.mtime || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const gone = [...known.values()].filter((m) => !present.has(m.base));
  const result: SyncResult = { added: [], flagged: [], expunged: [] };
  if (
    adopt.length === 0 && gone.length === 0 && flagChanges.length === 0 && infoOnly.length === 0
  ) {
    return result;
  }
  await db.commit(() => {
    for (const i of infoOnly) db.updateInfo(mailbox.id, i.uid, i.info);
    if (adopt.length === 0 && gone.length === 0 && flagChanges.length === 0) return;
    const modseq = db.nextModseq(mailbox.id);
    for (const f of flagChanges) {
      db.updateFlags(mailbox.id, f.row.uid, f.info, f.system, f.row.keywords, modseq);
      result.flagged.push({ ...f.row, info: f.info, system: f.system, modseq });
    }
    for (const g of gone) {
      db.expungeMessage(mailbox.id, g.uid, modseq);
      result.expunged.push({ uid: g.uid, modseq });
    }
    if (adopt.length > 0) {
      let uid = db.takeUids(mailbox.id, adopt.length);
      for (const a of adopt) {
        const row: MessageRow = {
          uid: uid++,
          base: a.base,
          info: a.info,
          system: systemFromInfo(lettersOf(a.info)),
          keywords: [],
          modseq,
          internalDate: a.mtime,
          size: a.size,
        };
        db.insertMessage(mailbox.id, row);
        result.added.push(row);
      }
      options.inTransaction?.();
    }
  });
  result.flagged.sort((a, b) => a.uid - b.uid);
  result.expunged.sort((a, b) => a.uid - b.uid);
  return result;
}

/** One entry per base name: `cur/` wins over `new/`, the first of duplicates wins. */
function presence(entries: readonly Entry[]): Map<string, Entry> {
  const map = new Map<string, Entry>();
  for (const e of entries) {
    const had = map.get(e.base);
    if (!had || (had.sub === "new" && e.sub === "cur")) map.set(e.base, e);
  }
  return map;
}

/** Shared by every {@link NameMaker} of the process: two of them (two AccountMail of one
 * Maildir, as after a registry release and reopen) must never make the same name. */
let nameCounter = 0;

/**
 * Unique Maildir file names for files this process writes (APPEND, COPY), in the form of the
 * Maildir spec and of src/delivery/maildir.ts: `<sec>.M<usec>P<pid>Q<n>I.<host>,S=<size>`.
 * The `I` after the counter keeps them apart from the names SMTP delivery makes in the same
 * process (`Q<n>.`); the counter is process-wide.
 */
export class NameMaker {
  readonly #host: string;
  constructor(hostname: string) {
    this.#host = hostname.replaceAll("/", "\\057").replaceAll(":", "\\072");
  }

  /** A new base name for a message of `size` bytes. */
  next(size: number): string {
    const now = Date.now();
    const n = ++nameCounter;
    const usec = (now % 1000) * 1000 + (n % 1000);
    return `${Math.floor(now / 1000)}.M${usec}P${Deno.pid}Q${n}I.${this.#host},S=${size}`;
  }
}
