/**
 * The state of one mail transaction (RFC 5321 §3.3): what MAIL and RCPT established, and the
 * BDAT content received so far. MAIL starts it; RSET, EHLO, STARTTLS and the end of the
 * message end it.
 *
 * @module
 */

import type { Mailbox } from "../smtp/address.ts";
import type { LineEndingScanner } from "../smtp/data.ts";
import type { Resolution } from "../delivery/router.ts";
import type { SpfCheck } from "../spf/spf.ts";

/** One accepted RCPT. */
export interface Recipient {
  mailbox: Mailbox | "postmaster";
  /** Local mailboxes, or null for a relayed (remote) recipient. */
  resolution: Extract<Resolution, { kind: "local" }> | null;
}

/** One mail transaction, from MAIL to the end of DATA or the last BDAT chunk. */
export interface Transaction {
  /** The reverse-path; null for the null sender `<>`. */
  from: Mailbox | null;
  /** The SPF verdicts (RFC 7208), made at MAIL on the smtp listener. */
  spf?: SpfCheck;
  smtputf8: boolean;
  rcpts: Recipient[];
  /** Set once BDAT was used: DATA is then out of sequence (RFC 3030 §2). */
  bdat?: { parts: Uint8Array[]; size: number; scanner: LineEndingScanner };
}
