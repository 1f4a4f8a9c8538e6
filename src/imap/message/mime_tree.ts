/**
 * MIME structure of a message as a tree of byte ranges (RFC 5322 §2.1, RFC 2045, RFC 2046).
 *
 * Exported API:
 * - `parseMessage(bytes, options?): MimePart` — the root part of the message in `bytes`.
 * - `MimePart` — one entity: its header range and fields, its body range (offsets into the
 *   original bytes, never copies), content type, `children` for multipart bodies and `message`
 *   for an encapsulated `message/rfc822` / `message/global` (RFC 6532 §3.5) body.
 * - `ParseOptions` — `maxDepth` (default 64) and `maxParts` (default 10,000). Past the depth
 *   limit a multipart or message part is kept as an opaque leaf; past the part limit the rest of
 *   a multipart body stays in its last part. Neither limit throws.
 *
 * Multipart bodies (RFC 2046 §5.1.1): a delimiter is a line starting with `--boundary` (any
 * trailing text is tolerated, as Dovecot does; transport padding is the usual case); the CRLF
 * before it belongs to the delimiter, so a part's body ends before that CRLF. `--boundary--`
 * closes the body; text before the first delimiter is the preamble and after the close the
 * epilogue. A missing close delimiter ends the last part at the end of the enclosing range.
 * Boundaries of enclosing multiparts are found first, so an inner part never runs past an
 * outer delimiter. A bare LF is accepted as a line end (for LF-only files). A multipart without
 * a boundary parameter is treated as `text/plain` (RFC 2045 §5.2: invalid → default).
 * In `multipart/digest` the default type is `message/rfc822` (RFC 2046 §5.1.5).
 *
 * @module
 */

import { type ContentType, findField, type HeaderField, parseContentType } from "./header.ts";
import { paramValue, parseHeaderBlock } from "./header.ts";

/** One MIME entity (a message or a body part). */
export interface MimePart {
  /** Offset of the header's first byte. */
  headerStart: number;
  /** Offset just past the header, including its terminating empty line. */
  headerEnd: number;
  /** Body range `[bodyStart, bodyEnd)`. */
  bodyStart: number;
  bodyEnd: number;
  /** Header fields with byte ranges. */
  fields: HeaderField[];
  /** Effective content type (defaults applied, lower-case type/subtype). */
  contentType: ContentType;
  /** True when the type came from defaults (no or invalid Content-Type). */
  defaultType: boolean;
  /** Parts of a multipart body, in order; empty for other types. */
  children: MimePart[];
  /** The encapsulated message of a `message/rfc822` (or `message/global`) part. */
  message: MimePart | null;
  /** Number of LF characters in the body (Dovecot's line count). */
  lines: number;
  /** Nesting depth: 0 for the root. */
  depth: number;
}

/** Limits for hostile input. */
export interface ParseOptions {
  /** Deepest nesting parsed (multipart or message levels); default 64. */
  maxDepth?: number;
  /** Most parts in the whole tree; default 10,000. */
  maxParts?: number;
}

const TEXT_PLAIN: ContentType = {
  type: "text",
  subtype: "plain",
  params: [{ name: "charset", value: "us-ascii", extended: false }],
};
const MESSAGE_RFC822: ContentType = { type: "message", subtype: "rfc822", params: [] };

/** True when the content type encapsulates a message (RFC 2046 §5.2.1, RFC 6532 §3.5). */
export function isMessageType(ct: ContentType): boolean {
  return ct.type === "message" && (ct.subtype === "rfc822" || ct.subtype === "global");
}

interface Context {
  bytes: Uint8Array;
  maxDepth: number;
  partsLeft: number;
}

/** Parses a whole message. Never throws. */
export function parseMessage(bytes: Uint8Array, options: ParseOptions = {}): MimePart {
  const ctx: Context = {
    bytes,
    maxDepth: options.maxDepth ?? 64,
    partsLeft: (options.maxParts ?? 10_000) - 1,
  };
  return parseEntity(ctx, 0, bytes.length, 0, false);
}

function countLines(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  let i = start;
  for (;;) {
    const lf = bytes.indexOf(0x0a, i);
    if (lf < 0 || lf >= end) return n;
    n++;
    i = lf + 1;
  }
}

function parseEntity(
  ctx: Context,
  start: number,
  end: number,
  depth: number,
  inDigest: boolean,
): MimePart {
  const { bytes } = ctx;
  const header = parseHeaderBlock(bytes, start, end);
  const ctField = findField(header.fields, "content-type");
  let contentType = ctField ? parseContentType(ctField.value) : null;
  let defaultType = contentType === null;
  if (contentType?.type === "multipart" && !paramValue(contentType.params, "boundary")) {
    contentType = null;
    defaultType = true;
  }
  contentType ??= inDigest ? MESSAGE_RFC822 : TEXT_PLAIN;
  const part: MimePart = {
    headerStart: start,
    headerEnd: header.end,
    bodyStart: header.end,
    bodyEnd: end,
    fields: header.fields,
    contentType,
    defaultType,
    children: [],
    message: null,
    lines: countLines(bytes, header.end, end),
    depth,
  };
  if (depth >= ctx.maxDepth) return part;
  if (contentType.type === "multipart") {
    const boundary = paramValue(contentType.params, "boundary")!;
    const digest = contentType.subtype === "digest";
    for (const [s, e] of splitMultipart(bytes, header.end, end, boundary)) {
      if (ctx.partsLeft <= 0) {
        // Part limit: the rest of the body stays inside the last part parsed.
        const last = part.children[part.children.length - 1];
        if (last) last.bodyEnd = Math.max(last.bodyEnd, e);
        continue;
      }
      ctx.partsLeft--;
      part.children.push(parseEntity(ctx, s, e, depth + 1, digest));
    }
  } else if (isMessageType(contentType) && ctx.partsLeft > 0) {
    ctx.partsLeft--;
    part.message = parseEntity(ctx, header.end, end, depth + 1, false);
  }
  return part;
}

/** Does the line at `i` start with `--boundary`? Returns the offset after it, or -1. */
function matchDelimiter(bytes: Uint8Array, i: number, end: number, delim: Uint8Array): number {
  if (i + delim.length > end) return -1;
  for (let k = 0; k < delim.length; k++) if (bytes[i + k] !== delim[k]) return -1;
  return i + delim.length;
}

/**
 * Splits the multipart body `[start, end)` into body-part ranges `[s, e)` (each a header plus
 * body). RFC 2046 §5.1.1: `dash-boundary` lines; the preceding CRLF is part of the delimiter.
 */
export function splitMultipart(
  bytes: Uint8Array,
  start: number,
  end: number,
  boundary: string,
): [number, number][] {
  const delim = new TextEncoder().encode("--" + boundary);
  const parts: [number, number][] = [];
  let partStart = -1;
  let i = start;
  while (i < end) {
    const after = matchDelimiter(bytes, i, end, delim);
    const lf = bytes.indexOf(0x0a, i);
    const next = lf < 0 || lf >= end ? end : lf + 1;
    if (after >= 0) {
      // The line end before the delimiter belongs to it (CRLF, or a bare LF).
      let e = i;
      if (e > start && bytes[e - 1] === 0x0a) e--;
      if (e > start && bytes[e - 1] === 0x0d) e--;
      if (partStart >= 0) parts.push([partStart, Math.max(partStart, e)]);
      const close = bytes[after] === 0x2d && bytes[after + 1] === 0x2d;
      if (close) return parts;
      partStart = next;
    }
    i = next;
  }
  // No close delimiter (RFC 2046 says it is required; tolerated).
  if (partStart >= 0) parts.push([Math.min(partStart, end), end]);
  return parts;
}

/** Walks every part of the tree depth first (encapsulated messages included). */
export function* walkParts(part: MimePart): Generator<MimePart> {
  const stack: MimePart[] = [part];
  while (stack.length > 0) {
    const p = stack.pop()!;
    yield p;
    if (p.message) stack.push(p.message);
    for (let k = p.children.length - 1; k >= 0; k--) stack.push(p.children[k]!);
  }
}
