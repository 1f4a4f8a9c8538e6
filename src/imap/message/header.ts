/**
 * Message header parsing (RFC 5322 §2.2, §3.2.2), RFC 2047 encoded words and MIME parameters
 * (RFC 2045 §5.1, RFC 2183, RFC 2231).
 *
 * Exported API:
 * - `parseHeaderBlock(bytes, start, end): HeaderBlock` — splits the header that begins at
 *   `start` into fields with byte offsets. The header ends after the first empty line (CRLF or
 *   a bare LF, tolerated); without one, the whole range is header (truncated message).
 * - `HeaderField` — `{ name, start, end, value }`: `start..end` are the field's raw bytes
 *   including continuation lines and the line end; `value` is the text after the colon, still
 *   folded, decoded as UTF-8 (RFC 6532) or, when not valid UTF-8, as Latin-1.
 * - `unfold(value)` — RFC 5322 §2.2.3 unfolding (drop CR/LF before WSP), trimmed.
 * - `findField(fields, name)` / `findFields(fields, name)` — case-insensitive lookup.
 * - `decodeEncodedWords(text)` — RFC 2047 §6 decoding of B and Q encoded words (any charset
 *   `TextDecoder` knows; words in unknown charsets are left as is; whitespace between adjacent
 *   encoded words is dropped, RFC 2047 §6.2).
 * - `parseContentType(value)` / `parseDisposition(value)` — `{ type, subtype, params }`,
 *   `{ type, params }` with parameters merged per RFC 2231 (see `MimeParam`).
 * - `paramValue(params, name)` — a parameter's value fully decoded (RFC 2231 charset applied).
 * - `bytesToString(bytes, start, end)` — UTF-8 when valid, else Latin-1.
 *
 * Nothing here throws on malformed input.
 *
 * @module
 */

/** One header field with its raw byte range. */
export interface HeaderField {
  /** Field name as written (compare case-insensitively). */
  name: string;
  /** Offset of the first byte of the field name. */
  start: number;
  /** Offset just past the field's final line end (continuation lines included). */
  end: number;
  /** Raw text after the colon, still folded, without the final line end. */
  value: string;
}

/** A parsed header block. */
export interface HeaderBlock {
  fields: HeaderField[];
  /** Offset just past the empty line that ends the header (== body start). */
  end: number;
}

/** A MIME parameter after RFC 2231 continuations are merged. */
export interface MimeParam {
  /** Lower-case attribute, without `*` or section numbers. */
  name: string;
  /**
   * The value as for BODYSTRUCTURE: plain parameters unchanged; an RFC 2231 extended value keeps
   * its `charset'language'%XX` form (then `extended` is true), as Dovecot sends it.
   */
  value: string;
  /** True when the value is RFC 2231 extended (`name*=`); BODYSTRUCTURE then names it `name*`. */
  extended: boolean;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/** Decodes `bytes[start..end)` as UTF-8 when valid, else Latin-1 (never throws). */
export function bytesToString(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const slice = bytes.subarray(start, end);
  let ascii = true;
  for (const b of slice) {
    if (b > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return latin1.decode(slice);
  try {
    return utf8.decode(slice);
  } catch {
    return latin1.decode(slice);
  }
}

/** Offset just past the line starting at `i` (past its LF), or `end`. */
function lineEnd(bytes: Uint8Array, i: number, end: number): number {
  const lf = bytes.indexOf(0x0a, i);
  return lf < 0 || lf >= end ? end : lf + 1;
}

/** True when the line `[i, next)` is empty (just CRLF or LF). */
function isEmptyLine(bytes: Uint8Array, i: number, next: number): boolean {
  const len = next - i;
  return (len === 1 && bytes[i] === 0x0a) ||
    (len === 2 && bytes[i] === 0x0d && bytes[i + 1] === 0x0a);
}

/**
 * Parses the header starting at `start` (RFC 5322 §2.2). Lines without a colon are skipped
 * (they match no field); continuation lines (leading SP/TAB) belong to the previous field.
 */
export function parseHeaderBlock(bytes: Uint8Array, start: number, end: number): HeaderBlock {
  const fields: HeaderField[] = [];
  let i = start;
  let current: { start: number; colon: number; end: number } | null = null;
  const flush = () => {
    if (!current) return;
    const name = latin1.decode(bytes.subarray(current.start, current.colon)).trimEnd();
    let valueEnd = current.end;
    if (valueEnd > current.start && bytes[valueEnd - 1] === 0x0a) valueEnd--;
    if (valueEnd > current.start && bytes[valueEnd - 1] === 0x0d) valueEnd--;
    fields.push({
      name,
      start: current.start,
      end: current.end,
      value: bytesToString(bytes, current.colon + 1, valueEnd),
    });
    current = null;
  };
  while (i < end) {
    const next = lineEnd(bytes, i, end);
    if (isEmptyLine(bytes, i, next)) {
      flush();
      return { fields, end: next };
    }
    const first = bytes[i];
    if ((first === 0x20 || first === 0x09) && current) {
      current.end = next;
    } else {
      flush();
      const colon = bytes.indexOf(0x3a, i);
      if (colon >= 0 && colon < next && colon > i) current = { start: i, colon, end: next };
    }
    i = next;
  }
  flush();
  return { fields, end };
}

/** RFC 5322 §2.2.3 unfolding: CRLF (or bare LF) followed by WSP becomes the WSP; trimmed. */
export function unfold(value: string): string {
  return value.replace(/\r?\n(?=[ \t])/g, "").replace(/[\r\n]/g, "").trim();
}

/** The first field called `name` (case-insensitive), if any. */
export function findField(fields: readonly HeaderField[], name: string): HeaderField | undefined {
  const lower = name.toLowerCase();
  return fields.find((f) => f.name.toLowerCase() === lower);
}

/** All fields called `name` (case-insensitive), in header order. */
export function findFields(fields: readonly HeaderField[], name: string): HeaderField[] {
  const lower = name.toLowerCase();
  return fields.filter((f) => f.name.toLowerCase() === lower);
}

/** Decodes bytes in `charset`, or null when TextDecoder does not know it. */
function decodeCharset(bytes: Uint8Array, charset: string): string | null {
  try {
    return new TextDecoder(charset.trim().toLowerCase() || "us-ascii").decode(bytes);
  } catch {
    return null;
  }
}

function base64Bytes(text: string): Uint8Array | null {
  const clean = text.replace(/[^A-Za-z0-9+/]/g, "");
  const padded = clean + "=".repeat((4 - (clean.length % 4)) % 4);
  if (clean.length % 4 === 1) return null;
  try {
    const bin = atob(padded);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

function qBytes(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "_") out.push(0x20);
    else if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(text.charCodeAt(i) & 0xff);
  }
  return new Uint8Array(out);
}

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

/**
 * RFC 2047 §6 decoding. Adjacent encoded words in the same charset are joined as bytes before
 * decoding, so a multi-byte character split across words survives; the `*language` suffix of
 * RFC 2231 §5 is ignored. Undecodable words stay as written.
 */
export function decodeEncodedWords(text: string): string {
  if (!text.includes("=?")) return text;
  let out = "";
  let last = 0;
  let pending: { charset: string; chunks: Uint8Array[]; raw: string } | null = null;
  const flush = () => {
    if (!pending) return;
    const total = pending.chunks.reduce((n, c) => n + c.length, 0);
    const joined = new Uint8Array(total);
    let o = 0;
    for (const c of pending.chunks) {
      joined.set(c, o);
      o += c.length;
    }
    out += decodeCharset(joined, pending.charset) ?? pending.raw;
    pending = null;
  };
  for (const m of text.matchAll(ENCODED_WORD)) {
    const between = text.slice(last, m.index);
    const charset = m[1]!.split("*")[0]!.toLowerCase();
    const bytes = m[2]!.toUpperCase() === "B" ? base64Bytes(m[3]!) : qBytes(m[3]!);
    const adjacent = /^[ \t\r\n]*$/.test(between);
    if (!(pending && adjacent)) {
      flush();
      out += between;
    } else if (pending && pending.charset !== charset) {
      flush();
    }
    if (bytes === null || decodeCharset(new Uint8Array(0), charset) === null) {
      flush();
      out += m[0];
    } else if (pending) {
      pending.chunks.push(bytes);
      pending.raw += m[0];
    } else {
      pending = { charset, chunks: [bytes], raw: m[0] };
    }
    last = m.index + m[0].length;
  }
  flush();
  return out + text.slice(last);
}

/** Skips RFC 5322 CFWS (whitespace and nested comments) from `i`. */
function skipCfws(s: string, i: number): number {
  for (;;) {
    while (i < s.length && /[ \t\r\n]/.test(s[i]!)) i++;
    if (s[i] !== "(") return i;
    let depth = 0;
    for (; i < s.length; i++) {
      const c = s[i];
      if (c === "\\") i++;
      else if (c === "(") depth++;
      else if (c === ")" && --depth === 0) {
        i++;
        break;
      }
    }
  }
}

/** Reads a token or quoted string at `i`; stops at any char in `stops`. */
function readValue(s: string, i: number, stops: string): [string, number] {
  if (s[i] === '"') {
    let v = "";
    for (i++; i < s.length && s[i] !== '"'; i++) {
      if (s[i] === "\\" && i + 1 < s.length) i++;
      v += s[i];
    }
    return [v, i + 1];
  }
  let j = i;
  while (j < s.length && !stops.includes(s[j]!) && !/[ \t\r\n(]/.test(s[j]!)) j++;
  return [s.slice(i, j), j];
}

/** Parses `;`-separated `attribute=value` parameters starting at `i` (RFC 2045 §5.1). */
function parseParams(s: string, i: number): MimeParam[] {
  const raw: { name: string; section: number | null; star: boolean; value: string }[] = [];
  while (i < s.length) {
    i = skipCfws(s, i);
    if (s[i] !== ";") {
      // Junk between parameters: skip to the next semicolon.
      const semi = s.indexOf(";", i);
      if (semi < 0) break;
      i = semi;
    }
    i = skipCfws(s, i + 1);
    const [attr, j] = readValue(s, i, "=;");
    i = skipCfws(s, j);
    if (attr === "" || s[i] !== "=") continue;
    i = skipCfws(s, i + 1);
    const [value, k] = readValue(s, i, ";");
    i = k;
    const m = /^([^*]+)(?:\*(\d+))?(\*)?$/.exec(attr);
    if (!m) raw.push({ name: attr.toLowerCase(), section: null, star: false, value });
    else {
      raw.push({
        name: m[1]!.toLowerCase(),
        section: m[2] === undefined ? null : Number(m[2]),
        star: m[3] === "*",
        value,
      });
    }
  }
  // RFC 2231 §3: merge name*0, name*1, ... (sorted by section) into one parameter.
  const out: MimeParam[] = [];
  const seen = new Set<string>();
  for (const p of raw) {
    if (p.section === null) {
      if (!seen.has(p.name)) out.push({ name: p.name, value: p.value, extended: p.star });
      seen.add(p.name);
      continue;
    }
    if (seen.has(p.name)) continue;
    seen.add(p.name);
    const parts = raw.filter((q) => q.name === p.name && q.section !== null)
      .sort((a, b) => a.section! - b.section!);
    const extended = parts[0]?.section === 0 && parts[0].star;
    let value = "";
    for (const q of parts) {
      // RFC 2231 §4.1: unextended sections of an extended value are literal text.
      value += extended && !q.star ? encodeURIComponent(q.value) : q.value;
    }
    out.push({ name: p.name, value, extended: Boolean(extended) });
  }
  return out;
}

/** Percent-decodes RFC 2231 `charset'language'value`, or null when malformed. */
function decode2231(value: string): string | null {
  const m = /^([^']*)'[^']*'(.*)$/s.exec(value);
  if (!m) return null;
  const bytes: number[] = [];
  const text = m[2]!;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i) & 0xff);
  }
  return decodeCharset(new Uint8Array(bytes), m[1] || "us-ascii");
}

/** A parameter's fully decoded value (RFC 2231 charset, or RFC 2047 words as some senders use). */
export function paramValue(params: readonly MimeParam[], name: string): string | null {
  const p = params.find((q) => q.name === name.toLowerCase());
  if (!p) return null;
  if (p.extended) return decode2231(p.value) ?? p.value;
  return decodeEncodedWords(p.value);
}

/** Parsed Content-Type (RFC 2045 §5.1); type and subtype are lower-case. */
export interface ContentType {
  type: string;
  subtype: string;
  params: MimeParam[];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses a Content-Type value; null when the type/subtype is missing or malformed. */
export function parseContentType(value: string): ContentType | null {
  const s = unfold(value);
  let i = skipCfws(s, 0);
  const [type, j] = readValue(s, i, "/;");
  i = skipCfws(s, j);
  if (s[i] !== "/") return null;
  i = skipCfws(s, i + 1);
  const [subtype, k] = readValue(s, i, ";");
  if (!TOKEN.test(type) || !TOKEN.test(subtype)) return null;
  return { type: type.toLowerCase(), subtype: subtype.toLowerCase(), params: parseParams(s, k) };
}

/** Parsed Content-Disposition (RFC 2183 §2); the type is lower-case. */
export interface Disposition {
  type: string;
  params: MimeParam[];
}

/** Parses a Content-Disposition value; null when it has no disposition type. */
export function parseDisposition(value: string): Disposition | null {
  const s = unfold(value);
  const [type, j] = readValue(s, skipCfws(s, 0), ";");
  if (!TOKEN.test(type)) return null;
  return { type: type.toLowerCase(), params: parseParams(s, j) };
}
