/**
 * The CAPABILITY list (RFC 3501 §6.1.1, §7.2.1) postie's IMAP session announces. Only
 * extensions that are complete are listed.
 *
 * - Before TLS: `STARTTLS` (when a certificate is loaded) and `LOGINDISABLED` (RFC 3501
 *   §6.2.3, §11.1: no cleartext passwords), no `AUTH=` mechanism (RFC 3501 §6.2.2).
 * - With TLS and not yet authenticated: `AUTH=PLAIN` (RFC 4616) with `SASL-IR` (RFC 4959).
 * - Always: IMAP4rev1, LITERAL+ (RFC 7888), ID (RFC 2971), ENABLE (RFC 5161), IDLE (RFC 2177),
 *   UIDPLUS (RFC 4315), MOVE (RFC 6851), NAMESPACE (RFC 2342), SPECIAL-USE (RFC 6154),
 *   UNSELECT (RFC 3691), APPENDLIMIT=n (RFC 7889), CHILDREN (RFC 3348), LIST-EXTENDED
 *   (RFC 5258), LIST-STATUS (RFC 5819), STATUS=SIZE (RFC 8438), ESEARCH (RFC 4731),
 *   UTF8=ACCEPT (RFC 6855), MULTIAPPEND (RFC 3502).
 *
 * @module
 */

/** What the capability list depends on. */
export interface CapabilityState {
  tls: boolean;
  tlsAvailable: boolean;
  authenticated: boolean;
  maxMessageBytes: number;
}

/** The capability atoms, in the order sent. */
export function capabilities(s: CapabilityState): string[] {
  const out = ["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"];
  if (!s.authenticated) {
    if (!s.tls && s.tlsAvailable) out.push("STARTTLS");
    out.push(s.tls ? "AUTH=PLAIN" : "LOGINDISABLED");
  }
  out.push(
    "UIDPLUS",
    "MOVE",
    "NAMESPACE",
    "SPECIAL-USE",
    "UNSELECT",
    `APPENDLIMIT=${s.maxMessageBytes}`,
    "CHILDREN",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "STATUS=SIZE",
    "ESEARCH",
    "UTF8=ACCEPT",
    "MULTIAPPEND",
  );
  return out;
}

/** Capabilities ENABLE (RFC 5161 §3) can turn on. */
export const ENABLEABLE: ReadonlySet<string> = new Set(["UTF8=ACCEPT"]);
