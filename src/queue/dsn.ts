/**
 * Delivery status notifications (bounces and delay warnings).
 *
 * A DSN is a `multipart/report; report-type=delivery-status` message (RFC 3464 §2, RFC 6522 §3)
 * with three parts:
 *
 * 1. `text/plain`: a human-readable explanation in plain English (RFC 6522 §3: the first part
 *    is for the user, who may not be able to read the machine-readable one);
 * 2. `message/delivery-status` (RFC 3464 §2.1): one block of per-message fields, then one block
 *    of per-recipient fields per recipient, blocks separated by an empty line;
 * 3. `text/rfc822-headers` (RFC 6522 §4): the header section of the original message only
 *    ("return headers only", like `RET=HDRS` of RFC 3461 §4.3), never its body
 *    (`header_section.ts`).
 *
 * The whole DSN is 7-bit ASCII with CRLF line endings and no line longer than 998 octets
 * (RFC 5322 §2.1.1), so it can travel through any SMTP server, with or without 8BITMIME or
 * SMTPUTF8:
 *
 * - Anything that comes from outside (the remote reply in the diagnostic, addresses, host
 *   names) has CR, LF and other control characters replaced by spaces before it is placed in
 *   a field, so it can never end a field early and add one of its own. Long values are folded
 *   at spaces (RFC 5322 §2.2.3), and split as a last resort.
 * - A non-ASCII recipient uses the `utf-8` address type of RFC 6533 §3 in its 7-bit
 *   `utf-8-addr-xtext` form (`\x{HEX}` escapes), as message/delivery-status is ASCII.
 * - The human-readable part, when it must show non-ASCII text, is UTF-8 in quoted-printable
 *   (RFC 2045 §6.7); the returned header section likewise when it holds 8-bit octets, bare CR
 *   or LF, or over-long lines.
 *
 * The caller sends the DSN with the null reverse-path and never sends one for a message whose
 * own sender was null (RFC 5321 §4.5.5: no notifications about notifications, so no loops).
 *
 * This file composes the report (the multipart/report and its message/delivery-status
 * fields); what it says of each recipient is in `dsn_recipient.ts`, the human-readable text in
 * `dsn_explanation.ts`, the transfer encodings in `_dsn_encoding.ts` and field folding in
 * `_dsn_fields.ts`.
 *
 * @module
 */

import { encodeReturnedHeader, encodeText, pickBoundary } from "./_dsn_encoding.ts";
import { concat } from "../util/bytes.ts";
import { rfc5322Date } from "../smtp/header_text.ts";
import {
  asciiHost,
  cleanText,
  CRLF,
  field,
  isAscii,
  isSmtpReply,
  toAddress,
  toAscii,
  validDate,
} from "./_dsn_fields.ts";
import { dsnExplanation } from "./dsn_explanation.ts";
import { type DsnRecipient, type ReportedRecipient, reportedRecipient } from "./dsn_recipient.ts";

const enc = new TextEncoder();

/** What a DSN is built from. */
export interface DsnInput {
  /** Our host name, for `Reporting-MTA`, `From` and the `Message-ID`. */
  reportingMta: string;
  /** The envelope sender of the original message (never empty; the DSN goes to it). */
  originalSender: string;
  /** Our queue ID of the original message. */
  queueId: string;
  /** When we accepted the original message. */
  arrivalDate: Date;
  /** The recipients to report on; at least one. */
  recipients: DsnRecipient[];
  /** The original message's header section, up to the empty line (see `headerSection()`). */
  originalHeader: Uint8Array;
  /** The time of the report (default: now). */
  now?: Date;
  /** The domain of the DSN's own `Message-ID` (default: `reportingMta`). */
  messageIdDomain?: string;
}

/**
 * Builds the complete DSN message (header and body): see the module description. Throws a
 * `RangeError` when there are no recipients.
 */
export function buildDsn(input: DsnInput): Uint8Array {
  if (input.recipients.length === 0) throw new RangeError("a DSN needs at least one recipient");
  const now = validDate(input.now) ?? new Date();
  const host = asciiHost(input.reportingMta) || "localhost";
  const idDomain = (input.messageIdDomain !== undefined && asciiHost(input.messageIdDomain)) ||
    host;
  const queueId = cleanText(input.queueId).replace(/[^A-Za-z0-9._-]/g, "");
  const arrival = validDate(input.arrivalDate);
  const recipients = input.recipients.map(reportedRecipient);
  const anyFailed = recipients.some((r) => r.action === "failed");

  const text = encodeText(dsnExplanation(host, queueId, arrival, recipients));
  const status = enc.encode(deliveryStatus(host, queueId, arrival, recipients));
  const returned = encodeReturnedHeader(input.originalHeader);
  const boundary = pickBoundary([text.body, status, returned.body]);

  // RFC 3834 §5: Auto-Submitted marks the DSN as automatic, so that responders (vacation
  // replies) do not answer it. RFC 6522 §3: report-type names the machine-readable part.
  const header = [
    field("From", `Mail Delivery System <MAILER-DAEMON@${host}>`),
    field("To", toAddress(input.originalSender)),
    field(
      "Subject",
      anyFailed ? "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)",
    ),
    field("Date", rfc5322Date(now)),
    field("Message-ID", `<${messageIdLocal(queueId)}@${idDomain}>`),
    field("Auto-Submitted", "auto-replied"),
    field("MIME-Version", "1.0"),
    field(
      "Content-Type",
      `multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    ),
    field("Content-Transfer-Encoding", "7bit"),
  ].join("");

  const delimiter = `${CRLF}--${boundary}${CRLF}`;
  return concat([
    enc.encode(`${header}${CRLF}This is a MIME-encapsulated message.${CRLF}`),
    enc.encode(
      delimiter +
        field("Content-Description", "Notification") +
        field("Content-Type", text.contentType) +
        field("Content-Transfer-Encoding", text.encoding) + CRLF,
    ),
    text.body,
    enc.encode(
      delimiter +
        field("Content-Description", "Delivery report") +
        field("Content-Type", "message/delivery-status") +
        field("Content-Transfer-Encoding", "7bit") + CRLF,
    ),
    status,
    enc.encode(
      delimiter +
        field(
          "Content-Description",
          anyFailed ? "Undelivered Message Headers" : "Delayed Message Headers",
        ) +
        field("Content-Type", "text/rfc822-headers") +
        field("Content-Transfer-Encoding", returned.encoding) + CRLF,
    ),
    returned.body,
    enc.encode(`${CRLF}--${boundary}--${CRLF}`),
  ]);
}

// ---------------------------------------------------------------------------------------------
// The machine-readable part

/** The message/delivery-status content (RFC 3464 §2.1 to §2.3). */
function deliveryStatus(
  host: string,
  queueId: string,
  arrival: Date | undefined,
  recipients: readonly ReportedRecipient[],
): string {
  // Per-message fields (RFC 3464 §2.2). Reporting-MTA is required (§2.2.2); Arrival-Date is
  // optional (§2.2.5). We keep no ENVID, so no Original-Envelope-Id (§2.2.1). The queue ID is
  // an extension field (§2.4: "X-" names are for private use), as Postfix does.
  let out = field("Reporting-MTA", `dns; ${host}`);
  if (queueId) out += field("X-Postie-Queue-ID", queueId);
  if (arrival) out += field("Arrival-Date", rfc5322Date(arrival));
  for (const r of recipients) {
    // Per-recipient fields (RFC 3464 §2.3), each block preceded by an empty line (§2.1).
    out += CRLF + field("Final-Recipient", finalRecipient(r.address)); // §2.3.2
    out += field("Action", r.action); // §2.3.3
    out += field("Status", r.status); // §2.3.4, RFC 3463
    if (r.remoteMta) out += field("Remote-MTA", `dns; ${r.remoteMta}`); // §2.3.5
    if (r.diagnostic) {
      // §2.3.6: the diagnostic-type "smtp" is for SMTP replies (RFC 3464 §9); any other text
      // (a local error, say) is labelled with a private type.
      const d = toAscii(r.diagnostic);
      out += field(
        "Diagnostic-Code",
        isSmtpReply(d) ? `smtp; ${d}` : `X-Postie; ${d}`,
      );
    }
    if (r.lastAttempt) out += field("Last-Attempt-Date", rfc5322Date(r.lastAttempt)); // §2.3.7
    if (r.willRetryUntil) out += field("Will-Retry-Until", rfc5322Date(r.willRetryUntil)); // §2.3.9
  }
  return out;
}

/**
 * `Final-Recipient` value: `rfc822; addr` for an ASCII address (RFC 3464 §2.3.2), else the
 * `utf-8` address type in its 7-bit `utf-8-addr-xtext` form (RFC 6533 §3): printable ASCII
 * other than `\`, `+` and `=` as is, everything else as `\x{HEX}`.
 */
function finalRecipient(address: string): string {
  if (isAscii(address)) return `rfc822; ${address}`;
  let x = "";
  for (const ch of address) {
    const c = ch.codePointAt(0)!;
    const qchar = c >= 0x21 && c <= 0x7e && c !== 0x2b && c !== 0x3d && c !== 0x5c;
    x += qchar ? ch : `\\x{${c.toString(16).toUpperCase()}}`;
  }
  return `utf-8; ${x}`;
}

function messageIdLocal(queueId: string): string {
  const rnd = crypto.getRandomValues(new Uint8Array(8));
  const r = Array.from(rnd, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${Date.now().toString(36)}.${r}.dsn${queueId ? "." + queueId : ""}`;
}
