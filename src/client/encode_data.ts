/**
 * The DATA content as it goes on the wire (RFC 5321 §4.5.2, §2.3.8): CRLF line endings only,
 * dot-stuffed, ended by the terminator. The end-of-data smuggling rules of SMUGGLING.md
 * ("As a sender or relay", rules 6 to 8) are kept here.
 *
 * @module
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/**
 * Prepare message content for DATA. Every bare CR and bare LF becomes CRLF (RFC 5321 §2.3.8,
 * SMUGGLING.md rule 6), then every line that starts with "." gets another "." (RFC 5321
 * §4.5.2, rule 7), a final CRLF is added when missing, and the terminator ".\r\n" follows
 * (rule 8), so the output ends in exactly "\r\n.\r\n". NUL octets pass through unchanged:
 * {@link deliverMessage} refuses content that has any.
 *
 * @example
 * ```ts
 * const out = encodeData([new TextEncoder().encode("a\n.\nb")]);
 * // out is "a\r\n..\r\nb\r\n.\r\n"
 * ```
 *
 * @param content The message as one or more chunks (a line may span chunks).
 * @returns The bytes to send after the 354 reply, terminator included.
 */
export function encodeData(content: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const c of content) total += c.length;
  // Worst case every octet doubles (bare LF or "." at a line start), plus CRLF and ".\r\n".
  const out = new Uint8Array(total * 2 + 5);
  let n = 0;
  let lineStart = true;
  let pendingCR = false;
  for (const chunk of content) {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (pendingCR) {
        pendingCR = false;
        out[n++] = CR;
        out[n++] = LF;
        lineStart = true;
        if (b === LF) continue; // a proper CRLF
        // else: the CR was bare; it ended a line, and b starts the next one.
      }
      if (b === CR) {
        pendingCR = true;
      } else if (b === LF) {
        // A bare LF ends a line as CRLF.
        out[n++] = CR;
        out[n++] = LF;
        lineStart = true;
      } else {
        if (lineStart && b === DOT) out[n++] = DOT; // RFC 5321 §4.5.2 transparency
        out[n++] = b;
        lineStart = false;
      }
    }
  }
  if (pendingCR || !lineStart) {
    // A trailing bare CR, or content not ending in a line break: end the last line.
    out[n++] = CR;
    out[n++] = LF;
  }
  out[n++] = DOT;
  out[n++] = CR;
  out[n++] = LF;
  return out.slice(0, n);
}
