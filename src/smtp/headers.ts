/**
 * Small, byte-exact operations on a message's header section (RFC 5322 §2.2): removing
 * fields without touching anything else, so signatures over other fields stay valid.
 *
 * @module
 */

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;

function concat(parts: readonly Uint8Array[], limit: number): Uint8Array {
  let size = 0;
  const take: Uint8Array[] = [];
  for (const p of parts) {
    if (size >= limit) break;
    const piece = p.subarray(0, Math.min(p.length, limit - size));
    take.push(piece);
    size += piece.length;
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of take) {
    out.set(p, off);
    off += p.length;
  }
  return out;
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
  const head = concat(parts, HEADER_LIMIT);
  const list = fields(head);
  if (list.length === 0) return [...parts];
  const keep: Uint8Array[] = [];
  let removed = false;
  for (const f of list) {
    const raw = head.subarray(f.start, f.end);
    const text = String.fromCharCode(...raw);
    const colon = text.indexOf(":");
    const name = colon < 0 ? "" : text.slice(0, colon).trim().toLowerCase();
    const value = colon < 0 ? "" : text.slice(colon + 1).replace(/\r?\n[ \t]/g, " ").trim();
    if (colon >= 0 && drop(name, value)) removed = true;
    else keep.push(raw);
  }
  if (!removed) return [...parts];
  // Rebuild: kept fields, then everything from the end of the header section on.
  const headerEnd = list[0]!.headerEnd;
  const rest: Uint8Array[] = [];
  let off = 0;
  for (const p of parts) {
    const from = Math.max(0, headerEnd - off);
    if (from < p.length) rest.push(from === 0 ? p : p.subarray(from));
    off += p.length;
  }
  return [...keep.map((k) => k.slice()), ...rest];
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
