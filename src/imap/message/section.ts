/**
 * The bytes of `BODY[section]<partial>` (RFC 3501 §6.4.5; RFC 9051 §6.4.5 is the same here).
 *
 * Exported API:
 * - `Section` — `{ part: number[], text?: SectionText, fields?: string[] }`: part numbers
 *   (`[]` = the whole message) and an optional text specifier; `fields` for
 *   `HEADER.FIELDS` / `HEADER.FIELDS.NOT`.
 * - `parseSection(spec): Section | null` — parses the text between the brackets
 *   (`1.2.HEADER.FIELDS (From Subject)`); a convenience for tests and callers without the
 *   full command parser; null when malformed.
 * - `resolvePart(root, numbers): MimePart | null` — the part named by `numbers`.
 * - `fetchSection(bytes, root, section): Uint8Array | null` — the section's bytes; ranges of the
 *   stored message are returned as `subarray` views (no copy), only HEADER.FIELDS builds a new
 *   array. null when the part does not exist (the caller decides: Dovecot answers an empty string
 *   or NIL depending on the case; RFC 3501 leaves it open).
 * - `partial(data, start, count?)` — the `<start.count>` slice (RFC 3501 §6.4.5: a start past the
 *   end gives an empty string; the count is truncated at the end).
 *
 * Part numbering (RFC 3501 §6.4.5): the parts of a multipart are 1, 2, ...; a non-multipart
 * message (or encapsulated message) has one part, 1, which is its body. Numbers after a
 * `message/rfc822` part address the parts of the encapsulated message; `HEADER` and `TEXT` after
 * such a part are the encapsulated message's header and body; `MIME` is the part's own MIME
 * header. HEADER/TEXT on a part that is not a message give that part's own MIME header / body
 * (lenient, as Dovecot is).
 *
 * @module
 */

import { type MimePart } from "./mime_tree.ts";

/** Text specifiers of RFC 3501 §6.4.5. */
export type SectionText = "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";

/** A parsed section specification. */
export interface Section {
  /** Part numbers, 1-based; empty for the top-level message. */
  part: number[];
  text?: SectionText;
  /** Field names for HEADER.FIELDS and HEADER.FIELDS.NOT. */
  fields?: string[];
}

/** Parses a section spec such as `2.1.MIME` or `HEADER.FIELDS (From To)`. */
export function parseSection(spec: string): Section | null {
  const m =
    /^((?:[1-9]\d*)(?:\.[1-9]\d*)*)?(?:(?:^|\.)(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME))?(?:\s*\(([^)]*)\))?$/i
      .exec(spec.trim());
  if (!m) return null;
  const part = m[1] ? m[1].split(".").map(Number) : [];
  const text = m[2]?.toUpperCase() as SectionText | undefined;
  if (text === "MIME" && part.length === 0) return null;
  const withFields = text === "HEADER.FIELDS" || text === "HEADER.FIELDS.NOT";
  if (withFields !== (m[3] !== undefined)) return null;
  const section: Section = { part };
  if (text) section.text = text;
  if (withFields) section.fields = m[3]!.trim().split(/\s+/).filter((f) => f !== "");
  return section;
}

/** One step down: part `n` of the entity `node` (a message or an encapsulated message). */
function child(node: MimePart, n: number): MimePart | null {
  if (node.contentType.type === "multipart") return node.children[n - 1] ?? null;
  return n === 1 ? node : null;
}

/** Resolves part numbers to a part (RFC 3501 §6.4.5). `[]` is the root message itself. */
export function resolvePart(root: MimePart, numbers: readonly number[]): MimePart | null {
  let node: MimePart | null = root;
  for (let k = 0; k < numbers.length && node; k++) {
    // After the first number, a message/rfc822 part is entered: its numbers are those of the
    // encapsulated message.
    if (k > 0) {
      if (node.message) node = node.message;
      else if (node.contentType.type !== "multipart") return null;
    }
    node = child(node, numbers[k]!);
  }
  return node;
}

const CRLF = new Uint8Array([0x0d, 0x0a]);

/** Header fields selected by name (or all but those names), plus the terminating CRLF. */
function headerFields(bytes: Uint8Array, part: MimePart, names: string[], not: boolean) {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (const f of part.fields) {
    if (wanted.has(f.name.toLowerCase()) === not) continue;
    let raw = bytes.subarray(f.start, f.end);
    if (raw[raw.length - 1] !== 0x0a) {
      // Truncated header: the last field has no line end.
      const fixed = new Uint8Array(raw.length + 2);
      fixed.set(raw);
      fixed.set(CRLF, raw.length);
      raw = fixed;
    }
    chunks.push(raw);
    total += raw.length;
  }
  const out = new Uint8Array(total + 2);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  out.set(CRLF, o);
  return out;
}

/** The bytes of `BODY[section]`, or null when the part does not exist. */
export function fetchSection(
  bytes: Uint8Array,
  root: MimePart,
  section: Section,
): Uint8Array | null {
  const part = resolvePart(root, section.part);
  if (!part) return null;
  const top = section.part.length === 0;
  // HEADER / TEXT of a message/rfc822 part address the encapsulated message.
  const msg = !top && part.message ? part.message : part;
  // For part 1 of a non-multipart message resolvePart returns the message itself; its
  // "MIME header" is the message header.
  switch (section.text) {
    case undefined:
      return top
        ? bytes.subarray(part.headerStart, part.bodyEnd)
        : bytes.subarray(part.bodyStart, part.bodyEnd);
    case "MIME":
      return top ? null : bytes.subarray(part.headerStart, part.headerEnd);
    case "HEADER":
      return bytes.subarray(msg.headerStart, msg.headerEnd);
    case "TEXT":
      return bytes.subarray(msg.bodyStart, msg.bodyEnd);
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT":
      return headerFields(bytes, msg, section.fields ?? [], section.text === "HEADER.FIELDS.NOT");
  }
}

/** `<start.count>` partial slicing (RFC 3501 §6.4.5); a view, not a copy. */
export function partial(data: Uint8Array, start: number, count?: number): Uint8Array {
  const s = Math.min(Math.max(0, start), data.length);
  const e = count === undefined ? data.length : Math.min(data.length, s + Math.max(0, count));
  return data.subarray(s, e);
}
