/**
 * Header (and DSN) fields in 7-bit ASCII: folding (RFC 5322 §2.2.3) within the line limits of
 * RFC 5322 §2.1.1, the `To` address, host names as A-labels, dates (RFC 5322 §3.3), and text
 * from outside made safe for a single line. Private to src/queue.
 *
 * @module
 */

/** The line end of every line of a DSN. */
export const CRLF = "\r\n";
const enc = new TextEncoder();

/** Longest line we aim for when folding (RFC 5322 §2.1.1 "SHOULD" limit). */
const FOLD_WIDTH = 78;
/** The hard limit for any line, without its CRLF (RFC 5322 §2.1.1 "MUST" limit). */
export const MAX_LINE = 998;

/**
 * One header (or DSN) field, `Name: value` CRLF, folded at spaces (RFC 5322 §2.2.3) to about
 * 78 characters. A word longer than 998 octets is split with a folding space as a last
 * resort, so no line ever exceeds 998 octets. The value must already be free of control
 * characters.
 */
export function field(name: string, value: string): string {
  const tokens = value.split(" ").filter((w) => w !== "").flatMap((w) => {
    const pieces: string[] = [];
    for (let i = 0; i < w.length; i += MAX_LINE - 1) pieces.push(w.slice(i, i + MAX_LINE - 1));
    return pieces;
  });
  const lines: string[] = [];
  let line = `${name}:`;
  let bare = true; // the first line, still without a value
  for (const t of tokens) {
    const joined = line.length + 1 + t.length;
    if (joined <= FOLD_WIDTH || (bare && joined <= MAX_LINE)) {
      line += " " + t;
    } else {
      lines.push(line);
      line = " " + t;
    }
    bare = false;
  }
  lines.push(line);
  return lines.map((l) => l + CRLF).join("");
}

/**
 * The `To` field: the envelope sender as `<addr>`. Header fields here are ASCII, so a
 * non-ASCII domain is given in its A-label form; a non-ASCII local part cannot be written in
 * ASCII at all, so it is shown as the RFC 2047 encoded name of an empty group instead (the
 * envelope, not this field, decides where the DSN goes).
 */
export function toAddress(sender: string): string {
  const s = cleanText(sender).replace(/^<|>$/g, "");
  const at = s.lastIndexOf("@");
  const local = at >= 0 ? s.slice(0, at) : s;
  const domain = at >= 0 ? asciiHost(s.slice(at + 1)) : "";
  if (isAscii(local)) return `<${local}${at >= 0 ? "@" + domain : ""}>`;
  return `${encodedWords(s)}:;`;
}

/** RFC 2047 B-encoded words of at most 45 octets of UTF-8 each, whole characters only (§5). */
function encodedWords(s: string): string {
  const words: string[] = [];
  let chunk: number[] = [];
  const flush = () => {
    words.push(`=?utf-8?B?${btoa(String.fromCharCode(...chunk))}?=`);
    chunk = [];
  };
  for (const ch of s) {
    const b = enc.encode(ch);
    if (chunk.length + b.length > 45) flush();
    chunk.push(...b);
  }
  if (chunk.length > 0) flush();
  return words.join(" ");
}

/** A host name as ASCII: U-labels become A-labels; anything not allowed in a name goes. */
export function asciiHost(raw: string): string {
  let h = cleanText(raw).replace(/ /g, "");
  if (!isAscii(h)) {
    try {
      h = new URL(`http://${h}/`).hostname;
    } catch {
      // not a valid host name; filtered below
    }
  }
  return h.replace(/[^A-Za-z0-9._:[\]-]/g, "");
}

/** The Remote-MTA name (RFC 3464 §2.3.5): a host name, or an IP address as an address literal. */
export function remoteMtaName(raw: string): string {
  const h = asciiHost(raw);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(h)) return `[${h}]`;
  if (/^[0-9A-Fa-f:.]+$/.test(h) && h.includes(":")) return `[IPv6:${h}]`;
  return h;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Whether a diagnostic is an SMTP reply (RFC 5321 §4.2: a three-digit code first). */
export function isSmtpReply(s: string): boolean {
  return /^[2-5]\d\d([ -]|$)/.test(s);
}

/** `d` when it is a valid date, else undefined. */
export function validDate(d: Date | undefined): Date | undefined {
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d : undefined;
}

/**
 * Text from outside made safe for a single line: every C0 and C1 control character (CR and LF
 * included), DEL and the Unicode line and paragraph separators become spaces, runs of
 * whitespace become one space, and the ends are trimmed.
 */
export function cleanText(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const control = c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029;
    out += control ? " " : ch;
  }
  return out.replace(/\s+/g, " ").trim();
}

/** Non-ASCII characters replaced by "?" (message/delivery-status is ASCII, RFC 3464 §2.1). */
export function toAscii(s: string): string {
  let out = "";
  for (const ch of s) out += ch.codePointAt(0)! < 0x80 ? ch : "?";
  return out;
}

/** Whether no character of `s` is above U+007E (DEL and beyond count as non-ASCII). */
export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e) return false;
  return true;
}
