/**
 * LIST and LSUB of the IMAP session: RFC 3501 §6.3.8 / §6.3.9 with LIST-EXTENDED (RFC 5258),
 * LIST-STATUS (RFC 5819), CHILDREN attributes (RFC 3348, RFC 5258 §4) and SPECIAL-USE
 * (RFC 6154). The hierarchy separator is `.`.
 *
 * Rules, as the imaptest `list` and `listext` scripts check them:
 * - `LIST "" ""` (RFC 3501 §6.3.8) answers the separator and root: `(\Noselect) "." ""`.
 * - `*` matches anything, `%` anything but the separator; the reference is prefixed to the
 *   pattern; the `INBOX` part of a pattern matches case-insensitively (RFC 3501 §5.1).
 * - A hierarchy level that only exists as the parent of mailboxes (Maildir++ needs no folder
 *   for it) is listed `\Noselect`, or `\NonExistent` with LIST-EXTENDED (RFC 5258 §3.4).
 * - SUBSCRIBED selects subscribed names (`\NonExistent` when gone); RECURSIVEMATCH adds
 *   `CHILDINFO ("SUBSCRIBED")` for a matching name with a subscribed descendant that does not
 *   itself match (RFC 5258 §3.5).
 * - `\HasChildren` / `\HasNoChildren` only with `RETURN (CHILDREN)` (RFC 5258 §4; plain LIST
 *   answers `()` in the scripts); special-use attributes always (RFC 6154 §2 SHOULD), and with
 *   the SPECIAL-USE selection only mailboxes that have one.
 * - LIST-STATUS: `* STATUS` after each selectable mailbox's LIST (RFC 5819 §2).
 *
 * @module
 */

import type { Command, ListReturn, ListSelect } from "./parser.ts";
import { type SessionContext } from "./session_context.ts";
import { statusResponse } from "./session_mailbox.ts";

const SEP = ".";

/** The regular expression of a LIST pattern (RFC 3501 §6.3.8). */
export function patternRegex(pattern: string): RegExp {
  // INBOX is case-insensitive (RFC 3501 §5.1), also as the first level of a pattern.
  const p = /^inbox(\.|$)/i.test(pattern) ? "INBOX" + pattern.slice(5) : pattern;
  let src = "";
  for (const ch of p) {
    if (ch === "*") src += ".*";
    else if (ch === "%") src += "[^.]*";
    else src += ch.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  }
  return new RegExp(`^${src}$`, "s");
}

function parents(name: string): string[] {
  const parts = name.split(SEP);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join(SEP));
  return out;
}

interface Listed {
  name: string;
  attrs: string[];
  childinfo: boolean;
  selectable: boolean;
}

/** LIST (RFC 3501 §6.3.8, RFC 5258). */
export async function listCommand(
  ctx: SessionContext,
  cmd: Command & { name: "LIST" },
): Promise<void> {
  const sel: ListSelect = cmd.select;
  const ret: ListReturn = cmd.returns;
  if (!cmd.extended && cmd.patterns.length === 1 && cmd.patterns[0] === "") {
    ctx.untagged(`LIST (\\Noselect) "${SEP}" ""`);
    return;
  }
  const reference = ctx.patternName(cmd.reference);
  const patterns = cmd.patterns.map((p) => patternRegex(reference + ctx.patternName(p)));
  const matches = (n: string) => patterns.some((re) => re.test(n));
  const boxes = await ctx.call(() => ctx.store.mailboxes());
  const subs = new Set(await ctx.call(() => ctx.store.subscriptions()));
  const existing = new Map(boxes.map((b) => [b.name, b.specialUse]));
  const hierarchy = new Set<string>();
  for (const b of boxes) for (const p of parents(b.name)) if (!existing.has(p)) hierarchy.add(p);
  const hasChild = new Set<string>();
  for (const b of boxes) for (const p of parents(b.name)) hasChild.add(p);

  const out: Listed[] = [];
  const attrsOf = (name: string): string[] => {
    const attrs: string[] = [];
    if (!existing.has(name)) attrs.push(cmd.extended ? "\\NonExistent" : "\\Noselect");
    const use = existing.get(name);
    if (use) attrs.push(use);
    if ((sel.subscribed || ret.subscribed) && subs.has(name)) attrs.push("\\Subscribed");
    if (ret.children) attrs.push(hasChild.has(name) ? "\\HasChildren" : "\\HasNoChildren");
    return attrs;
  };
  if (sel.subscribed) {
    const candidates = new Set<string>(subs);
    if (sel.recursiveMatch) { for (const s of subs) for (const p of parents(s)) candidates.add(p); }
    for (const name of [...candidates].sort()) {
      if (!matches(name)) continue;
      const childinfo = sel.recursiveMatch &&
        [...subs].some((s) => s.startsWith(name + SEP) && !matches(s));
      if (!subs.has(name) && !childinfo) continue;
      const attrs = attrsOf(name);
      if (!subs.has(name) && !existing.has(name) && !attrs.includes("\\NonExistent")) {
        attrs.unshift("\\NonExistent");
      }
      out.push({ name, attrs, childinfo, selectable: existing.has(name) });
    }
  } else {
    const all = [...existing.keys(), ...hierarchy].sort();
    for (const name of all) {
      if (!matches(name)) continue;
      if (sel.specialUse && !existing.get(name)) continue;
      out.push({ name, attrs: attrsOf(name), childinfo: false, selectable: existing.has(name) });
    }
  }
  for (const l of out) {
    const r = ctx.response().raw(`* LIST (${l.attrs.join(" ")}) "${SEP}" `).mailbox(l.name);
    if (l.childinfo) r.raw(' (CHILDINFO ("SUBSCRIBED"))');
    ctx.emit(r.crlf());
    if (ret.status && l.selectable) {
      try {
        await statusResponse(ctx, l.name, ret.status);
      } catch {
        // RFC 5819 §2: a mailbox whose STATUS fails is listed without it.
      }
    }
  }
}

/** LSUB (RFC 3501 §6.3.9): subscribed names matching the pattern. */
export async function lsubCommand(
  ctx: SessionContext,
  cmd: Command & { name: "LSUB" },
): Promise<void> {
  const re = patternRegex(ctx.patternName(cmd.reference) + ctx.patternName(cmd.pattern));
  const boxes = new Set((await ctx.call(() => ctx.store.mailboxes())).map((b) => b.name));
  const subs = await ctx.call(() => ctx.store.subscriptions());
  const subscribed = new Set(subs);
  const wildcardPercent = cmd.pattern.includes("%");
  const found = new Map<string, string>();
  for (const name of subs) {
    if (re.test(name)) found.set(name, boxes.has(name) ? "" : "\\Noselect");
    // RFC 3501 §6.3.9: when "%" matches an unsubscribed parent of a subscribed name, the
    // parent is listed with \Noselect.
    const parts = wildcardPercent ? name.split(SEP) : [];
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join(SEP);
      if (!subscribed.has(parent) && !found.has(parent) && re.test(parent)) {
        found.set(parent, "\\Noselect");
      }
    }
  }
  for (const name of [...found.keys()].sort()) {
    ctx.emit(ctx.response().raw(`* LSUB (${found.get(name)}) "${SEP}" `).mailbox(name).crlf());
  }
}
