/**
 * FETCH and UID FETCH of the IMAP session (RFC 3501 §6.4.5, §6.4.8, §7.4.2).
 *
 * - Items are answered in the order asked; UID FETCH always includes UID, first (§6.4.8).
 * - `BODY[section]` (not `.PEEK`), `RFC822` and `RFC822.TEXT` set `\Seen` (§6.4.5) unless the
 *   mailbox is read-only (EXAMINE, §6.3.2); the new FLAGS go in the same FETCH response when
 *   they changed and were not asked for.
 * - Section bytes are the stored bytes (section.ts); `<start.count>` slices them and the
 *   response names only the origin (`BODY[]<0>`, §7.4.2); a part that does not exist is NIL.
 * - A message expunged by another session but not yet reported is skipped and the command
 *   ends `NO [EXPUNGEISSUED]` (RFC 2180 §4.1.2, RFC 5530).
 * - BINARY (RFC 3516) and MODSEQ / CHANGEDSINCE (RFC 7162) are not offered: BAD.
 *
 * @module
 */

import { bodyStructure } from "./message/bodystructure.ts";
import { envelope } from "./message/envelope.ts";
import { type MimePart, parseMessage } from "./message/mime_tree.ts";
import { fetchSection, partial } from "./message/section.ts";
import type { FetchAtt } from "./fetch_parser.ts";
import { fetchResponseName } from "./fetch_parser.ts";
import type { MessageInfo } from "./mail_store.ts";
import type { Command } from "./parser.ts";
import { bad, no, type SessionContext } from "./session_context.ts";
import { targetUids } from "./session_selected.ts";

const CONTENT = new Set([
  "ENVELOPE",
  "BODY",
  "BODYSTRUCTURE",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
  "BODY[]",
]);

function setsSeen(att: FetchAtt): boolean {
  return (att.kind === "BODY[]" && !att.peek) || att.kind === "RFC822" ||
    att.kind === "RFC822.TEXT";
}

/** FETCH / UID FETCH (see module doc). */
export async function fetchCommand(
  ctx: SessionContext,
  cmd: Command & { name: "FETCH" },
): Promise<void> {
  if (cmd.modifiers.changedSince !== undefined || cmd.modifiers.vanished) {
    throw bad("CONDSTORE is not enabled");
  }
  for (const a of cmd.atts) {
    if (a.kind === "MODSEQ") throw bad("CONDSTORE is not enabled");
    if (a.kind === "BINARY[]" || a.kind === "BINARY.SIZE") throw bad("BINARY is not supported");
  }
  const view = ctx.selected;
  const atts: FetchAtt[] = [...cmd.atts];
  if (cmd.uid && !atts.some((a) => a.kind === "UID")) atts.unshift({ kind: "UID" });
  const uids = targetUids(ctx, cmd.set, cmd.uid);
  if (uids.length === 0) return;
  const infos = new Map<number, MessageInfo>();
  for (const i of await ctx.call(() => ctx.store.messages(view, uids))) infos.set(i.uid, i);

  const seenSet = new Set<number>();
  if (!view.readOnly && atts.some(setsSeen)) {
    const need = [...infos.values()].filter((i) => !i.flags.includes("\\Seen")).map((i) => i.uid);
    if (need.length > 0) {
      for (const u of await ctx.call(() => ctx.store.store(view, need, "add", ["\\Seen"]))) {
        const info = infos.get(u.uid);
        if (info) info.flags = u.flags;
        if (u.changed) seenSet.add(u.uid);
      }
    }
  }
  const wantsFlags = atts.some((a) => a.kind === "FLAGS");
  const needsContent = atts.some((a) => CONTENT.has(a.kind));
  let missing = false;
  for (const uid of uids) {
    const info = infos.get(uid);
    const seq = view.seqOf(uid);
    if (!info || seq === undefined) {
      missing = true;
      continue;
    }
    let bytes: Uint8Array | null = null;
    if (needsContent) {
      bytes = await ctx.call(() => ctx.store.read(view, uid));
      if (bytes === null) {
        missing = true;
        continue;
      }
    }
    const flags = view.isRecent(uid) ? [...info.flags, "\\Recent"] : info.flags;
    const addFlags = seenSet.has(uid) && !wantsFlags;
    if (wantsFlags || addFlags) ctx.ensureKeywords(flags);
    let root: MimePart | null = null;
    const tree = () => root ??= parseMessage(bytes!);
    const r = ctx.response().raw(`* ${seq} FETCH (`);
    let first = true;
    const item = (name: string) => {
      r.raw(first ? name : ` ${name}`);
      first = false;
    };
    for (const a of atts) {
      switch (a.kind) {
        case "UID":
          item(`UID ${uid}`);
          break;
        case "FLAGS":
          item(`FLAGS (${flags.join(" ")})`);
          break;
        case "INTERNALDATE":
          item("INTERNALDATE ");
          r.dateTime(new Date(info.internalDate));
          break;
        case "RFC822.SIZE":
          item(`RFC822.SIZE ${info.size}`);
          break;
        case "ENVELOPE":
          item(`ENVELOPE ${envelope(tree().fields)}`);
          break;
        case "BODY":
        case "BODYSTRUCTURE":
          item(`${a.kind} ${bodyStructure(tree(), a.kind === "BODYSTRUCTURE")}`);
          break;
        case "RFC822":
          item("RFC822 ");
          r.literal(bytes!);
          break;
        case "RFC822.HEADER":
          item("RFC822.HEADER ");
          r.literal(bytes!.subarray(tree().headerStart, tree().headerEnd));
          break;
        case "RFC822.TEXT":
          item("RFC822.TEXT ");
          r.literal(bytes!.subarray(tree().bodyStart, tree().bodyEnd));
          break;
        case "BODY[]": {
          item(`${fetchResponseName(a)} `);
          const data = fetchSection(bytes!, tree(), a.section);
          if (data === null) r.raw("NIL");
          else r.literal(a.partial ? partial(data, a.partial.start, a.partial.count) : data);
          break;
        }
      }
    }
    if (addFlags) item(`FLAGS (${flags.join(" ")})`);
    ctx.emit(r.raw(")").crlf());
    await ctx.flushIfLarge();
  }
  if (missing) throw no("Some of the requested messages no longer exist", "EXPUNGEISSUED");
}
