/**
 * Text for the header fields the server writes (trace, Authentication-Results, submission
 * fixups): RFC 5322 dates, comment-safe text and quoted values. Values from the client pass
 * through here so they cannot end a comment or a field early.
 *
 * @module
 */

/** Format a date as RFC 5322 §3.3 date-time with a numeric zone. */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, "+0000");
}

/**
 * Printable ASCII without the characters that end comments or values in header fields (any
 * other character becomes "?"), at most 255 characters.
 */
export function headerSafe(s: string): string {
  return s.replace(/[^\x21-\x7e]|[()\\;"]/g, "?").slice(0, 255);
}

/**
 * A value as an RFC 5322 §3.2.4 quoted-string, or bare when it is a dot-atom (RFC 7208 §9.1
 * key-value-pair). Non-printable characters become "?", at most 512 characters are kept.
 */
export function quoteValue(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);
  if (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]+$/.test(clean) && !clean.startsWith(".")) return clean;
  return `"${clean.replace(/(["\\])/g, "\\$1")}"`;
}
