/**
 * Encoding of server responses, RFC 3501 §7 and the §9 grammar: strings as atom, quoted or
 * literal, nstring NIL, flag lists, mailbox names, `date-time`, status lines, and a
 * {@link Response} builder producing Uint8Array chunks (message bodies are passed through as
 * chunks, never concatenated into strings).
 *
 * A string is sent quoted (RFC 3501 §4.3) when it is short, has no CR, LF or NUL, needs few
 * escapes, and is 7-bit, or valid UTF-8 under UTF8=ACCEPT (RFC 6855 §3 allows UTF-8 in quoted
 * strings once enabled); otherwise as a literal `{n}` CRLF octets (RFC 3501 §4.3). Octets
 * containing NUL need a literal8 `~{n}` (RFC 3516 §4.3), used only when asked for (BINARY).
 *
 * @module
 */

import { isAstringChar, MONTHS } from "./cursor.ts";
import { mailboxToWire } from "./mutf7.ts";

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Longest string sent quoted; longer ones are literals. */
export const MAX_QUOTED = 1024;

/** Options of encoders: whether the client enabled UTF8=ACCEPT (RFC 6855). */
export interface EncodeOptions {
  utf8?: boolean;
}

function bytesOf(v: string | Uint8Array): Uint8Array {
  return typeof v === "string" ? enc.encode(v) : v;
}

/** The quoted form of `v` (RFC 3501 §9 `quoted`), or null when it must be a literal. */
export function quote(v: string | Uint8Array, options: EncodeOptions = {}): string | null {
  const b = bytesOf(v);
  if (b.length > MAX_QUOTED) return null;
  let escapes = 0;
  let eight = false;
  for (const c of b) {
    if (c === 0 || c === 0x0d || c === 0x0a) return null;
    if (c === 0x22 || c === 0x5c) escapes++;
    if (c >= 0x80) eight = true;
  }
  if (escapes > 8 && escapes * 4 > b.length) return null;
  let s: string;
  if (eight) {
    if (!options.utf8) return null;
    try {
      s = utf8.decode(b);
    } catch {
      return null;
    }
  } else {
    s = typeof v === "string" ? v : String.fromCharCode(...b);
  }
  return '"' + s.replace(/[\\"]/g, "\\$&") + '"';
}

/** Whether `s` can be sent as an atom in an `astring` (RFC 3501 §9 `1*ASTRING-CHAR`; not NIL). */
export function isAstringAtom(s: string): boolean {
  if (s.length === 0 || s.length > MAX_QUOTED || s.toUpperCase() === "NIL") return false;
  for (let i = 0; i < s.length; i++) if (!isAstringChar(s.charCodeAt(i))) return false;
  return true;
}

/** Format a `date-time` (RFC 3501 §9) without quotes: `15-Feb-2007 01:02:03 +0200`. */
export function formatDateTime(date: Date, zoneMinutes = 0): string {
  const local = new Date(date.getTime() + zoneMinutes * 60_000);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const sign = zoneMinutes < 0 ? "-" : "+";
  const z = Math.abs(zoneMinutes);
  return `${p2(local.getUTCDate())}-${MONTHS[local.getUTCMonth()]}-${local.getUTCFullYear()} ` +
    `${p2(local.getUTCHours())}:${p2(local.getUTCMinutes())}:${p2(local.getUTCSeconds())} ` +
    `${sign}${p2(Math.floor(z / 60))}${p2(z % 60)}`;
}

/** Strip CR, LF and NUL from human-readable response text (RFC 3501 §9 `text`). */
function text(s: string): string {
  return s.replace(/[\r\n\0]+/g, " ");
}

/**
 * A status response line (RFC 3501 §7.1): `tag OK [code] text` CRLF; `tag` "*" for untagged.
 */
export function statusLine(
  tag: string,
  status: "OK" | "NO" | "BAD" | "BYE" | "PREAUTH",
  message: string,
  code?: string,
): string {
  return `${tag} ${status} ${code ? `[${text(code)}] ` : ""}${text(message)}\r\n`;
}

/** A continuation request (RFC 3501 §7.5): `+ text` CRLF (base64 for AUTHENTICATE). */
export function continuation(message = "OK"): string {
  return `+ ${text(message)}\r\n`;
}

/**
 * A response builder. Text pieces accumulate and become one chunk when a literal's octets are
 * added (which are kept as their own chunk, uncopied) or at {@link Response.chunks}.
 */
export class Response {
  readonly #chunks: Uint8Array[] = [];
  #text = "";
  readonly #utf8: boolean;

  constructor(options: EncodeOptions = {}) {
    this.#utf8 = options.utf8 ?? false;
  }

  /** Protocol text as is (ASCII: atoms, numbers, punctuation). */
  raw(s: string): this {
    this.#text += s;
    return this;
  }

  /** One SP. */
  sp(): this {
    return this.raw(" ");
  }

  /** A number (RFC 3501 §9 `number`, or a 63-bit mod-sequence). */
  number(n: number | bigint): this {
    return this.raw(String(n));
  }

  /** A literal `{n}` CRLF octets, or literal8 `~{n}` with `binary`. */
  literal(bytes: Uint8Array, binary = false): this {
    this.raw(`${binary ? "~" : ""}{${bytes.length}}\r\n`);
    this.#flush();
    if (bytes.length > 0) this.#chunks.push(bytes);
    return this;
  }

  /** A `string`: quoted when possible, else a literal. */
  string(v: string | Uint8Array): this {
    const q = quote(v, { utf8: this.#utf8 });
    return q !== null ? this.raw(q) : this.literal(bytesOf(v));
  }

  /** An `astring`: an atom when possible, else {@link string}. */
  astring(v: string): this {
    return isAstringAtom(v) ? this.raw(v) : this.string(v);
  }

  /** An `nstring`: NIL for null. */
  nstring(v: string | Uint8Array | null | undefined): this {
    return v === null || v === undefined ? this.raw("NIL") : this.string(v);
  }

  /**
   * A mailbox name given as Unicode: modified UTF-7 (RFC 3501 §5.1.3) or UTF-8 under
   * UTF8=ACCEPT; INBOX as an atom.
   */
  mailbox(name: string): this {
    return this.astring(mailboxToWire(name, this.#utf8));
  }

  /** A parenthesised flag list: `(\Seen $Label)`. */
  flags(flags: Iterable<string>): this {
    return this.raw(`(${[...flags].join(" ")})`);
  }

  /** "(" items ")" with SP between the items, each written by `each`. */
  list<T>(items: Iterable<T>, each: (r: this, item: T) => void): this {
    this.raw("(");
    let first = true;
    for (const item of items) {
      if (!first) this.sp();
      first = false;
      each(this, item);
    }
    return this.raw(")");
  }

  /** A quoted `date-time` (RFC 3501 §9), e.g. INTERNALDATE. */
  dateTime(date: Date, zoneMinutes = 0): this {
    return this.raw(`"${formatDateTime(date, zoneMinutes)}"`);
  }

  /** CRLF ending a response line. */
  crlf(): this {
    return this.raw("\r\n");
  }

  #flush(): void {
    if (this.#text) this.#chunks.push(enc.encode(this.#text));
    this.#text = "";
  }

  /** The chunks so far (the builder is left empty). */
  chunks(): Uint8Array[] {
    this.#flush();
    return this.#chunks.splice(0);
  }

  /** All of it as one array (for tests and small responses). */
  bytes(): Uint8Array {
    const parts = this.chunks();
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
