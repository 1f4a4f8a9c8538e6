/**
 * MIME encodings of the DSN's parts, so the whole DSN stays 7-bit ASCII with CRLF line endings
 * and no line longer than 998 octets (RFC 5322 §2.1.1): us-ascii 7bit where the text allows,
 * else quoted-printable (RFC 2045 §6.7); a boundary that occurs in no part (RFC 2046 §5.1.1);
 * and the byte helpers these need. Private to src/queue.
 *
 * @module
 */

import { CRLF, isAscii, MAX_LINE } from "./_dsn_fields.ts";
import { concat } from "../util/bytes.ts";

const enc = new TextEncoder();

export interface EncodedPart {
  contentType?: string;
  encoding: "7bit" | "quoted-printable";
  body: Uint8Array;
}

/** The human-readable part: us-ascii 7bit when it can be, else UTF-8 in quoted-printable. */
export function encodeText(text: string): Required<EncodedPart> {
  const bytes = enc.encode(text);
  if (isAscii(text) && linesFit(bytes)) {
    return { contentType: "text/plain; charset=us-ascii", encoding: "7bit", body: bytes };
  }
  return {
    contentType: "text/plain; charset=utf-8",
    encoding: "quoted-printable",
    body: enc.encode(quotedPrintable(bytes)),
  };
}

/**
 * The returned header section (RFC 6522 §4): without the empty line that ends it, each line
 * ending in CRLF. Sent as is when it is 7-bit, CRLF-clean and no line is over 998 octets;
 * otherwise in quoted-printable, which keeps every octet (text/rfc822-headers is a text type,
 * so any transfer encoding may be used, RFC 2045 §6.4).
 */
export function encodeReturnedHeader(original: Uint8Array): EncodedPart {
  let h = original;
  while (endsWith(h, [13, 10, 13, 10])) h = h.subarray(0, h.length - 2);
  if (h.length === 2 && h[0] === 13 && h[1] === 10) h = h.subarray(0, 0);
  if (h.length > 0 && !endsWith(h, [13, 10])) h = concat([h, enc.encode(CRLF)]);
  if (linesFit(h) && h.every((b) => b > 0 && b < 0x80)) return { encoding: "7bit", body: h };
  return { encoding: "quoted-printable", body: enc.encode(quotedPrintable(h)) };
}

/** True if every CR and LF is part of a CRLF and no line is longer than 998 octets. */
function linesFit(bytes: Uint8Array): boolean {
  let len = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 13) {
      if (bytes[i + 1] !== 10) return false;
      i++;
      len = 0;
    } else if (b === 10) {
      return false;
    } else if (++len > MAX_LINE) {
      return false;
    }
  }
  return true;
}

/**
 * Quoted-printable (RFC 2045 §6.7): CRLF pairs are line breaks, everything else, bare CR and
 * LF included, is encoded as needed; encoded lines are at most 76 characters. The output never
 * contains "=_", which our boundaries start with.
 */
function quotedPrintable(bytes: Uint8Array): string {
  const out: string[] = [];
  let line = "";
  const hex = (b: number) => "=" + b.toString(16).toUpperCase().padStart(2, "0");
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 13 && bytes[i + 1] === 10) {
      out.push(line + CRLF);
      line = "";
      i++;
      continue;
    }
    const atLineEnd = i + 1 === bytes.length || (bytes[i + 1] === 13 && bytes[i + 2] === 10);
    let token: string;
    if ((b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !atLineEnd)) {
      token = String.fromCharCode(b);
    } else {
      token = hex(b); // rule 1 and rule 3: "=", controls, 8-bit, whitespace at a line end
    }
    // Rule 5: a soft line break ("=" at the end) keeps encoded lines at 76 characters.
    const room = atLineEnd ? 76 : 75;
    if (line.length + token.length > room) {
      out.push(line + "=" + CRLF);
      line = "";
    }
    line += token;
  }
  if (line) out.push(line + "=" + CRLF); // the content did not end in CRLF
  return out.join("");
}

/** A random boundary (RFC 2046 §5.1.1) that occurs in none of the parts. */
export function pickBoundary(parts: Uint8Array[]): string {
  for (;;) {
    const rnd = crypto.getRandomValues(new Uint8Array(16));
    const b = "=_postie_" + Array.from(rnd, (x) => x.toString(16).padStart(2, "0")).join("");
    const needle = enc.encode(b);
    if (!parts.some((p) => indexOf(p, needle) >= 0)) return b;
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes

function endsWith(a: Uint8Array, tail: number[]): boolean {
  if (a.length < tail.length) return false;
  const o = a.length - tail.length;
  return tail.every((b, i) => a[o + i] === b);
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    if (hay[i] !== first) continue;
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
