/**
 * SELECT / EXAMINE and the selected-state commands of the IMAP session except FETCH
 * (session_fetch.ts) and SEARCH (session_search.ts): STORE (RFC 3501 §6.4.6), COPY
 * (§6.4.7, COPYUID RFC 4315 §3), MOVE (RFC 6851), EXPUNGE (§6.4.3), UID EXPUNGE (RFC 4315
 * §2.1), CLOSE (§6.4.2), UNSELECT (RFC 3691), CHECK (§6.4.1); and the sequence-set
 * resolution they share (RFC 3501 §6.4.8, §9).
 *
 * @module
 */

import type { Command } from "./parser.ts";
import { contains, largestNumber, type SequenceSet } from "./sequence_set.ts";
import { formatSequenceSet } from "./sequence_set.ts";
import { bad, no, type SessionContext } from "./session_context.ts";

/**
 * The UIDs a set names, ascending, in the session's numbering. For sequence numbers a number
 * above the message count is BAD (RFC 9051 §6.4.8 / RFC 3501 §9 "seq-number": a number that
 * does not exist); for UIDs non-existent ones are ignored and `N:*` always includes the last
 * (RFC 3501 §6.4.8).
 */
export function targetUids(ctx: SessionContext, set: SequenceSet, uid: boolean): number[] {
  if (set.kind === "saved") throw bad("SEARCHRES ($) is not supported");
  const view = ctx.selected;
  const uids = view.uids();
  if (uid) {
    const max = uids[uids.length - 1] ?? 0;
    return uids.filter((u) => contains(set, u, max));
  }
  if (largestNumber(set) > view.exists) throw bad("Invalid message sequence number");
  const out: number[] = [];
  for (let seq = 1; seq <= uids.length; seq++) {
    if (contains(set, seq, uids.length)) out.push(uids[seq - 1]!);
  }
  return out;
}

/**
 * SELECT / EXAMINE (RFC 3501 §6.3.1, §6.3.2): FLAGS, EXISTS, RECENT, OK [UNSEEN],
 * OK [PERMANENTFLAGS], OK [UIDVALIDITY], OK [UIDNEXT], then the tagged OK with READ-WRITE or
 * READ-ONLY. A previously selected mailbox is left first, with `* OK [CLOSED]` (RFC 7162
 * §3.2.11, RFC 9051 §7.1); when the new one fails the state is authenticated (RFC 3501
 * §6.3.1).
 */
export async function selectCommand(
  ctx: SessionContext,
  cmd: Command & { name: "SELECT" | "EXAMINE" },
): Promise<void> {
  const name = ctx.mailboxName(cmd.mailbox);
  if (cmd.params.length > 0) throw bad("SELECT parameters are not supported");
  if (ctx.view) {
    ctx.deselect();
    ctx.status("*", "OK", "Previous mailbox closed", "CLOSED");
  }
  const readOnly = cmd.name === "EXAMINE";
  const info = await ctx.call(() => ctx.store.select(name, readOnly));
  const view = info.view;
  ctx.select(view, info.keywords);
  ctx.flagsResponse();
  ctx.untagged(`${view.exists} EXISTS`);
  ctx.untagged(`${view.recentCount} RECENT`);
  const unseen = info.firstUnseen === null ? undefined : view.seqOf(info.firstUnseen);
  if (unseen !== undefined) ctx.status("*", "OK", `First unseen`, `UNSEEN ${unseen}`);
  ctx.permanentFlagsResponse();
  ctx.status("*", "OK", "UIDs valid", `UIDVALIDITY ${view.uidvalidity}`);
  ctx.status("*", "OK", "Predicted next UID", `UIDNEXT ${info.uidnext}`);
  ctx.result = {
    text: `${cmd.name} completed`,
    code: view.readOnly ? "READ-ONLY" : "READ-WRITE",
  };
}

function writable(ctx: SessionContext): void {
  if (ctx.selected.readOnly) throw no("Mailbox is read-only", "READ-ONLY");
}

/**
 * STORE (RFC 3501 §6.4.6): one untagged FETCH with the new FLAGS per message unless
 * `.SILENT` (with UID for UID STORE, §6.4.8), `\Recent` included when it applies; keywords new
 * to the client are announced first (§7.2.6). Messages expunged meanwhile are skipped and the
 * command ends `OK [EXPUNGEISSUED]` (RFC 2180 §4.2.1, RFC 5530).
 */
export async function storeCommand(ctx: SessionContext, cmd: Command & { name: "STORE" }) {
  if (cmd.unchangedSince !== undefined) throw bad("CONDSTORE is not enabled");
  const view = ctx.selected;
  writable(ctx);
  const uids = targetUids(ctx, cmd.set, cmd.uid);
  if (uids.length === 0) return;
  const mode = cmd.op === "replace" ? "set" : cmd.op;
  const updates = await ctx.call(() => ctx.store.store(view, uids, mode, cmd.flags));
  if (!cmd.silent) {
    for (const u of updates) {
      const seq = view.seqOf(u.uid);
      if (seq === undefined) continue;
      const flags = view.isRecent(u.uid) ? [...u.flags, "\\Recent"] : u.flags;
      ctx.ensureKeywords(flags);
      ctx.untagged(
        `${seq} FETCH (${cmd.uid ? `UID ${u.uid} ` : ""}FLAGS (${flags.join(" ")}))`,
      );
    }
  } else {
    for (const u of updates) ctx.ensureKeywords(u.flags);
  }
  if (updates.length < uids.length) {
    // RFC 2180 §4.2.1 lets STORE either fail or succeed on the rest; succeeding (as Dovecot
    // does) keeps a client's flag change from being lost because another session expunged.
    ctx.result = {
      text: "Store completed, some of the messages no longer exist",
      code: "EXPUNGEISSUED",
    };
  }
}

/**
 * COPY (RFC 3501 §6.4.7) and MOVE (RFC 6851 §3): `NO [TRYCREATE]` for a missing target;
 * COPYUID (RFC 4315 §3) in the tagged OK of COPY, and for MOVE in an untagged OK sent before
 * the EXPUNGE responses (RFC 6851 §4.3).
 */
export async function copyCommand(
  ctx: SessionContext,
  cmd: Command & { name: "COPY" | "MOVE" },
): Promise<void> {
  const view = ctx.selected;
  const move = cmd.name === "MOVE";
  if (move) writable(ctx);
  const target = ctx.mailboxName(cmd.mailbox);
  const uids = targetUids(ctx, cmd.set, cmd.uid);
  if (uids.length === 0) {
    await ctx.call(() => ctx.store.status(target)).catch((e) => {
      throw e.code === "NONEXISTENT" ? no("Mailbox does not exist", "TRYCREATE") : e;
    });
    return;
  }
  const result = await ctx.call(() => ctx.store.copy(view, uids, target, move));
  const code = result.mapping.length === 0 ? undefined : `COPYUID ${result.uidvalidity} ` +
    `${formatSequenceSet(result.mapping.map((m) => m[0]))} ` +
    `${formatSequenceSet(result.mapping.map((m) => m[1]))}`;
  if (move) {
    if (code) ctx.status("*", "OK", "Moved", code);
    ctx.flushUpdates(true, cmd.uid);
    ctx.result = { text: "Move completed" };
  } else {
    ctx.result = { text: "Copy completed", code };
  }
  if (result.mapping.length < uids.length) {
    throw no("Some of the messages no longer exist", "EXPUNGEISSUED");
  }
}

/** EXPUNGE (RFC 3501 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1); the EXPUNGEs follow. */
export async function expungeCommand(ctx: SessionContext, cmd: Command & { name: "EXPUNGE" }) {
  const view = ctx.selected;
  writable(ctx);
  const within = cmd.set ? targetUids(ctx, cmd.set, true) : undefined;
  if (within && within.length === 0) return;
  await ctx.call(() => ctx.store.expunge(view, within));
}

/**
 * CLOSE (RFC 3501 §6.4.2): expunge silently when read-write, leave the mailbox; no EXPUNGE
 * responses. UNSELECT (RFC 3691 §2) leaves without expunging.
 */
export async function closeCommand(ctx: SessionContext, expunge: boolean): Promise<void> {
  const view = ctx.selected;
  try {
    if (expunge && !view.readOnly) await ctx.call(() => ctx.store.expunge(view));
  } finally {
    ctx.deselect();
  }
}
