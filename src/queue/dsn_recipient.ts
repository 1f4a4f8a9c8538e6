/**
 * What a DSN says about one recipient: {@link DsnRecipient} as the caller gives it, and
 * {@link ReportedRecipient} as the report shows it, with a valid RFC 3463 status code and
 * everything that came from outside (the remote reply, addresses, host names) cleaned of
 * control characters so that it can never end a field early and add one of its own.
 *
 * @module
 */

import { cleanText, remoteMtaName, validDate } from "./_dsn_fields.ts";

/** The longest diagnostic kept, in characters; longer ones end in "...". */
const MAX_DIAGNOSTIC = 2000;

/** One recipient the DSN reports on. */
export interface DsnRecipient {
  /** The recipient address as given in RCPT TO (reported in `Final-Recipient`). */
  address: string;
  /** `failed`: given up; `delayed`: still being retried (RFC 3464 §2.3.3). */
  action: "failed" | "delayed";
  /** An RFC 3463 status code such as `5.1.1`; anything not of that form becomes 5.0.0/4.0.0. */
  status: string;
  /** The remote reply, such as `550 5.1.1 <x@y>: User unknown`, or a local error text. */
  diagnostic?: string;
  /** The host name or IP address of the server that gave the reply. */
  remoteMta?: string;
  /** When delivery was last tried. */
  lastAttempt?: Date;
  /** For `delayed`: when the mail system gives up (RFC 3464 §2.3.9). */
  willRetryUntil?: Date;
}

/**
 * A recipient as reported (see {@link reportedRecipient}): the same fields, with a valid
 * status code and cleaned values (no control characters; the diagnostic may hold non-ASCII).
 */
export type ReportedRecipient = DsnRecipient;

/**
 * The recipient as the DSN reports it: a status code not of the RFC 3463 form becomes
 * 5.0.0 (failed) or 4.0.0 (delayed); the address and diagnostic are cleaned (a diagnostic
 * over {@link MAX_DIAGNOSTIC} characters is cut), the Remote-MTA is a host name or address
 * literal, invalid dates are dropped, and `willRetryUntil` is kept only for `delayed`.
 */
export function reportedRecipient(r: DsnRecipient): ReportedRecipient {
  // RFC 3463 §2: status-code = class "." subject "." detail, class 2, 4 or 5, subject and
  // detail 1 to 3 digits.
  const status = /^[245]\.\d{1,3}\.\d{1,3}$/.test(r.status)
    ? r.status
    : r.action === "failed"
    ? "5.0.0"
    : "4.0.0";
  const out: ReportedRecipient = { address: cleanText(r.address), action: r.action, status };
  if (r.diagnostic !== undefined) {
    let d = cleanText(r.diagnostic);
    if (d.length > MAX_DIAGNOSTIC) d = d.slice(0, MAX_DIAGNOSTIC) + "...";
    if (d) out.diagnostic = d;
  }
  if (r.remoteMta !== undefined) {
    const m = remoteMtaName(r.remoteMta);
    if (m) out.remoteMta = m;
  }
  const last = validDate(r.lastAttempt);
  if (last) out.lastAttempt = last;
  const until = validDate(r.willRetryUntil);
  if (until && r.action === "delayed") out.willRetryUntil = until;
  return out;
}
