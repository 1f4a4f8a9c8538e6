/**
 * DKIM canonicalization (RFC 6376 §3.4) and the assembly of the data that is hashed and signed
 * (§3.7): splitting a message into header fields and body, the "simple" and "relaxed"
 * algorithms for both, the body length limit (l=, §3.4.5), and the selection of header field
 * instances named by h= from the bottom up (§5.4.2), where a name with no instance left signs
 * an absent field (over-signing, §8.15).
 *
 * Header text is handled as Latin-1 strings (one character per byte) so that no byte is
 * changed; bodies stay bytes.
 *
 * @example
 * ```ts
 * import { canonicalizeHeader } from "./canonicalize.ts";
 * canonicalizeHeader("B : Y\t\r\n\tZ  \r\n", "relaxed"); // "b:Y Z\r\n"
 * ```
 *
 * @module
 */

import { asciiLower, latin1 } from "./_util.ts";
import { concat } from "../util/bytes.ts";

/** A canonicalization algorithm (RFC 6376 §3.4). */
export type Canonicalization = "simple" | "relaxed";

/** One header field of a message. */
export interface HeaderField {
  /** The field name as written, without surrounding white space; "" for a line with no colon. */
  name: string;
  /** The lower-case name, for matching (field names are case-insensitive, RFC 5322 §1.2.2). */
  key: string;
  /** The whole field as Latin-1 text, continuation lines and the final CRLF included. */
  raw: string;
}

/** A message split for DKIM. */
export interface SplitMessage {
  /** The header fields, top to bottom. */
  headers: HeaderField[];
  /** Everything after the empty line that ends the header section (empty if there is none). */
  body: Uint8Array;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const CRLF = new Uint8Array([CR, LF]);

/**
 * Splits a message (CRLF line endings) into header fields and body. The header section ends at
 * the first empty line (RFC 5322 §2.1); a message without one is all header.
 *
 * @param message The message as received, header and body.
 * @returns The header fields and the body.
 */
export function splitMessage(message: Uint8Array): SplitMessage {
  let end = -1;
  let bodyStart = message.length;
  if (message[0] === CR && message[1] === LF) {
    end = 0;
    bodyStart = 2;
  } else {
    for (let i = message.indexOf(LF); i >= 0; i = message.indexOf(LF, i + 1)) {
      if (message[i - 1] === CR && message[i + 1] === CR && message[i + 2] === LF) {
        end = i + 1;
        bodyStart = i + 3;
        break;
      }
    }
  }
  const headerText = latin1(message.subarray(0, end < 0 ? message.length : end));
  return { headers: parseHeaderFields(headerText), body: message.subarray(bodyStart) };
}

/** Splits header text into fields: a line starting with SP or HTAB continues the field above. */
function parseHeaderFields(text: string): HeaderField[] {
  const fields: HeaderField[] = [];
  let start = 0;
  while (start < text.length) {
    let end = start;
    for (;;) {
      const lf = text.indexOf("\n", end);
      if (lf < 0) {
        end = text.length;
        break;
      }
      end = lf + 1;
      const next = text.charCodeAt(end);
      if (next !== SP && next !== HT) break;
    }
    const raw = text.slice(start, end);
    const colon = raw.indexOf(":");
    const name = colon < 0 ? "" : raw.slice(0, colon).replace(/[ \t]+$/, "");
    fields.push({ name, key: asciiLower(name), raw });
    start = end;
  }
  return fields;
}

/**
 * Canonicalizes one header field (RFC 6376 §3.4.1 simple, §3.4.2 relaxed). The result keeps
 * the field's final CRLF, if it had one.
 *
 * @param raw The field as Latin-1 text, from its name to its final CRLF.
 * @param c The algorithm.
 * @returns The canonical form.
 */
export function canonicalizeHeader(raw: string, c: Canonicalization): string {
  // §3.4.1: "The "simple" header canonicalization algorithm does not change header fields in
  // any way."
  if (c === "simple") return raw;
  const crlf = raw.endsWith("\r\n") ? "\r\n" : "";
  const field = crlf ? raw.slice(0, -2) : raw;
  const colon = field.indexOf(":");
  if (colon < 0) return asciiLower(field.replace(/\r\n(?=[ \t])/g, "")) + crlf;
  // §3.4.2: lower-case the name; unfold (remove each CRLF followed by WSP); reduce runs of WSP
  // to one SP; delete WSP at the end of the value and WSP before and after the colon.
  const name = asciiLower(field.slice(0, colon).replace(/[ \t]+$/, ""));
  const value = field.slice(colon + 1).replace(/\r\n(?=[ \t])/g, "").replace(/[ \t]+/g, " ")
    .replace(/^ | $/g, "");
  return `${name}:${value}${crlf}`;
}

/**
 * Canonicalizes a message body (RFC 6376 §3.4.3 simple, §3.4.4 relaxed).
 *
 * @param body The body bytes, after the empty line that ends the header section.
 * @param c The algorithm.
 * @returns The canonical body: under "simple" it always ends in exactly one CRLF (an empty
 * body becomes CRLF); under "relaxed" an empty body stays empty.
 */
export function canonicalizeBody(body: Uint8Array, c: Canonicalization): Uint8Array {
  if (c === "simple") {
    // §3.4.3: "ignores all empty lines at the end of the message body ... If there is no body
    // or no trailing CRLF on the message body, a CRLF is added."
    let end = body.length;
    while (end >= 2 && body[end - 2] === CR && body[end - 1] === LF) end -= 2;
    return concat([body.subarray(0, end), CRLF]);
  }
  // §3.4.4: ignore WSP at the end of lines, reduce runs of WSP within a line to one SP, ignore
  // all empty lines at the end of the body; a non-empty body gets a final CRLF.
  const out = new Uint8Array(body.length + 2);
  let o = 0;
  let keep = 0; // out length up to the end of the last non-empty line
  let i = 0;
  while (i < body.length) {
    const lineStart = o;
    let wsp = false;
    while (i < body.length && !(body[i] === CR && body[i + 1] === LF)) {
      const b = body[i++]!;
      if (b === SP || b === HT) {
        wsp = true;
      } else {
        if (wsp) out[o++] = SP;
        wsp = false;
        out[o++] = b;
      }
    }
    i += 2; // the CRLF (or past the end, for a last line without one)
    const empty = o === lineStart;
    out[o++] = CR;
    out[o++] = LF;
    if (!empty) keep = o;
  }
  return out.slice(0, keep);
}

/**
 * Applies a body length limit (RFC 6376 §3.4.5): the first `length` octets of the canonical
 * body.
 *
 * @param canonical The canonicalized body.
 * @param length The l= value, or undefined for the whole body.
 * @returns The octets covered by the body hash.
 * @throws {RangeError} When `length` exceeds the canonical body (§3.5 l=: "This value MUST NOT
 * be larger than the actual number of octets in the canonicalized message body").
 */
export function limitBody(canonical: Uint8Array, length?: number): Uint8Array {
  if (length === undefined) return canonical;
  if (length > canonical.length) {
    throw new RangeError(`Body length l=${length} exceeds the body: ${canonical.length} octets`);
  }
  return canonical.subarray(0, length);
}

/**
 * Picks the header field instances that h= names, in h= order (RFC 6376 §5.4.2): for each name,
 * the last instance not already taken, so that repeated names walk up the header from the
 * bottom. A name with no instance left yields `null`, which contributes nothing to the hash
 * (§5.4: "nonexistent header fields do not contribute to the signature computation"): this is
 * what makes over-signing (§8.15) detect added fields.
 *
 * @param headers The message's header fields, top to bottom.
 * @param names The h= names (any case).
 * @returns One entry per name.
 */
export function selectHeaders(
  headers: readonly HeaderField[],
  names: readonly string[],
): (HeaderField | null)[] {
  const byName = new Map<string, HeaderField[]>();
  for (const f of headers) {
    const list = byName.get(f.key);
    if (list) list.push(f);
    else byName.set(f.key, [f]);
  }
  return names.map((n) => byName.get(asciiLower(n))?.pop() ?? null);
}

/**
 * Removes the value of the b= tag of a DKIM-Signature field, "including all surrounding
 * whitespace" (RFC 6376 §3.5 b=, §3.7), keeping every other byte, folding included.
 *
 * @param raw The whole field as Latin-1 text.
 * @returns The field with an empty b= value; unchanged if it has no b= tag.
 */
export function withEmptyB(raw: string): string {
  const colon = raw.indexOf(":");
  const crlf = raw.endsWith("\r\n") ? 2 : 0;
  const valueEnd = raw.length - crlf;
  let start = colon + 1;
  while (start <= valueEnd) {
    let end = raw.indexOf(";", start);
    if (end < 0 || end > valueEnd) end = valueEnd;
    const eq = raw.indexOf("=", start);
    if (eq >= 0 && eq < end && raw.slice(start, eq).replace(/[ \t\r\n]+/g, "") === "b") {
      return raw.slice(0, eq + 1) + raw.slice(end);
    }
    start = end + 1;
  }
  return raw;
}

/**
 * The header data that is hashed for a signature (RFC 6376 §3.7): each selected field
 * canonicalized, then the DKIM-Signature field itself with an empty b= value, canonicalized and
 * without its final CRLF.
 *
 * @param selected The fields chosen by {@linkcode selectHeaders}.
 * @param signatureField The DKIM-Signature field as Latin-1 text (its b= value is removed here).
 * @param c The header canonicalization.
 * @returns The Latin-1 text to hash.
 */
export function headerHashInput(
  selected: readonly (HeaderField | null)[],
  signatureField: string,
  c: Canonicalization,
): string {
  let out = "";
  for (const f of selected) {
    if (f) out += canonicalizeHeader(f.raw.endsWith("\r\n") ? f.raw : f.raw + "\r\n", c);
  }
  const sig = canonicalizeHeader(withEmptyB(signatureField), c);
  return out + (sig.endsWith("\r\n") ? sig.slice(0, -2) : sig);
}
