/**
 * Authenticated-state mailbox commands of the IMAP session (RFC 3501 §6.3): CREATE,
 * DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS (with SIZE, RFC 8438), APPEND with
 * MULTIAPPEND (RFC 3502) and APPENDUID (RFC 4315 §3), NAMESPACE (RFC 2342). LIST and LSUB
 * are in session_list.ts.
 *
 * Store refusals become `NO [code]` (RFC 5530: NONEXISTENT, ALREADYEXISTS, CANNOT,
 * OVERQUOTA; RFC 3501 §6.3.11 TRYCREATE for APPEND to a missing mailbox); see
 * {@link SessionContext.storeFailure}.
 *
 * @module
 */

import type { Command, StatusItem } from "./parser.ts";
import { formatSequenceSet } from "./sequence_set.ts";
import { no, type SessionContext } from "./session_context.ts";

/** CREATE (RFC 3501 §6.3.3): a trailing separator only says the name will have children. */
export async function createCommand(ctx: SessionContext, wire: string): Promise<void> {
  let name = ctx.mailboxName(wire);
  if (name.endsWith(".") && name.length > 1) name = name.slice(0, -1);
  if (name === "INBOX") throw no("INBOX always exists", "ALREADYEXISTS");
  await ctx.call(() => ctx.store.create(name));
}

/** DELETE (RFC 3501 §6.3.4). */
export async function deleteCommand(ctx: SessionContext, wire: string): Promise<void> {
  const name = ctx.mailboxName(wire);
  if (name === "INBOX") throw no("INBOX cannot be deleted", "CANNOT");
  await ctx.call(() => ctx.store.delete(name));
}

/** RENAME (RFC 3501 §6.3.5). */
export async function renameCommand(ctx: SessionContext, from: string, to: string) {
  const source = ctx.mailboxName(from);
  let target = ctx.mailboxName(to);
  if (target.endsWith(".") && target.length > 1) target = target.slice(0, -1);
  if (target === "INBOX") throw no("INBOX always exists", "ALREADYEXISTS");
  await ctx.call(() => ctx.store.rename(source, target));
}

/** SUBSCRIBE / UNSUBSCRIBE (RFC 3501 §6.3.6, §6.3.7). */
export async function subscribeCommand(ctx: SessionContext, wire: string, on: boolean) {
  const name = ctx.mailboxName(wire);
  await ctx.call(() => ctx.store.setSubscribed(name, on));
}

/** Write `* STATUS name (items)` (RFC 3501 §7.2.4). */
export async function statusResponse(
  ctx: SessionContext,
  name: string,
  items: readonly StatusItem[],
): Promise<void> {
  const s = await ctx.call(() => ctx.store.status(name));
  const values: Record<StatusItem, number> = {
    MESSAGES: s.messages,
    RECENT: s.recent,
    UIDNEXT: s.uidnext,
    UIDVALIDITY: s.uidvalidity,
    UNSEEN: s.unseen,
    SIZE: s.size,
    HIGHESTMODSEQ: s.highestmodseq,
    DELETED: s.deleted,
  };
  const r = ctx.response().raw("* STATUS ").mailbox(name).raw(" (");
  r.raw(items.map((i) => `${i} ${values[i]}`).join(" ")).raw(")").crlf();
  ctx.emit(r);
}

/** STATUS (RFC 3501 §6.3.10); HIGHESTMODSEQ needs CONDSTORE, not offered. */
export async function statusCommand(ctx: SessionContext, cmd: Command & { name: "STATUS" }) {
  if (cmd.items.includes("HIGHESTMODSEQ")) throw no("CONDSTORE is not supported", "CLIENTBUG");
  await statusResponse(ctx, ctx.mailboxName(cmd.mailbox), cmd.items);
}

/**
 * APPEND (RFC 3501 §6.3.11), several messages at once with MULTIAPPEND (RFC 3502: all or
 * none). Answers `OK [APPENDUID uidvalidity uid-set]` (RFC 4315 §3). A message over
 * APPENDLIMIT is `NO [TOOBIG]` (RFC 7889 §4); normally refused already at its literal.
 */
export async function appendCommand(ctx: SessionContext, cmd: Command & { name: "APPEND" }) {
  const name = ctx.mailboxName(cmd.mailbox);
  for (const m of cmd.messages) {
    if (m.data.length > ctx.o.maxMessageBytes) throw no("Message too large", "TOOBIG");
    if (m.data.length === 0) throw no("Cannot save an empty message");
    if (m.flags.some((f) => f.toLowerCase() === "\\recent")) {
      throw no("\\Recent cannot be set", "CLIENTBUG");
    }
  }
  const items = cmd.messages.map((m) => ({
    data: m.data,
    flags: m.flags,
    internalDate: m.date?.date,
  }));
  const result = await ctx.call(() => ctx.store.append(name, items));
  ctx.result = {
    text: "Append completed",
    code: `APPENDUID ${result.uidvalidity} ${formatSequenceSet(result.uids)}`,
  };
}

/** NAMESPACE (RFC 2342 §5): one personal namespace, "" with separator ".". */
export function namespaceCommand(ctx: SessionContext): void {
  ctx.untagged('NAMESPACE (("" ".")) NIL NIL');
}
