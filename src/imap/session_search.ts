/**
 * SEARCH and UID SEARCH of the IMAP session (RFC 3501 §6.4.4, §7.2.5) with ESEARCH results
 * (RFC 4731 §3.1: `RETURN (MIN MAX COUNT ALL)` answered by `* ESEARCH (TAG "t") [UID] ...`).
 *
 * - CHARSET: US-ASCII and UTF-8 only; others `NO [BADCHARSET (US-ASCII UTF-8)]` (§6.4.4).
 * - Dates: BEFORE/ON/SINCE compare the internal date's day, SENT* the Date: header's day as
 *   written, "disregarding time and timezone" (§6.4.4); the internal date's day is taken in
 *   UTC, the zone INTERNALDATE is sent in.
 * - Text keys match case-insensitively as substrings (message/search_text.ts).
 * - `$` (SEARCHRES), MODSEQ (CONDSTORE) and RETURN (SAVE) are not offered: BAD.
 * - Messages expunged by others but not yet reported never match (RFC 2180 §4.3).
 *
 * @module
 */

import type { MessageInfo } from "./mail_store.ts";
import { type MimePart, parseMessage } from "./message/mime_tree.ts";
import {
  dayNumber,
  matchAddress,
  matchBody,
  matchHeader,
  matchText,
  sentDay,
} from "./message/search_text.ts";
import type { Command } from "./parser.ts";
import type { SearchKey } from "./search_parser.ts";
import { contains, formatSequenceSet } from "./sequence_set.ts";
import { bad, no, type SessionContext } from "./session_context.ts";

const ADDRESS_FIELDS = new Set(["from", "to", "cc", "bcc"]);
const DAY = 86_400_000;

interface Candidate {
  seq: number;
  info: MessageInfo;
  recent: boolean;
  content?: { bytes: Uint8Array; root: MimePart };
}

function needsContent(k: SearchKey): boolean {
  switch (k.op) {
    case "header":
    case "body":
    case "text":
      return true;
    case "date":
      return k.which === "sent";
    case "not":
      return needsContent(k.key);
    case "or":
      return needsContent(k.a) || needsContent(k.b);
    case "and":
      return k.keys.some(needsContent);
    default:
      return false;
  }
}

function check(k: SearchKey): void {
  switch (k.op) {
    case "modseq":
      throw bad("CONDSTORE is not enabled");
    case "uid":
    case "seq":
      if (k.set.kind === "saved") throw bad("SEARCHRES ($) is not supported");
      return;
    case "not":
      return check(k.key);
    case "or":
      check(k.a);
      return check(k.b);
    case "and":
      return k.keys.forEach(check);
  }
}

function compareDay(cmp: "before" | "on" | "since", day: number, wanted: number): boolean {
  return cmp === "before" ? day < wanted : cmp === "on" ? day === wanted : day >= wanted;
}

interface Limits {
  exists: number;
  maxUid: number;
  now: number;
}

function matches(k: SearchKey, m: Candidate, lim: Limits): boolean {
  switch (k.op) {
    case "all":
      return true;
    case "flag": {
      const f = k.flag.toLowerCase();
      return m.info.flags.some((x) => x.toLowerCase() === f) === k.set;
    }
    case "recent":
      return m.recent;
    case "header": {
      const field = k.field.toLowerCase();
      const root = m.content!.root;
      return ADDRESS_FIELDS.has(field)
        ? matchAddress(root, field, k.value)
        : matchHeader(root, field, k.value);
    }
    case "body":
      return matchBody(m.content!.bytes, m.content!.root, k.value);
    case "text":
      return matchText(m.content!.bytes, m.content!.root, k.value);
    case "date": {
      const wanted = dayNumber(k.date.year, k.date.month, k.date.day);
      if (k.which === "internal") {
        return compareDay(k.cmp, Math.floor(m.info.internalDate / DAY), wanted);
      }
      const sent = sentDay(m.content!.root);
      return sent !== null && compareDay(k.cmp, sent, wanted);
    }
    case "size":
      return k.cmp === "larger" ? m.info.size > k.size : m.info.size < k.size;
    case "age": {
      const age = (lim.now - m.info.internalDate) / 1000;
      return k.cmp === "older" ? age >= k.seconds : age < k.seconds;
    }
    case "uid":
      return contains(k.set, m.info.uid, lim.maxUid);
    case "seq":
      return contains(k.set, m.seq, lim.exists);
    case "not":
      return !matches(k.key, m, lim);
    case "or":
      return matches(k.a, m, lim) || matches(k.b, m, lim);
    case "and":
      return k.keys.every((x) => matches(x, m, lim));
    case "modseq":
      return false;
  }
}

/** SEARCH / UID SEARCH (see module doc). */
export async function searchCommand(
  ctx: SessionContext,
  cmd: Command & { name: "SEARCH" },
): Promise<void> {
  if (cmd.charset !== undefined && cmd.charset !== "US-ASCII" && cmd.charset !== "UTF-8") {
    throw no("Unsupported charset", "BADCHARSET (US-ASCII UTF-8)");
  }
  if (cmd.returns?.includes("SAVE")) throw bad("SEARCHRES (SAVE) is not supported");
  check(cmd.key);
  const view = ctx.selected;
  const uids = view.uids();
  const infos = new Map<number, MessageInfo>();
  for (const i of await ctx.call(() => ctx.store.messages(view, uids))) infos.set(i.uid, i);
  const lim: Limits = { exists: uids.length, maxUid: uids[uids.length - 1] ?? 0, now: Date.now() };
  const content = needsContent(cmd.key);
  const hits: number[] = [];
  for (let seq = 1; seq <= uids.length; seq++) {
    const uid = uids[seq - 1]!;
    const info = infos.get(uid);
    if (!info || view.isExpunged(uid)) continue;
    const m: Candidate = { seq, info, recent: view.isRecent(uid) };
    if (content) {
      const bytes = await ctx.call(() => ctx.store.read(view, uid));
      if (bytes === null) continue;
      m.content = { bytes, root: parseMessage(bytes) };
    }
    if (matches(cmd.key, m, lim)) hits.push(cmd.uid ? uid : seq);
  }
  if (cmd.returns === undefined) {
    ctx.untagged(["SEARCH", ...hits].join(" "));
    return;
  }
  const r = ctx.response().raw("* ESEARCH (TAG ").string(cmd.tag).raw(")");
  if (cmd.uid) r.raw(" UID");
  const ret = new Set(cmd.returns);
  if (hits.length > 0) {
    if (ret.has("MIN")) r.raw(` MIN ${hits[0]}`);
    if (ret.has("MAX")) r.raw(` MAX ${hits[hits.length - 1]}`);
  }
  if (ret.has("COUNT")) r.raw(` COUNT ${hits.length}`);
  if (ret.has("ALL") && hits.length > 0) r.raw(` ALL ${formatSequenceSet(hits)}`);
  ctx.emit(r.crlf());
}
