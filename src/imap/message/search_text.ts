/**
 * What SEARCH needs from message content (RFC 3501 §6.4.4; RFC 9051 §6.4.4 is the same here).
 *
 * Exported API:
 * - `searchFold(s)` / `containsText(haystack, needle)` — the case-insensitive substring match
 *   of RFC 3501 §6.4.4 ("case-insensitive substring"): both sides NFC-normalised and
 *   lower-cased; an empty needle matches anything.
 * - `headerValues(part, name): string[]` — every field `name` of `part`, unfolded and RFC 2047
 *   decoded.
 * - `matchHeader(part, name, needle)` — SEARCH HEADER / SUBJECT: some field `name` contains
 *   `needle`; with an empty needle, that the field exists (the search-header script).
 * - `matchAddress(part, name, needle)` — SEARCH FROM / TO / CC / BCC: matched against the parsed
 *   address list as `Name <mailbox@host>` (so `<user (comment)@ domain>` matches
 *   `user@domain`, and group names are found, as the search-addresses script expects); an empty
 *   needle tests that the field exists.
 * - `decodeTransfer(bytes, start, end, encoding): Uint8Array` — Content-Transfer-Encoding
 *   base64 / quoted-printable (RFC 2045 §6.7, §6.8) decoding; other encodings as is.
 * - `bodyTexts(bytes, root): Generator<string>` — decoded text of each text part (and of parts
 *   without a Content-Type), charset applied (unknown charsets: UTF-8, else Latin-1); the header
 *   and body of encapsulated messages are included. Other media types are not searched.
 * - `matchBody(bytes, root, needle)` — SEARCH BODY; `matchText(bytes, root, needle)` — SEARCH
 *   TEXT (header or body).
 * - `parseDateHeader(value): DateTime | null` — tolerant RFC 5322 §3.3 date-time (day names
 *   optional, obsolete 2-digit years and zone names of §4.3).
 * - `sentDay(part): number | null` — the Date: header's calendar day, as days since 1970-01-01,
 *   taken as written, ignoring time and zone (RFC 3501 §6.4.4 SENTBEFORE/SENTON/SENTSINCE
 *   "disregarding time and timezone"; the search-date script checks this across DST changes).
 * - `dayNumber(year, month, day)` — the same day count for a SEARCH date argument.
 *
 * @module
 */

import { addressListText, parseAddressList } from "./address_list.ts";
import { bytesToString, decodeEncodedWords, findField, findFields, paramValue } from "./header.ts";
import { unfold } from "./header.ts";
import { isMessageType, type MimePart } from "./mime_tree.ts";

/** Normalises text for case-insensitive comparison. */
export function searchFold(s: string): string {
  return s.normalize("NFC").toLowerCase();
}

/** Case-insensitive substring test (RFC 3501 §6.4.4). */
export function containsText(haystack: string, needle: string): boolean {
  return needle === "" || searchFold(haystack).includes(searchFold(needle));
}

/** All values of field `name`, unfolded and RFC 2047 decoded. */
export function headerValues(part: MimePart, name: string): string[] {
  return findFields(part.fields, name).map((f) => decodeEncodedWords(unfold(f.value)));
}

/** SEARCH HEADER / SUBJECT. */
export function matchHeader(part: MimePart, name: string, needle: string): boolean {
  return headerValues(part, name).some((v) => containsText(v, needle));
}

/** SEARCH FROM / TO / CC / BCC. */
export function matchAddress(part: MimePart, name: string, needle: string): boolean {
  return findFields(part.fields, name).some((f) =>
    containsText(addressListText(parseAddressList(f.value), decodeEncodedWords), needle)
  );
}

const B64 = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}

function hex(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

/** Decodes a body range per its Content-Transfer-Encoding; never throws. */
export function decodeTransfer(
  bytes: Uint8Array,
  start: number,
  end: number,
  encoding: string,
): Uint8Array {
  const enc = encoding.trim().toLowerCase();
  const src = bytes.subarray(start, end);
  if (enc === "base64") {
    // RFC 2045 §6.8: characters outside the alphabet are ignored.
    const out = new Uint8Array(Math.floor((src.length * 3) / 4) + 3);
    let acc = 0;
    let bits = 0;
    let o = 0;
    for (const b of src) {
      const v = B64[b]!;
      if (v < 0) {
        if (b === 0x3d) break;
        continue;
      }
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >> bits) & 0xff;
      }
    }
    return out.subarray(0, o);
  }
  if (enc === "quoted-printable") {
    const out = new Uint8Array(src.length);
    let o = 0;
    for (let i = 0; i < src.length; i++) {
      const b = src[i]!;
      if (b !== 0x3d) {
        out[o++] = b;
        continue;
      }
      const h = hex(src[i + 1]);
      const l = hex(src[i + 2]);
      if (h >= 0 && l >= 0) {
        out[o++] = (h << 4) | l;
        i += 2;
        continue;
      }
      // Soft line break (RFC 2045 §6.7 rule 5): "=" then optional whitespace and a line end.
      let j = i + 1;
      while (src[j] === 0x20 || src[j] === 0x09) j++;
      if (src[j] === 0x0d) j++;
      if (src[j] === 0x0a || j >= src.length) i = j;
      else out[o++] = b;
    }
    return out.subarray(0, o);
  }
  return src;
}

function decodeText(data: Uint8Array, charset: string | null): string {
  if (charset) {
    try {
      return new TextDecoder(charset.trim().toLowerCase()).decode(data);
    } catch {
      // Unknown charset: fall through.
    }
  }
  return bytesToString(data);
}

/** The header as decoded text, one `Name: value` line per field. */
function headerText(part: MimePart): string {
  return part.fields.map((f) => `${f.name}: ${decodeEncodedWords(unfold(f.value))}`).join("\n");
}

/** Decoded text of the searchable parts under `root` (not including root's own header). */
export function* bodyTexts(bytes: Uint8Array, root: MimePart): Generator<string> {
  const stack: MimePart[] = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (p.children.length > 0) {
      for (let k = p.children.length - 1; k >= 0; k--) stack.push(p.children[k]!);
      continue;
    }
    if (p.message) {
      yield headerText(p.message);
      stack.push(p.message);
      continue;
    }
    if (p.contentType.type !== "text" && !p.defaultType) continue;
    if (p.contentType.type === "multipart" || isMessageType(p.contentType)) continue;
    const cte = findField(p.fields, "content-transfer-encoding");
    const data = decodeTransfer(bytes, p.bodyStart, p.bodyEnd, cte ? unfold(cte.value) : "");
    yield decodeText(data, paramValue(p.contentType.params, "charset"));
  }
}

/** SEARCH BODY. */
export function matchBody(bytes: Uint8Array, root: MimePart, needle: string): boolean {
  for (const text of bodyTexts(bytes, root)) if (containsText(text, needle)) return true;
  return needle === "";
}

/** SEARCH TEXT: the header or the body. */
export function matchText(bytes: Uint8Array, root: MimePart, needle: string): boolean {
  return containsText(headerText(root), needle) || matchBody(bytes, root, needle);
}

/** A parsed RFC 5322 date-time; `offsetMinutes` is east of UTC (0 when unknown). */
export interface DateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  offsetMinutes: number;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const ZONES: Record<string, number> = {
  ut: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
};

/** Parses an RFC 5322 §3.3 date-time tolerantly; null when no day, month and year. */
export function parseDateHeader(value: string): DateTime | null {
  const s = unfold(value).replace(/\([^)]*\)/g, " ");
  const m =
    /(\d{1,2})\s*[- ]\s*([A-Za-z]{3})[A-Za-z]*\s*[- ]\s*(\d{2,4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?(?:\s*([+-]\d{4}|[A-Za-z]+))?/
      .exec(s);
  if (!m) return null;
  const month = MONTHS.indexOf(m[2]!.toLowerCase()) + 1;
  if (month === 0) return null;
  let year = Number(m[3]);
  // RFC 5322 §4.3: 2-digit years are 19xx from 50, else 20xx; 3-digit add 1900.
  if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3]!.length === 3) year += 1900;
  const day = Number(m[1]);
  if (day < 1 || day > 31) return null;
  let offsetMinutes = 0;
  const zone = m[7];
  if (zone && /^[+-]\d{4}$/.test(zone)) {
    const n = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5));
    offsetMinutes = zone[0] === "-" ? -n : n;
  } else if (zone) offsetMinutes = ZONES[zone.toLowerCase()] ?? 0;
  return {
    year,
    month,
    day,
    hour: Number(m[4] ?? 0),
    minute: Number(m[5] ?? 0),
    second: Number(m[6] ?? 0),
    offsetMinutes,
  };
}

/** Days since 1970-01-01 of a calendar date (for comparing SEARCH dates). */
export function dayNumber(year: number, month: number, day: number): number {
  return Math.floor(Date.UTC(year, month - 1, day) / 86_400_000);
}

/** The sent day (Date: header, as written), or null when absent or unparsable. */
export function sentDay(part: MimePart): number | null {
  const f = findField(part.fields, "date");
  const d = f ? parseDateHeader(f.value) : null;
  return d ? dayNumber(d.year, d.month, d.day) : null;
}
