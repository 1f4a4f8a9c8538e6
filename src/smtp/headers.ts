/**
 * Small, byte-exact operations on a message's header section (RFC 5322 §2.2): removing
 * fields without touching anything else, so signatures over other fields stay valid.
 *
 * @module
 */

import { concat } from "../util/bytes.ts";

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;

/** The first `limit` bytes of the parts, joined into one new array. */
function concatPrefix(parts: readonly Uint8Array[], limit: number): Uint8Array {
  let size = 0;
  const take: Uint8Array[] = [];
  for (const p of parts) {
    if (size >= limit) break;
    const piece = p.subarray(0, Math.min(p.length, limit - size));
    take.push(piece);
    size += piece.length;
  }
  return concat(take);
}

/** Where each header field of `bytes` starts and ends (end includes its CRLF). */
function fields(bytes: Uint8Array): { start: number; end: number; headerEnd: number }[] {
  const out: { start: number; end: number; headerEnd: number }[] = [];
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    // An empty line ends the header section.
    if (i === start && bytes[i] === CR && bytes[i + 1] === LF) break;
    const lf = bytes.indexOf(LF, i);
    if (lf < 0) return []; // no complete header section in reach: change nothing
    const next = lf + 1;
    const c = bytes[next];
    if (c === SP || c === HT) {
      i = next; // folded continuation line
      continue;
    }
    out.push({ start, end: next, headerEnd: 0 });
    start = next;
    i = next;
  }
  const headerEnd = start;
  for (const f of out) f.headerEnd = headerEnd;
  return out;
}

const HEADER_LIMIT = 256 * 1024;

// Bytes as Latin-1 text (one character per byte), in slices to stay clear of argument limits.
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

interface Field {
  raw: Uint8Array;
  /** Lower-case field name; "" for a line without a colon. */
  name: string;
  /** Unfolded value. */
  value: string;
}

/**
 * Length of the header section including the empty line that ends it (RFC 5322 §2.1), or
 * `limit` when it does not end within `limit` bytes. Reads only the header, not the body.
 */
function headerLength(parts: readonly Uint8Array[], limit: number): number {
  const seq = [CR, LF, CR, LF];
  let matched = 2; // as if a CRLF came before the content: a leading CRLF is an empty header
  let pos = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++, pos++) {
      if (pos >= limit) return limit;
      const b = p[i]!;
      if (b === seq[matched]) matched++;
      else matched = b === CR ? 1 : 0;
      if (matched === 4) return pos + 1;
    }
  }
  return Math.min(pos, limit);
}

// The header section of the content (first 256 KiB) split into fields.
function parse(parts: readonly Uint8Array[]): { fields: Field[]; headerEnd: number } {
  const head = concatPrefix(parts, headerLength(parts, HEADER_LIMIT));
  const list = fields(head);
  return {
    headerEnd: list[0]?.headerEnd ?? 0,
    fields: list.map((f) => {
      const raw = head.subarray(f.start, f.end);
      const text = latin1(raw);
      const colon = text.indexOf(":");
      return colon < 0 ? { raw, name: "", value: "" } : {
        raw,
        name: text.slice(0, colon).trim().toLowerCase(),
        value: text.slice(colon + 1).replace(/\r?\n[ \t]/g, " ").trim(),
      };
    }),
  };
}

/**
 * Remove every header field for which `drop(name, value)` is true. `name` is lower-case,
 * `value` is the unfolded value as Latin-1 text. Returns the new content parts; the body and
 * the kept fields are byte-identical. If no header section is found in the first 256 KiB,
 * the content is returned unchanged.
 */
export function removeHeaderFields(
  parts: readonly Uint8Array[],
  drop: (name: string, value: string) => boolean,
): Uint8Array[] {
  const { fields: list, headerEnd } = parse(parts);
  const keep = list.filter((f) => f.name === "" || !drop(f.name, f.value));
  if (keep.length === list.length) return [...parts];
  // Rebuild: kept fields, then everything from the end of the header section on.
  const rest: Uint8Array[] = [];
  let off = 0;
  for (const p of parts) {
    const from = Math.max(0, headerEnd - off);
    if (from < p.length) rest.push(from === 0 ? p : p.subarray(from));
    off += p.length;
  }
  return [...keep.map((k) => k.raw.slice()), ...rest];
}

/**
 * The authserv-id of an Authentication-Results value (RFC 8601 §2.2:
 * `authserv-id [ CFWS authres-version ] ...`), lower-case, or "" when malformed.
 */
export function authservIdOf(value: string): string {
  const v = value.replace(/\([^)]*\)/g, " ").trim();
  const m = /^([^\s;]+)/.exec(v);
  return m ? m[1]!.toLowerCase() : "";
}

/** The lower-case names of the header fields present. */
export function headerFieldNames(parts: readonly Uint8Array[]): Set<string> {
  return new Set(parse(parts).fields.map((f) => f.name));
}

/** The unfolded values of every field called `name` (lower-case). */
export function headerValues(parts: readonly Uint8Array[], name: string): string[] {
  return parse(parts).fields.filter((f) => f.name === name).map((f) => f.value);
}
