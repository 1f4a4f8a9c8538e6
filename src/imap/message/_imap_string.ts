/**
 * Private IMAP string encoding for ENVELOPE and BODYSTRUCTURE (RFC 3501 §4.3, §4.5, §9 `string`,
 * `nstring`). A stand-in so the message modules do not depend on `src/imap/response.ts`, which is
 * written in parallel; the two are to be unified later.
 *
 * - `imapString(s)`: a quoted string when `s` is 7-bit, has no CR, LF or NUL and is at most
 *   {@link MAX_QUOTED} characters (`\` and `"` escaped, RFC 3501 §4.3 `quoted-specials`);
 *   otherwise a literal `{n}\r\n` followed by the UTF-8 bytes (n counts bytes, not characters).
 * - `imapNString(s)`: `NIL` for `null`, else `imapString(s)`.
 * - `imapList(items)`: `(a b c)`, or `NIL` for an empty list when `nilIfEmpty`.
 *
 * @module
 */

/** Longest value sent as a quoted string; longer ones go as literals. */
export const MAX_QUOTED = 1024;

const encoder = new TextEncoder();

/** True when `s` can be sent as an IMAP quoted string (RFC 3501 §9 `QUOTED-CHAR`). */
function quotable(s: string): boolean {
  if (s.length > MAX_QUOTED) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0x7e) return false;
  }
  return true;
}

/** Encodes `s` as an IMAP `string`: quoted when possible, else a literal. */
export function imapString(s: string): string {
  if (quotable(s)) return `"${s.replace(/[\\"]/g, (m) => "\\" + m)}"`;
  return `{${encoder.encode(s).length}}\r\n${s}`;
}

/** Encodes `s` as an IMAP `nstring`: `NIL` for null. */
export function imapNString(s: string | null | undefined): string {
  return s === null || s === undefined ? "NIL" : imapString(s);
}

/** Joins already-encoded items into a parenthesised list; `NIL` when empty and `nilIfEmpty`. */
export function imapList(items: readonly string[], nilIfEmpty = false): string {
  if (items.length === 0 && nilIfEmpty) return "NIL";
  return `(${items.join(" ")})`;
}
