/**
 * Low-level tokens of IMAP client commands, RFC 3501 §4 (data formats) and §9 (formal syntax),
 * read by a {@link Cursor} over the bytes of one complete command (as produced by
 * command_reader.ts: lines ending in CRLF, literal octets after the CRLF that announces them).
 *
 * Every method throws {@link ParseError} on bad input, and nothing else. Tolerances beyond the
 * RFC 3501 grammar are deliberate and listed here:
 * - quoted strings may carry 8-bit octets (UTF-8 per RFC 6855 §3 / RFC 9051 §4.3; also sent by
 *   pre-UTF8=ACCEPT clients in SEARCH); NUL, CR and LF are refused, and `\` may only escape
 *   `\` or `"` (RFC 3501 §4.3 `quoted-specials`);
 * - `date-day-fixed` accepts one digit without the leading space (`"5-Feb-2007 ..."`).
 * Atoms are strict: 8-bit octets, CTLs and atom-specials end or refuse them (RFC 3501 §9
 * `ATOM-CHAR`). Nesting of parenthesised values is limited (default 32) so hostile input
 * cannot exhaust the stack.
 *
 * @module
 */

import { ParseError } from "./parse_error.ts";
import { parseSequenceSet, type SequenceSet } from "./sequence_set.ts";

/** A calendar date as in SEARCH's `date` (RFC 3501 §9); time and zone play no part. */
export interface SearchDate {
  readonly year: number;
  /** 1..12 */
  readonly month: number;
  /** 1..31, valid for the month. */
  readonly day: number;
}

/** A `date-time` (RFC 3501 §9), e.g. APPEND's internal date. */
export interface DateTime {
  /** The instant. */
  readonly date: Date;
  /** The zone given, in minutes east of UTC (`+0200` → 120). */
  readonly zoneMinutes: number;
}

/** A generic parenthesised value (for SELECT/CREATE parameters and other extension data). */
export type ImapValue = string | Uint8Array | null | ImapValue[];

/** The month names of RFC 3501 §9 `date-month`. */
export const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
] as const;

/** Octets that may not appear in an atom: RFC 3501 §9 `atom-specials` (CTLs, 8-bit excepted). */
const ATOM_SPECIALS = new Set([...'(){ %*"\\]'].map((c) => c.charCodeAt(0)));

/** RFC 3501 §9 `ATOM-CHAR`. */
export function isAtomChar(c: number): boolean {
  return c > 0x1f && c < 0x7f && !ATOM_SPECIALS.has(c);
}

/** RFC 3501 §9 `ASTRING-CHAR` = ATOM-CHAR / resp-specials. */
export function isAstringChar(c: number): boolean {
  return isAtomChar(c) || c === 0x5d;
}

/** RFC 3501 §9 `list-char` = ATOM-CHAR / list-wildcards / resp-specials. */
function isListChar(c: number): boolean {
  return isAstringChar(c) || c === 0x25 || c === 0x2a;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/** Decode UTF-8 strictly, as a ParseError when invalid. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ParseError("Invalid UTF-8 in string");
  }
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A cursor over one command's bytes. */
export class Cursor {
  /** The command bytes. */
  readonly bytes: Uint8Array;
  /** Offset of the next unread octet. */
  pos: number;
  /** Deepest nesting of parentheses accepted by {@link value} and the SEARCH parser. */
  readonly maxDepth: number;

  constructor(bytes: Uint8Array, pos = 0, maxDepth = 32) {
    this.bytes = bytes;
    this.pos = pos;
    this.maxDepth = maxDepth;
  }

  /** The next octet, or undefined at the end. */
  peek(offset = 0): number | undefined {
    return this.bytes[this.pos + offset];
  }

  /** True at the end of the command (its final CRLF, or the end of the bytes). */
  get atEnd(): boolean {
    const c = this.bytes[this.pos];
    return c === undefined ||
      (c === 0x0d && this.bytes[this.pos + 1] === 0x0a && this.pos + 2 === this.bytes.length) ||
      (c === 0x0a && this.pos + 1 === this.bytes.length);
  }

  /** Whether the next octet is `ch` (one ASCII character). */
  is(ch: string): boolean {
    return this.bytes[this.pos] === ch.charCodeAt(0);
  }

  /** Consume `ch` if it is next. */
  skip(ch: string): boolean {
    if (!this.is(ch)) return false;
    this.pos++;
    return true;
  }

  /** Consume `ch` or fail with "Expected ...". */
  expect(ch: string, what = `'${ch}'`): void {
    if (!this.skip(ch)) this.fail(`Expected ${what}`);
  }

  /** Throw a ParseError; "Missing argument" at the end of the command. */
  fail(message: string): never {
    throw new ParseError(this.atEnd ? "Missing argument" : message);
  }

  /** One SP between arguments. */
  sp(): void {
    if (!this.skip(" ")) this.fail("Expected a space");
  }

  /** The end of the command: nothing but the final CRLF may remain. */
  end(): void {
    if (!this.atEnd) {
      throw new ParseError(this.is(" ") ? "Extra arguments" : "Unexpected characters");
    }
    this.pos = this.bytes.length;
  }

  #run(ok: (c: number) => boolean): string {
    const start = this.pos;
    while (this.pos < this.bytes.length && ok(this.bytes[this.pos]!)) this.pos++;
    return latin1.decode(this.bytes.subarray(start, this.pos));
  }

  #noRun(what: string): never {
    const c = this.peek();
    if (c !== undefined && c >= 0x80) throw new ParseError(`8-bit octet in ${what}`);
    if (c !== undefined && c < 0x20 && c !== 0x0d) {
      throw new ParseError(`Control character in ${what}`);
    }
    return this.fail(`Expected ${what}`);
  }

  /** RFC 3501 §9 `atom`. */
  atom(what = "an atom"): string {
    const s = this.#run(isAtomChar);
    if (s === "") this.#noRun(what);
    this.#checkTokenEnd(what);
    return s;
  }

  /** An atom upper-cased (command names, keywords of the grammar). */
  keyword(what = "a keyword"): string {
    return this.atom(what).toUpperCase();
  }

  #checkTokenEnd(what: string): void {
    const c = this.peek();
    if (c !== undefined && (c >= 0x80 || (c < 0x20 && c !== 0x0d && c !== 0x0a) || c === 0x7f)) {
      throw new ParseError(c >= 0x80 ? `8-bit octet in ${what}` : `Control character in ${what}`);
    }
  }

  /** RFC 3501 §9 `tag`: 1*<any ASTRING-CHAR except "+">. */
  tag(): string {
    const s = this.#run((c) => isAstringChar(c) && c !== 0x2b);
    if (s === "") this.#noRun("a tag");
    return s;
  }

  /** RFC 3501 §9 `number` (unsigned 32-bit). */
  number(): number {
    const n = this.number64();
    if (n > 4294967295) throw new ParseError("Number out of range");
    return n;
  }

  /** RFC 3501 §9 `nz-number`. */
  nzNumber(): number {
    const n = this.number();
    if (n === 0) throw new ParseError("Expected a non-zero number");
    return n;
  }

  /** RFC 9051 `number64` (here limited to 2^53-1, enough for mod-sequences in practice). */
  number64(): number {
    const s = this.#run((c) => c >= 0x30 && c <= 0x39);
    if (s === "") this.fail("Expected a number");
    if (s.length > 16 || !Number.isSafeInteger(Number(s))) {
      throw new ParseError("Number out of range");
    }
    this.#checkTokenEnd("a number");
    return Number(s);
  }

  /** RFC 3501 §9 `quoted`, as raw octets with the escapes undone. */
  quoted(): Uint8Array {
    this.expect('"', "a quoted string");
    const out: number[] = [];
    for (;;) {
      const c = this.bytes[this.pos];
      if (c === undefined || c === 0x0d || c === 0x0a) {
        throw new ParseError("Unterminated quoted string");
      }
      this.pos++;
      if (c === 0x22) return new Uint8Array(out);
      if (c === 0) throw new ParseError("NUL in quoted string");
      if (c === 0x5c) {
        const e = this.bytes[this.pos];
        if (e !== 0x5c && e !== 0x22) throw new ParseError("Invalid escape in quoted string");
        this.pos++;
        out.push(e);
      } else {
        out.push(c);
      }
    }
  }

  /**
   * RFC 3501 §9 `literal` (also RFC 7888 `{n+}`); with `allowBinary`, RFC 3516 `literal8`
   * `~{n}` too, which may contain NUL. Returns a view into the command bytes (no copy).
   */
  literal(allowBinary = false): Uint8Array {
    const binary = this.is("~");
    if (binary) {
      if (!allowBinary) throw new ParseError("literal8 is not allowed here");
      this.pos++;
    }
    this.expect("{", "a literal");
    const s = this.#run((c) => c >= 0x30 && c <= 0x39);
    if (s === "") this.fail("Expected a literal size");
    const size = s.length > 10 ? Infinity : Number(s);
    if (size > 4294967295) throw new ParseError("Literal size out of range");
    this.skip("+");
    this.expect("}", "'}'");
    this.skip("\r"); // CR optional: the reader normalises, other callers may not
    this.expect("\n", "CRLF after literal size");
    if (this.pos + size > this.bytes.length) throw new ParseError("Literal data missing");
    const data = this.bytes.subarray(this.pos, this.pos + size);
    if (!binary && data.includes(0)) throw new ParseError("NUL in literal");
    this.pos += size;
    return data;
  }

  /** RFC 3501 §9 `string` = quoted / literal, as octets. */
  stringBytes(allowBinary = false): Uint8Array {
    if (this.is('"')) return this.quoted();
    if (this.is("{") || (allowBinary && this.is("~"))) return this.literal(allowBinary);
    return this.fail("Expected a string");
  }

  /** RFC 3501 §9 `string`, decoded as UTF-8. */
  string(): string {
    return decodeUtf8(this.stringBytes());
  }

  /** RFC 3501 §9 `astring` = 1*ASTRING-CHAR / string, as octets. */
  astringBytes(): Uint8Array {
    if (this.is('"') || this.is("{")) return this.stringBytes();
    const start = this.pos;
    const s = this.#run(isAstringChar);
    if (s === "") this.#noRun("a string");
    this.#checkTokenEnd("an atom");
    return this.bytes.subarray(start, this.pos);
  }

  /** RFC 3501 §9 `astring`, decoded as UTF-8. */
  astring(): string {
    return decodeUtf8(this.astringBytes());
  }

  /** RFC 3501 §9 `nstring` = string / nil. */
  nstring(): string | null {
    if (this.is('"') || this.is("{")) return this.string();
    const a = this.atom("a string or NIL");
    if (a.toUpperCase() !== "NIL") throw new ParseError("Expected a string or NIL");
    return null;
  }

  /** RFC 3501 §9 `mailbox` = "INBOX" / astring; INBOX in any case becomes "INBOX" (§5.1). */
  mailbox(): string {
    const m = this.astring();
    return m.toUpperCase() === "INBOX" ? "INBOX" : m;
  }

  /** RFC 3501 §9 `list-mailbox` = 1*list-char / string. */
  listMailbox(): string {
    if (this.is('"') || this.is("{")) return this.string();
    const s = this.#run(isListChar);
    if (s === "") this.#noRun("a mailbox pattern");
    this.#checkTokenEnd("a mailbox pattern");
    return s;
  }

  /** RFC 3501 §9 `sequence-set` (and RFC 5182 `$`). */
  sequenceSet(): SequenceSet {
    const s = this.#run((c) =>
      (c >= 0x30 && c <= 0x39) || c === 0x3a || c === 0x2c || c === 0x2a || c === 0x24
    );
    if (s === "") this.#noRun("a sequence set");
    this.#checkTokenEnd("a sequence set");
    if (!this.atEnd && !this.is(" ") && !this.is(")")) this.fail("Invalid sequence set");
    return parseSequenceSet(s);
  }

  /**
   * RFC 3501 §9 `flag`: a system flag (canonical case, e.g. `\Seen`) or a keyword atom. `\Recent`
   * and unknown `\`-flags are refused: clients may not set them (RFC 3501 §2.3.2).
   */
  flag(): string {
    if (this.skip("\\")) {
      const name = this.atom("a flag").toLowerCase();
      const sys = SYSTEM_FLAGS.get(name);
      if (!sys) throw new ParseError(`Invalid system flag \\${name}`);
      return sys;
    }
    return this.atom("a flag");
  }

  /** RFC 3501 §9 `flag-list` = "(" [flag *(SP flag)] ")". */
  flagList(): string[] {
    return this.parenList(() => this.flag());
  }

  /** "(" [item *(SP item)] ")" */
  parenList<T>(item: () => T, allowEmpty = true): T[] {
    this.expect("(");
    const out: T[] = [];
    if (this.skip(")")) {
      if (!allowEmpty) throw new ParseError("Empty list");
      return out;
    }
    for (;;) {
      out.push(item());
      if (this.skip(")")) return out;
      this.sp();
    }
  }

  /** RFC 3501 §9 `date`: date-text or DQUOTE date-text DQUOTE. */
  date(): SearchDate {
    const q = this.skip('"');
    const day = this.#digits(1, 2, "a day");
    this.expect("-");
    const month = this.#month();
    this.expect("-");
    const year = this.#digits(4, 4, "a year");
    if (q) this.expect('"');
    if (day < 1 || day > daysIn(year, month)) throw new ParseError("Invalid date");
    return { year, month, day };
  }

  /** RFC 3501 §9 `date-time`: DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE. */
  dateTime(): DateTime {
    this.expect('"', "a date-time");
    this.skip(" ");
    const day = this.#digits(1, 2, "a day");
    this.expect("-");
    const month = this.#month();
    this.expect("-");
    const year = this.#digits(4, 4, "a year");
    this.expect(" ");
    const h = this.#digits(2, 2, "hours");
    this.expect(":");
    const mi = this.#digits(2, 2, "minutes");
    this.expect(":");
    const s = this.#digits(2, 2, "seconds");
    this.expect(" ");
    const sign = this.peek();
    if (sign !== 0x2b && sign !== 0x2d) this.fail("Expected a zone");
    this.pos++;
    const zone = this.#digits(4, 4, "a zone");
    this.expect('"');
    const zh = Math.floor(zone / 100);
    const zm = zone % 100;
    if (day < 1 || day > daysIn(year, month) || h > 23 || mi > 59 || s > 60 || zh > 23 || zm > 59) {
      throw new ParseError("Invalid date-time");
    }
    const zoneMinutes = (sign === 0x2d ? -1 : 1) * (zh * 60 + zm);
    const date = new Date(
      Date.UTC(year, month - 1, day, h, mi, Math.min(s, 59)) - zoneMinutes * 60_000,
    );
    return { date, zoneMinutes };
  }

  #digits(min: number, max: number, what: string): number {
    const start = this.pos;
    while (
      this.pos - start < max && this.peek() !== undefined && this.peek()! >= 0x30 &&
      this.peek()! <= 0x39
    ) {
      this.pos++;
    }
    if (this.pos - start < min) this.fail(`Expected ${what}`);
    return Number(latin1.decode(this.bytes.subarray(start, this.pos)));
  }

  #month(): number {
    const name = latin1.decode(this.bytes.subarray(this.pos, this.pos + 3)).toLowerCase();
    const i = MONTHS.findIndex((m) => m.toLowerCase() === name);
    if (i < 0) this.fail("Expected a month name");
    this.pos += 3;
    return i + 1;
  }

  /**
   * A generic value: a parenthesised list, a string, NIL (null), or an atom-like token (which
   * may contain "[" "]" and wildcards). Nesting is limited to {@link maxDepth}.
   */
  value(depth = 0): ImapValue {
    if (this.is("(")) {
      if (depth >= this.maxDepth) throw new ParseError("Too deeply nested");
      return this.parenList(() => this.value(depth + 1));
    }
    if (this.is('"') || this.is("{")) return this.string();
    const s = this.#run((c) => isListChar(c) || c === 0x5c);
    if (s === "") this.#noRun("a value");
    this.#checkTokenEnd("a value");
    return s.toUpperCase() === "NIL" ? null : s;
  }
}

const SYSTEM_FLAGS = new Map(
  ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"].map((
    f,
  ) => [f.slice(1).toLowerCase(), f]),
);
