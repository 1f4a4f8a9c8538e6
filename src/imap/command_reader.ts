/**
 * Incremental reader of IMAP client commands from a byte stream (no I/O of its own).
 *
 * A command is one line, or several lines joined by literals (RFC 3501 §4.3 `literal`,
 * `"{" number "}" CRLF *CHAR8`; RFC 7888 non-synchronizing `{n+}`; RFC 3516 `literal8`
 * `~{n}`). The transport pushes chunks with {@link CommandReader.push} and drains events with
 * {@link CommandReader.next} until it returns null:
 *
 * - `{ kind: "literal", size, nonSync, binary }` at a line ending in a literal announcement. The
 *   caller decides: {@link CommandReader.accept} (after sending `+ OK` for a synchronizing
 *   literal, RFC 3501 §7.5) or {@link CommandReader.reject} after answering `NO [TOOBIG]` /
 *   `BAD`. Until then `next()` returns the same event again. On reject the partial command is
 *   dropped; for a non-synchronizing literal the client sends the octets anyway (RFC 7888 §4), so
 *   the reader skips exactly `size` octets without buffering them, then the rest of that line
 *   (and any further non-synchronizing literals on it). A caller unwilling to skip a huge
 *   non-synchronizing literal should close the connection instead. A size above 4294967295 is
 *   not a valid `number` (RFC 3501 §9): reply BAD and reject.
 * - `{ kind: "command", bytes }` once a command is complete: its lines, each ending in CRLF, with
 *   the literal octets after the CRLF of the line announcing them, ready for parser.ts.
 * - `{ kind: "too-long" }` when the text of a command (its lines, not its literals) exceeds
 *   `maxLineLength`; reported as soon as the limit is crossed, without waiting for the line end.
 *   The caller answers BAD; the reader discards up to the next LF (skipping a non-synchronizing
 *   literal announced at the end of the discarded line) and resynchronises there.
 *
 * {@link CommandReader.nextLine} reads one raw line instead, with no literal handling, for
 * IDLE's `DONE` (RFC 2177) and AUTHENTICATE continuation lines (RFC 3501 §6.2.2).
 *
 * Tolerances: a bare LF ends a line like CRLF (the line then ends in CRLF in `bytes`); empty lines
 * between commands are skipped. Memory is bounded by `maxLineLength` plus the accepted literals
 * (the caller's limit) plus whatever was pushed and not yet consumed; `push` copies its chunk.
 *
 * @module
 */

import { concat } from "../util/bytes.ts";

/** A literal announcement awaiting the caller's accept/reject decision. */
export interface LiteralEvent {
  readonly kind: "literal";
  /** The announced octet count (may exceed 4294967295 for invalid input). */
  readonly size: number;
  /** `{n+}`: RFC 7888 LITERAL+ / LITERAL-; no `+` continuation is expected. */
  readonly nonSync: boolean;
  /** `~{n}`: RFC 3516 literal8 (may contain NUL). */
  readonly binary: boolean;
}

/** What {@link CommandReader.next} yields. */
export type ReaderEvent =
  | { readonly kind: "command"; readonly bytes: Uint8Array }
  | LiteralEvent
  | { readonly kind: "too-long" };

/** What {@link CommandReader.nextLine} yields: the line without its CRLF, or too-long. */
export type LineEvent =
  | { readonly kind: "line"; readonly bytes: Uint8Array }
  | { readonly kind: "too-long" };

/** Options of a {@link CommandReader}. */
export interface CommandReaderOptions {
  /**
   * Longest command text in octets, literals excluded (default 65536; RFC 7162 §4 asks that
   * servers accept lines of at least 8192 octets).
   */
  maxLineLength?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const CRLF = new Uint8Array([CR, LF]);
const TAIL = 32;

/**
 * Find a literal announcement at the end of `line` (CRLF already stripped), RFC 3501 §9
 * `literal`, RFC 7888 `literal =/ "{" number64 ["+"] "}"`, RFC 3516 `literal8`. When
 * `checkQuotes`, a `{n}` inside an unterminated quoted string is not an announcement.
 */
export function literalAnnouncement(line: Uint8Array, checkQuotes = true): LiteralEvent | null {
  let j = line.length - 1;
  if (j < 2 || line[j] !== 0x7d) return null;
  j--;
  let nonSync = false;
  if (line[j] === 0x2b) {
    nonSync = true;
    j--;
  }
  const digitsEnd = j + 1;
  while (j >= 0 && line[j]! >= 0x30 && line[j]! <= 0x39) j--;
  if (j < 0 || line[j] !== 0x7b || j + 1 === digitsEnd) return null;
  const open = j;
  const binary = open > 0 && line[open - 1] === 0x7e;
  if (checkQuotes) {
    let inQuote = false;
    for (let i = 0; i < open; i++) {
      const c = line[i];
      if (inQuote && c === 0x5c) i++;
      else if (c === 0x22) inQuote = !inQuote;
    }
    if (inQuote) return null;
  }
  const digits = digitsEnd - open - 1;
  let size = Infinity;
  if (digits <= 15) {
    size = 0;
    for (let i = open + 1; i < digitsEnd; i++) size = size * 10 + (line[i]! - 0x30);
  }
  return { kind: "literal", size, nonSync, binary };
}

type State = "line" | "pending" | "literal" | "skip" | "discard";

/** Incremental command reader; see the module documentation for the protocol. */
export class CommandReader {
  readonly #max: number;
  #chunks: Uint8Array[] = [];
  #off = 0;
  #state: State = "line";
  #parts: Uint8Array[] = [];
  #text = 0;
  #line: Uint8Array[] = [];
  #lineLen = 0;
  #pending: LiteralEvent | null = null;
  #lit: Uint8Array | null = null;
  #litFill = 0;
  #skip = 0;
  #tail: number[] = [];
  #discardLiterals = true;

  constructor(options: CommandReaderOptions = {}) {
    this.#max = options.maxLineLength ?? 65536;
  }

  /** Queue received bytes (copied). */
  push(chunk: Uint8Array): void {
    if (chunk.length > 0) this.#chunks.push(chunk.slice());
  }

  /** Octets pushed and not yet consumed. */
  get buffered(): number {
    let n = 0;
    for (const c of this.#chunks) n += c.length;
    return n - this.#off;
  }

  /** True between commands (nothing of a command read yet): where {@link nextLine} may be used. */
  get idle(): boolean {
    return this.#state === "line" && this.#parts.length === 0 && this.#lineLen === 0;
  }

  #advance(n: number): void {
    this.#off += n;
    while (this.#chunks.length > 0 && this.#off >= this.#chunks[0]!.length) {
      this.#off -= this.#chunks[0]!.length;
      this.#chunks.shift();
    }
  }

  /** Read up to LF within `limit` octets: the line (CR stripped), "too-long", or null. */
  #readLine(limit: number): Uint8Array | "too-long" | null {
    while (this.#chunks.length > 0) {
      const c = this.#chunks[0]!;
      const idx = c.indexOf(LF, this.#off);
      const end = idx < 0 ? c.length : idx;
      const seg = c.subarray(this.#off, end);
      // +1: a CR before the LF does not count against the limit.
      if (this.#lineLen + seg.length > limit + 1) {
        this.#line = [];
        this.#lineLen = 0;
        this.#tail = [];
        this.#state = "discard";
        return "too-long";
      }
      this.#line.push(seg);
      this.#lineLen += seg.length;
      if (idx < 0) {
        this.#advance(c.length - this.#off);
        continue;
      }
      this.#advance(end + 1 - this.#off);
      let line = this.#line.length === 1 ? this.#line[0]!.slice() : concat(this.#line);
      this.#line = [];
      this.#lineLen = 0;
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
      return line;
    }
    return null;
  }

  /** Discard through the next LF, remembering the last octets; true once the LF is consumed. */
  #discard(): boolean {
    while (this.#chunks.length > 0) {
      const c = this.#chunks[0]!;
      const idx = c.indexOf(LF, this.#off);
      const end = idx < 0 ? c.length : idx;
      const from = Math.max(this.#off, end - TAIL);
      for (let i = from; i < end; i++) this.#tail.push(c[i]!);
      if (this.#tail.length > TAIL) this.#tail.splice(0, this.#tail.length - TAIL);
      if (idx < 0) {
        this.#advance(c.length - this.#off);
        continue;
      }
      this.#advance(end + 1 - this.#off);
      if (this.#tail[this.#tail.length - 1] === CR) this.#tail.pop();
      return true;
    }
    return false;
  }

  #reset(): void {
    this.#parts = [];
    this.#text = 0;
    this.#pending = null;
    this.#lit = null;
    this.#litFill = 0;
  }

  /** The next event, or null when more input is needed. */
  next(): ReaderEvent | null {
    for (;;) {
      switch (this.#state) {
        case "pending":
          return this.#pending!;
        case "literal": {
          const lit = this.#lit!;
          while (this.#litFill < lit.length && this.#chunks.length > 0) {
            const c = this.#chunks[0]!;
            const n = Math.min(lit.length - this.#litFill, c.length - this.#off);
            lit.set(c.subarray(this.#off, this.#off + n), this.#litFill);
            this.#litFill += n;
            this.#advance(n);
          }
          if (this.#litFill < lit.length) return null;
          this.#parts.push(lit);
          this.#lit = null;
          this.#state = "line";
          continue;
        }
        case "skip": {
          while (this.#skip > 0 && this.#chunks.length > 0) {
            const n = Math.min(this.#skip, this.#chunks[0]!.length - this.#off);
            this.#skip -= n;
            this.#advance(n);
          }
          if (this.#skip > 0) return null;
          this.#tail = [];
          this.#discardLiterals = true;
          this.#state = "discard";
          continue;
        }
        case "discard": {
          if (!this.#discard()) return null;
          this.#state = "line";
          if (this.#discardLiterals) {
            const ann = literalAnnouncement(new Uint8Array(this.#tail), false);
            if (ann?.nonSync) {
              this.#skip = ann.size;
              this.#state = "skip";
            }
          }
          this.#tail = [];
          continue;
        }
        case "line": {
          const line = this.#readLine(this.#max - this.#text);
          if (line === null) return null;
          if (line === "too-long") {
            this.#reset();
            this.#discardLiterals = true;
            return { kind: "too-long" };
          }
          if (this.#parts.length === 0 && line.length === 0) continue;
          this.#parts.push(line, CRLF);
          this.#text += line.length + 2;
          const ann = literalAnnouncement(line);
          if (ann) {
            this.#pending = ann;
            this.#state = "pending";
            return ann;
          }
          const bytes = concat(this.#parts);
          this.#reset();
          return { kind: "command", bytes };
        }
      }
    }
  }

  /**
   * The command so far (its lines and accepted literals, up to the pending announcement), so
   * the caller can see the tag and command name when deciding on a literal. Empty when no
   * literal is pending.
   */
  pendingPrefix(): Uint8Array {
    return this.#state === "pending" ? concat(this.#parts) : new Uint8Array(0);
  }

  /** Accept the pending literal: its octets become part of the command. */
  accept(): void {
    const ann = this.#pending;
    if (this.#state !== "pending" || !ann) throw new Error("no literal is pending");
    if (!Number.isSafeInteger(ann.size)) throw new Error("literal size is not acceptable");
    this.#pending = null;
    this.#lit = new Uint8Array(ann.size);
    this.#litFill = 0;
    this.#state = "literal";
  }

  /** Reject the pending literal and drop the command (see the module documentation). */
  reject(): void {
    const ann = this.#pending;
    if (this.#state !== "pending" || !ann) throw new Error("no literal is pending");
    this.#reset();
    if (ann.nonSync) {
      this.#skip = ann.size;
      this.#state = "skip";
    } else {
      this.#state = "line";
    }
  }

  /**
   * Read one raw line (no literal handling) for IDLE / AUTHENTICATE; only between commands.
   * Returns null when more input is needed.
   */
  nextLine(): LineEvent | null {
    if (this.#state === "discard" && !this.#discardLiterals) {
      if (!this.#discard()) return null;
      this.#state = "line";
    }
    if (this.#state !== "line" || this.#parts.length > 0) {
      throw new Error("a command is being read");
    }
    const line = this.#readLine(this.#max);
    if (line === null) return null;
    if (line === "too-long") {
      this.#discardLiterals = false;
      return { kind: "too-long" };
    }
    return { kind: "line", bytes: line };
  }
}
