/**
 * The message operations of {@link AccountMail}: APPEND (RFC 3501 §6.3.11, MULTIAPPEND RFC
 * 3502, APPENDUID RFC 4315 §3), COPY / MOVE (RFC 3501 §6.4.7, RFC 6851, COPYUID RFC 4315 §3),
 * STORE (RFC 3501 §6.4.6, modseq RFC 7162 §3.1), EXPUNGE / UID EXPUNGE (RFC 3501 §6.4.3,
 * RFC 4315 §2.1) and reading a message. AccountMail serialises them per account and passes a
 * {@link MailContext}; they are apart only to keep files short.
 *
 * Every one changes the disk first (file written and fsynced, renamed, its directory fsynced)
 * and commits the index after, durably, before it resolves; a crash in between leaves files
 * the next sync adopts or expunges (see maildir_sync.ts), never a lost message.
 *
 * @module
 */

import { join } from "node:path";
import type { DirSyncer } from "../../delivery/maildir.ts";
import { isNoSpace } from "../../delivery/maildir.ts";
import { writeAll } from "../../fs/durable.ts";
import { MailStoreError } from "./errors.ts";
import {
  applyFlags,
  Flag,
  type Flags,
  infoWithSystem,
  parseFlags,
  sameFlags,
  type StoreMode,
  systemFromInfo,
} from "./flags.ts";
import type { IndexDb, MailboxRow, MessageRow } from "./index_db.ts";
import { lettersOf, type NameMaker, resolveMessageFile } from "./maildir_sync.ts";
import type { MailboxView } from "./mailbox_view.ts";

/** Changes to announce to the views of a mailbox. */
export interface Changes {
  added?: MessageRow[];
  flagged?: MessageRow[];
  expunged?: number[];
}

/** What the operations need from {@link AccountMail}. */
export interface MailContext {
  db: IndexDb;
  syncer: DirSyncer;
  names: NameMaker;
  /** The Maildir of a mailbox. */
  dirOf(row: MailboxRow): string;
  /** Inside a commit: give messages just added to the first read-write view, if any. */
  claimRecentInTx(mailboxId: number): void;
  /** After a commit: tell the views (all but `origin` for flag changes). */
  publish(mailboxId: number, changes: Changes, origin?: MailboxView): void;
}

/** One message to APPEND. */
export interface AppendInput {
  /** The message, whole or in pieces. */
  data: Uint8Array | readonly Uint8Array[];
  /** Flags to set (RFC 3501 §6.3.11); `\Recent` is ignored. */
  flags?: readonly string[];
  /** INTERNALDATE (RFC 3501 §2.3.3); default now. */
  internalDate?: Date;
}

/** The result of APPEND: for `APPENDUID uidvalidity uid-set` (RFC 4315 §3). */
export interface AppendResult {
  uidvalidity: number;
  uids: number[];
}

/** The result of COPY / MOVE: for `COPYUID uidvalidity src dst` (RFC 4315 §3). */
export interface CopyResult {
  uidvalidity: number;
  /** `[source uid, new uid]`, by source UID; messages already expunged are absent. */
  mapping: [number, number][];
}

/** One message after STORE. */
export interface StoreResult {
  uid: number;
  /** The flags now (without `\Recent`). */
  flags: Flags;
  modseq: number;
  /** False when the STORE did not change this message. */
  changed: boolean;
}

function cannotWrite(e: unknown): never {
  if (isNoSpace(e)) throw new MailStoreError("OVERQUOTA", "Not enough disk space", { cause: e });
  throw e;
}

/** APPEND several messages to `target`, all or none (MULTIAPPEND, RFC 3502 §6.3.11). */
export async function appendMessages(
  ctx: MailContext,
  target: MailboxRow,
  items: readonly AppendInput[],
): Promise<AppendResult> {
  const flags = items.map((i) => parseFlags(i.flags ?? []));
  const dir = ctx.dirOf(target);
  const written: { tmp: string; dest: string; base: string; info: string; size: number }[] = [];
  try {
    for (const [n, item] of items.entries()) {
      const parts = item.data instanceof Uint8Array ? [item.data] : item.data;
      const size = parts.reduce((s, p) => s + p.length, 0);
      const base = ctx.names.next(size);
      const info = ":2," + infoWithSystem("", flags[n]!.system);
      const tmp = join(dir, "tmp", base);
      written.push({ tmp, dest: join(dir, "cur", base + info), base, info, size });
      const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
      try {
        for (const p of parts) await writeAll(file, p);
        if (item.internalDate) await file.utime(item.internalDate, item.internalDate);
        await file.sync(); // data, size and mtime (the INTERNALDATE)
      } finally {
        file.close();
      }
    }
  } catch (e) {
    await Promise.all(written.map((w) => Deno.remove(w.tmp).catch(() => {})));
    cannotWrite(e);
  }
  const dates: number[] = [];
  for (const w of written) {
    await Deno.rename(w.tmp, w.dest);
    dates.push((await Deno.stat(w.dest)).mtime?.getTime() ?? Date.now());
  }
  await ctx.syncer.sync(join(dir, "cur"));
  const rows: MessageRow[] = [];
  await ctx.db.commit(() => {
    const modseq = ctx.db.nextModseq(target.id);
    let uid = ctx.db.takeUids(target.id, written.length);
    for (const [n, w] of written.entries()) {
      const row: MessageRow = {
        uid: uid++,
        base: w.base,
        info: w.info,
        system: flags[n]!.system,
        keywords: flags[n]!.keywords,
        modseq,
        internalDate: dates[n]!,
        size: w.size,
      };
      ctx.db.insertMessage(target.id, row);
      rows.push(row);
    }
    ctx.claimRecentInTx(target.id);
  });
  ctx.publish(target.id, { added: rows });
  return { uidvalidity: target.uidvalidity, uids: rows.map((r) => r.uid) };
}

/** The rows of `uids` in `mailboxId` that still exist, by UID. */
function rowsOf(db: IndexDb, mailboxId: number, uids: readonly number[]): MessageRow[] {
  const out: MessageRow[] = [];
  for (const uid of [...new Set(uids)].sort((a, b) => a - b)) {
    const r = db.message(mailboxId, uid);
    if (r) out.push(r);
  }
  return out;
}

/**
 * COPY (hard link, or a copy fsynced when linking is impossible) or MOVE (rename; RFC 6851
 * §3.3: the source messages are expunged in the same index transaction) messages of
 * `source` to `target`. New UIDs in the target, flags and INTERNALDATE kept.
 */
export async function copyMessages(
  ctx: MailContext,
  source: MailboxRow,
  uids: readonly number[],
  target: MailboxRow,
  move: boolean,
): Promise<CopyResult> {
  const srcDir = ctx.dirOf(source);
  const dstDir = ctx.dirOf(target);
  const rows = rowsOf(ctx.db, source.id, uids);
  const done: { row: MessageRow; base: string; info: string; dest: string; from: string }[] = [];
  try {
    for (const row of rows) {
      const file = await resolveMessageFile(srcDir, row.base, row.info);
      if (!file) continue; // removed by another program; the next sync expunges it
      const base = ctx.names.next(row.size);
      const info = file.info.startsWith(":2,") ? file.info : ":2,";
      const dest = join(dstDir, "cur", base + info);
      if (move) await Deno.rename(file.path, dest);
      else await linkOrCopy(file.path, join(dstDir, "tmp", base), dest);
      done.push({ row, base, info, dest, from: file.path });
    }
  } catch (e) {
    // Undo, so that a refused COPY / MOVE changed nothing (RFC 6851 §3.3).
    await Promise.all(
      done.map((d) => (move ? Deno.rename(d.dest, d.from) : Deno.remove(d.dest)).catch(() => {})),
    );
    cannotWrite(e);
  }
  await ctx.syncer.sync(join(dstDir, "cur"));
  if (move) {
    await Promise.all([ctx.syncer.sync(join(srcDir, "cur")), ctx.syncer.sync(join(srcDir, "new"))]);
  }
  const added: MessageRow[] = [];
  const mapping: [number, number][] = [];
  await ctx.db.commit(() => {
    if (done.length === 0) return;
    const modseq = ctx.db.nextModseq(target.id);
    let uid = ctx.db.takeUids(target.id, done.length);
    for (const d of done) {
      // The flags the file name says (another program may have renamed it since the last
      // sync): the index must agree with the name, or no later sync would notice.
      const system = systemFromInfo(lettersOf(d.info));
      const row: MessageRow = { ...d.row, uid: uid++, base: d.base, info: d.info, system, modseq };
      ctx.db.insertMessage(target.id, row);
      added.push(row);
      mapping.push([d.row.uid, row.uid]);
    }
    if (move) {
      const srcModseq = ctx.db.nextModseq(source.id);
      for (const d of done) ctx.db.expungeMessage(source.id, d.row.uid, srcModseq);
    }
    ctx.claimRecentInTx(target.id);
  });
  // RFC 6851 §4.3: the target's new messages may be announced before the source's expunges.
  ctx.publish(target.id, { added });
  if (move) ctx.publish(source.id, { expunged: done.map((d) => d.row.uid) });
  const fresh = ctx.db.mailboxById(target.id);
  return { uidvalidity: fresh?.uidvalidity ?? target.uidvalidity, mapping };
}

async function linkOrCopy(src: string, tmp: string, dest: string): Promise<void> {
  try {
    await Deno.link(src, dest); // same inode: bodies are never rewritten, so sharing is safe
    return;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) throw e;
  }
  await Deno.copyFile(src, tmp);
  const st = await Deno.stat(src);
  const f = await Deno.open(tmp, { read: true, write: true });
  try {
    if (st.mtime) await f.utime(st.atime ?? st.mtime, st.mtime);
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, dest);
}

/**
 * STORE: change the flags of `uids` (RFC 3501 §6.4.6). System flags go into the file name
 * (rename within `cur/`, fsynced), keywords into the index; each changed message gets the
 * mailbox's next modseq (one for the whole command, RFC 7162 §3.1.1).
 */
export async function storeFlags(
  ctx: MailContext,
  mailbox: MailboxRow,
  uids: readonly number[],
  mode: StoreMode,
  flagNames: readonly string[],
  origin: MailboxView | undefined,
): Promise<StoreResult[]> {
  const change = parseFlags(flagNames);
  const dir = ctx.dirOf(mailbox);
  const results: StoreResult[] = [];
  const changed: { row: MessageRow; flags: Flags; info: string; result: StoreResult }[] = [];
  let renamed = false;
  for (let row of rowsOf(ctx.db, mailbox.id, uids)) {
    let next = applyFlags({ system: row.system, keywords: row.keywords }, mode, change);
    if (sameFlags(next, { system: row.system, keywords: row.keywords })) {
      results.push({ uid: row.uid, flags: next, modseq: row.modseq, changed: false });
      continue;
    }
    let info = ":2," + infoWithSystem(lettersOf(row.info), next.system);
    if (info !== row.info) {
      let from = join(dir, "cur", row.base + row.info);
      try {
        await Deno.rename(from, join(dir, "cur", row.base + info));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        // Renamed by another program: start from the flags its name says now.
        const file = await resolveMessageFile(dir, row.base, row.info);
        if (!file) continue; // gone; the next sync expunges it
        row = { ...row, info: file.info, system: systemFromInfo(lettersOf(file.info)) };
        next = applyFlags({ system: row.system, keywords: row.keywords }, mode, change);
        info = ":2," + infoWithSystem(lettersOf(file.info), next.system);
        from = file.path;
        await Deno.rename(from, join(dir, "cur", row.base + info));
      }
      renamed = true;
    }
    const result: StoreResult = { uid: row.uid, flags: next, modseq: 0, changed: true };
    results.push(result);
    changed.push({ row, flags: next, info, result });
  }
  if (renamed) {
    await Promise.all([ctx.syncer.sync(join(dir, "cur")), ctx.syncer.sync(join(dir, "new"))]);
  }
  if (changed.length === 0) return results;
  const flagged: MessageRow[] = [];
  await ctx.db.commit(() => {
    const modseq = ctx.db.nextModseq(mailbox.id);
    for (const c of changed) {
      ctx.db.updateFlags(mailbox.id, c.row.uid, c.info, c.flags.system, c.flags.keywords, modseq);
      c.result.modseq = modseq;
      flagged.push({
        ...c.row,
        info: c.info,
        system: c.flags.system,
        keywords: c.flags.keywords,
        modseq,
      });
    }
  });
  ctx.publish(mailbox.id, { flagged }, origin);
  return results;
}

/**
 * EXPUNGE: remove the `\Deleted` messages of `mailbox` (only those in `uids` when given: UID
 * EXPUNGE, RFC 4315 §2.1). Files are unlinked and `cur/` fsynced, then rows replaced by
 * tombstones. Returns the expunged UIDs, ascending.
 */
export async function expungeMessages(
  ctx: MailContext,
  mailbox: MailboxRow,
  uids: readonly number[] | undefined,
): Promise<number[]> {
  const dir = ctx.dirOf(mailbox);
  const only = uids ? new Set(uids) : undefined;
  const victims = ctx.db.messages(mailbox.id).filter((m) =>
    (m.system & Flag.Deleted) !== 0 && (!only || only.has(m.uid))
  );
  if (victims.length === 0) return [];
  const removed: MessageRow[] = [];
  for (const m of victims) {
    try {
      await Deno.remove(join(dir, "cur", m.base + m.info));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      // Renamed by another program: expunge only if its name still says \Deleted (if not,
      // the next sync reports the flag change); a file already gone is expunged.
      const file = await resolveMessageFile(dir, m.base, m.info);
      if (file && (systemFromInfo(lettersOf(file.info)) & Flag.Deleted) === 0) continue;
      if (file) await Deno.remove(file.path);
    }
    removed.push(m);
  }
  if (removed.length === 0) return [];
  await Promise.all([ctx.syncer.sync(join(dir, "cur")), ctx.syncer.sync(join(dir, "new"))]);
  await ctx.db.commit(() => {
    const modseq = ctx.db.nextModseq(mailbox.id);
    for (const m of removed) ctx.db.expungeMessage(mailbox.id, m.uid, modseq);
  });
  const gone = removed.map((m) => m.uid);
  ctx.publish(mailbox.id, { expunged: gone });
  return gone;
}

/** The bytes of message `uid`, or null when it is gone (its file is looked up by base name). */
export async function readMessage(
  ctx: MailContext,
  mailbox: MailboxRow,
  uid: number,
): Promise<Uint8Array | null> {
  const row = ctx.db.message(mailbox.id, uid);
  if (!row) return null;
  const dir = ctx.dirOf(mailbox);
  for (let attempt = 0; attempt < 3; attempt++) {
    const file = await resolveMessageFile(dir, row.base, row.info);
    if (!file) return null;
    try {
      return await Deno.readFile(file.path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // renamed meanwhile: look again
    }
  }
  return null;
}
