/**
 * RFC 5322 §3.4 address lists in the shape of IMAP ENVELOPE addresses (RFC 3501 §7.4.2).
 *
 * Exported API:
 * - `Address` — `{ name, adl, mailbox, host }` (each `string | null`), the four fields of an
 *   ENVELOPE address. Groups (RFC 5322 §3.4 `group`) are flattened the RFC 3501 way: a start
 *   marker `{ mailbox: groupName, host: null }`, the members, then an end marker with all four
 *   fields null.
 * - `parseAddressList(value): Address[]` — parses a raw (possibly folded) header value.
 *   Display names are kept as written (RFC 2047 words are not decoded: ENVELOPE carries them
 *   raw); a quoted display name loses its quotes; with no display name the last comment of the
 *   address is used (`user@domain (Real Name)`, as Dovecot does). Route addresses give
 *   `adl = "@a,@b"`. An address without `@` gets `host = ""` (never NIL: NIL marks a group).
 *   Never throws; junk between addresses is skipped.
 * - `addressListText(addresses, decode?)` — the list as text for SEARCH FROM/TO/CC/BCC:
 *   `Name <mailbox@host>` joined by `, `, groups as `name: members;`.
 *
 * @module
 */

/** One ENVELOPE address (RFC 3501 §7.4.2). */
export interface Address {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

interface Token {
  kind: "atom" | "quoted" | "special" | "literal";
  text: string;
  /** The last comment seen before this token (or at the end, on the sentinel). */
  comment: string | null;
}

/** RFC 5322 §3.2.3 specials that split atoms. */
const SPECIALS = '()<>[]:;@\\,."';

function tokenize(s: string): Token[] {
  const tokens: Token[] = [];
  let comment: string | null = null;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++;
    } else if (c === "(") {
      let depth = 0;
      let text = "";
      for (; i < s.length; i++) {
        const d = s[i]!;
        if (d === "\\" && i + 1 < s.length) text += s[++i];
        else if (d === "(") {
          if (depth++ > 0) text += d;
        } else if (d === ")") {
          if (--depth === 0) {
            i++;
            break;
          }
          text += d;
        } else text += d;
      }
      comment = text.trim() === "" ? comment : text.trim();
    } else if (c === '"') {
      let text = "";
      for (i++; i < s.length && s[i] !== '"'; i++) {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        text += s[i];
      }
      i++;
      tokens.push({ kind: "quoted", text, comment });
    } else if (c === "[") {
      const close = s.indexOf("]", i);
      const end = close < 0 ? s.length : close + 1;
      tokens.push({ kind: "literal", text: s.slice(i, end), comment });
      i = end;
    } else if (SPECIALS.includes(c)) {
      tokens.push({ kind: "special", text: c, comment });
      i++;
    } else {
      let j = i;
      while (j < s.length && !SPECIALS.includes(s[j]!) && !/[ \t\r\n]/.test(s[j]!)) j++;
      tokens.push({ kind: "atom", text: s.slice(i, j), comment });
      i = j;
    }
  }
  tokens.push({ kind: "special", text: "", comment });
  return tokens;
}

function isSpecial(t: Token | undefined, c: string): boolean {
  return t !== undefined && t.kind === "special" && t.text === c;
}

/** A display-name phrase: words joined by single spaces (RFC 5322 §3.2.5). */
function phrase(tokens: Token[], a: number, b: number): string | null {
  const words: string[] = [];
  for (let k = a; k < b; k++) {
    const t = tokens[k]!;
    if (t.kind === "special" && t.text === ".") {
      // obs-phrase allows "." (RFC 5322 §4.1): keep it attached to the previous word.
      if (words.length === 0) words.push(".");
      else words[words.length - 1] += ".";
    } else if (t.kind !== "special") words.push(t.text);
  }
  const text = words.filter((w) => w !== "").join(" ").trim();
  return text === "" ? null : text;
}

/** Text of tokens `[a, b)` concatenated (local parts and domains). */
function joined(tokens: Token[], a: number, b: number, quoteQuoted: boolean): string {
  let s = "";
  for (let k = a; k < b; k++) {
    const t = tokens[k]!;
    s += t.kind === "quoted" && quoteQuoted
      ? `"${t.text.replace(/[\\"]/g, (m) => "\\" + m)}"`
      : t.text;
  }
  return s;
}

/** addr-spec in tokens `[a, b)`: local-part "@" domain (the last top-level "@" splits). */
function addrSpec(tokens: Token[], a: number, b: number): { mailbox: string; host: string } {
  let at = -1;
  for (let k = a; k < b; k++) if (isSpecial(tokens[k], "@")) at = k;
  if (at < 0) return { mailbox: joined(tokens, a, b, true), host: "" };
  return { mailbox: joined(tokens, a, at, true), host: joined(tokens, at + 1, b, false) };
}

/** One mailbox in tokens `[a, b)` (name-addr or addr-spec); null when empty. */
function mailbox(tokens: Token[], a: number, b: number): Address | null {
  if (a >= b) return null;
  let lt = -1;
  for (let k = a; k < b; k++) {
    if (isSpecial(tokens[k], "<")) {
      lt = k;
      break;
    }
  }
  if (lt >= 0) {
    let gt = b;
    for (let k = lt + 1; k < b; k++) {
      if (isSpecial(tokens[k], ">")) {
        gt = k;
        break;
      }
    }
    let start = lt + 1;
    let adl: string | null = null;
    if (isSpecial(tokens[start], "@")) {
      // obs-route (RFC 5322 §4.4): "@a,@b:" before the addr-spec.
      let colon = -1;
      for (let k = start; k < gt; k++) {
        if (isSpecial(tokens[k], ":")) {
          colon = k;
          break;
        }
      }
      if (colon >= 0) {
        adl = joined(tokens, start, colon, false);
        start = colon + 1;
      }
    }
    const spec = addrSpec(tokens, start, gt);
    const name = phrase(tokens, a, lt);
    if (name === null && spec.mailbox === "" && spec.host === "") return null;
    return { name, adl, mailbox: spec.mailbox, host: spec.host };
  }
  const spec = addrSpec(tokens, a, b);
  if (spec.mailbox === "" && spec.host === "") return null;
  // No display name: the last comment inside the address serves as one (Dovecot does this;
  // RFC 5322 §3.4 mentions the old practice of a name in a trailing comment).
  const name = tokens[b]?.comment !== tokens[a]?.comment ? tokens[b]!.comment : null;
  return { name, adl: null, mailbox: spec.mailbox, host: spec.host };
}

/** Parses an address-list header value. Never throws. */
export function parseAddressList(value: string): Address[] {
  const tokens = tokenize(value);
  const last = tokens.length - 1; // the sentinel
  const out: Address[] = [];
  let i = 0;
  let inGroup = false;
  while (i < last) {
    if (isSpecial(tokens[i], ",")) {
      i++;
      continue;
    }
    if (inGroup && isSpecial(tokens[i], ";")) {
      out.push({ name: null, adl: null, mailbox: null, host: null });
      inGroup = false;
      i++;
      continue;
    }
    // Find where this item ends; a ":" before any "<" starts a group (RFC 5322 §3.4).
    let k = i;
    let angle = false;
    let group = false;
    for (; k < last; k++) {
      const t = tokens[k]!;
      if (t.kind !== "special") continue;
      if (t.text === "<") angle = true;
      else if (t.text === ">") angle = false;
      else if (!angle && (t.text === "," || t.text === ";")) break;
      else if (!angle && t.text === ":" && !inGroup) {
        group = true;
        break;
      }
    }
    if (group) {
      out.push({ name: null, adl: null, mailbox: phrase(tokens, i, k) ?? "", host: null });
      inGroup = true;
      i = k + 1;
      continue;
    }
    const addr = mailbox(tokens, i, k);
    if (addr) out.push(addr);
    i = k;
    if (isSpecial(tokens[i], ";") && !inGroup) i++; // stray ";": junk
  }
  // A group left open at the end still gets its end marker.
  if (inGroup) out.push({ name: null, adl: null, mailbox: null, host: null });
  return out;
}

/** The address list as searchable text (RFC 3501 §6.4.4 FROM/TO/CC/BCC). */
export function addressListText(
  addresses: readonly Address[],
  decode: (s: string) => string = (s) => s,
): string {
  const parts: string[] = [];
  for (const a of addresses) {
    if (a.host === null && a.mailbox !== null) {
      parts.push(`${parts.length > 0 ? ", " : ""}${decode(a.mailbox)}: `);
      continue;
    }
    if (a.host === null) {
      parts.push(";");
      continue;
    }
    const spec = a.host === "" ? a.mailbox ?? "" : `${a.mailbox}@${a.host}`;
    const text = a.name !== null ? `${decode(a.name)} <${spec}>` : spec;
    const prev = parts[parts.length - 1];
    const sep = prev === undefined || prev.endsWith(": ") ? "" : ", ";
    parts.push(sep + text);
  }
  return parts.join("");
}
