/**
 * The header section of a message, for the `text/rfc822-headers` part of a DSN (RFC 6522 §4:
 * "return headers only", like `RET=HDRS` of RFC 3461 §4.3), never its body.
 *
 * @module
 */

import { concat } from "../util/bytes.ts";

/** How much of a message {@link headerSection} returns at most: 64 KiB. */
export const HEADER_SECTION_LIMIT = 64 * 1024;

/**
 * The header section of a message given as chunks: the bytes up to and including the first
 * empty line (the CRLF CRLF that ends the header, RFC 5322 §2.1), or, when there is none within
 * the first {@link HEADER_SECTION_LIMIT} bytes, everything up to that limit. The empty line may
 * be split across chunks. A message that starts with an empty line has an empty header, and
 * `"\r\n"` is returned. The result is a copy.
 */
export function headerSection(content: readonly Uint8Array[]): Uint8Array {
  // How much of "\r\n\r\n" has been matched. The start of the message is the start of a line,
  // as if a CRLF had just been seen, so a leading CRLF is the empty line.
  let state = 2;
  let total = 0;
  const parts: Uint8Array[] = [];
  for (const chunk of content) {
    const n = Math.min(chunk.length, HEADER_SECTION_LIMIT - total);
    for (let i = 0; i < n; i++) {
      const b = chunk[i];
      if (b === 13) state = state === 2 ? 3 : 1;
      else if (b === 10) state = state === 1 ? 2 : state === 3 ? 4 : 0;
      else state = 0;
      if (state === 4) {
        parts.push(chunk.subarray(0, i + 1));
        return concat(parts);
      }
    }
    parts.push(chunk.subarray(0, n));
    total += n;
    if (total >= HEADER_SECTION_LIMIT) break;
  }
  return concat(parts);
}
