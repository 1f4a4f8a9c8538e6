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
 *    ("return headers only", like `RET=HDRS` of RFC 3461 §4.3), never its body.
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
 * @module
 */

const CRLF = "\r\n";
const enc = new TextEncoder();

/** How much of a message {@link headerSection} returns at most: 64 KiB. */
export const HEADER_SECTION_LIMIT = 64 * 1024;

/** The longest diagnostic kept, in characters; longer ones end in "...". */
const MAX_DIAGNOSTIC = 2000;

/** Longest line we aim for when folding (RFC 5322 §2.1.1 "SHOULD" limit). */
const FOLD_WIDTH = 78;
/** The hard limit for any line, without its CRLF (RFC 5322 §2.1.1 "MUST" limit). */
const MAX_LINE = 998;

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
  /** The original message's header section, up to the empty line (see {@link headerSection}). */
  originalHeader: Uint8Array;
  /** The time of the report (default: now). */
  now?: Date;
  /** The domain of the DSN's own `Message-ID` (default: `reportingMta`). */
  messageIdDomain?: string;
}

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
  const recipients = input.recipients.map(normalizeRecipient);
  const anyFailed = recipients.some((r) => r.action === "failed");

  const text = encodeText(humanText(host, queueId, arrival, recipients));
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
// The report parts

interface Recipient {
  address: string;
  action: "failed" | "delayed";
  status: string;
  /** Cleaned (no control characters), may hold non-ASCII. */
  diagnostic?: string;
  remoteMta?: string;
  lastAttempt?: Date;
  willRetryUntil?: Date;
}

function normalizeRecipient(r: DsnRecipient): Recipient {
  // RFC 3463 §2: status-code = class "." subject "." detail, class 2, 4 or 5, subject and
  // detail 1 to 3 digits.
  const status = /^[245]\.\d{1,3}\.\d{1,3}$/.test(r.status)
    ? r.status
    : r.action === "failed"
    ? "5.0.0"
    : "4.0.0";
  const out: Recipient = { address: cleanText(r.address), action: r.action, status };
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

/** The message/delivery-status content (RFC 3464 §2.1 to §2.3). */
function deliveryStatus(
  host: string,
  queueId: string,
  arrival: Date | undefined,
  recipients: Recipient[],
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

/** The human-readable first part (RFC 6522 §3), as text with CRLF line ends. */
function humanText(
  host: string,
  queueId: string,
  arrival: Date | undefined,
  recipients: Recipient[],
): string {
  const failed = recipients.filter((r) => r.action === "failed");
  const delayed = recipients.filter((r) => r.action === "delayed");
  const lines: string[] = [`This is the mail system at host ${host}.`, ""];
  const para = (s: string) => lines.push(...wrap(s, ""), "");

  if (failed.length > 0) {
    para(
      "I'm sorry to have to tell you that your message could not be delivered to " +
        (failed.length === 1 ? "the following recipient" : "the following recipients") +
        ". This is a permanent failure: the mail system has given up and will not try " +
        "again. If you still want the message to arrive, check the address and the reason " +
        "given below, then send it again.",
    );
    for (const r of failed) describeRecipient(r, lines);
  }
  if (delayed.length > 0) {
    para(
      (failed.length > 0 ? "In addition, delivery" : "Delivery") +
        " of your message to " +
        (delayed.length === 1 ? "the following recipient" : "the following recipients") +
        " has been delayed. This is only a warning: the mail system will keep trying, and " +
        "you do not need to send the message again. If it still cannot be delivered when " +
        "the mail system gives up, you will get another notice.",
    );
    for (const r of delayed) describeRecipient(r, lines);
  }
  para(
    "The headers of your original message are attached below, so that you can tell which " +
      "message this is about." +
      (queueId ? ` Its queue ID here was ${queueId}.` : "") +
      (arrival ? ` It arrived on ${rfc5322Date(arrival)}.` : ""),
  );
  para("This report was generated automatically; please do not reply to it.");
  while (lines.at(-1) === "") lines.pop();
  return lines.join(CRLF) + CRLF;
}

function describeRecipient(r: Recipient, lines: string[]): void {
  lines.push(`<${r.address}>:`);
  const indent = "    ";
  lines.push(...wrap(`Reason: ${statusMeaning(r.status)} (status ${r.status}).`, indent));
  if (r.diagnostic && isSmtpReply(r.diagnostic)) {
    const who = r.remoteMta ? `The server ${r.remoteMta}` : "The remote server";
    lines.push(...wrap(`${who} said: ${r.diagnostic}`, indent));
  } else {
    if (r.diagnostic) lines.push(...wrap(`The error was: ${r.diagnostic}`, indent));
    if (r.remoteMta) lines.push(...wrap(`The server involved was ${r.remoteMta}.`, indent));
  }
  if (r.lastAttempt) {
    lines.push(...wrap(`Last attempt: ${rfc5322Date(r.lastAttempt)}.`, indent));
  }
  if (r.action === "delayed") {
    lines.push(
      ...wrap(
        r.willRetryUntil
          ? `The mail system will keep trying until ${rfc5322Date(r.willRetryUntil)}.`
          : "The mail system will keep trying for a while.",
        indent,
      ),
    );
  } else {
    lines.push(...wrap("This will not be retried.", indent));
  }
  lines.push("");
}

/**
 * Word-wraps one paragraph to 72 columns, every line starting with `indent`. A word longer
 * than a line stays whole on a line of its own (the text goes out in quoted-printable if that
 * makes a line too long for 7bit).
 */
function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const w of text.split(" ")) {
    if (w === "") continue;
    if (line === "") line = indent + w;
    else if (line.length + 1 + w.length <= 72) line += " " + w;
    else {
      lines.push(line);
      line = indent + w;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

/**
 * What a status code means, in plain English: the detail (RFC 3463 §3.1 to §3.8, plus X.1.10
 * of RFC 7505) when known, else the subject (RFC 3463 §2).
 */
function statusMeaning(status: string): string {
  const [cls, subject = "0", detail = "0"] = status.split(".");
  const key = `${Number(subject)}.${Number(detail)}`;
  const meaning = DETAILS[key] ?? SUBJECTS[Number(subject)] ?? "an unspecified error occurred";
  return cls === "2" ? `delivered (${meaning})` : meaning;
}

const SUBJECTS: Record<number, string> = {
  0: "an unspecified error occurred",
  1: "there is a problem with the recipient's address",
  2: "there is a problem with the recipient's mailbox",
  3: "the receiving mail system has a problem",
  4: "there is a network or routing problem",
  5: "the mail servers could not understand each other",
  6: "there is a problem with the content of the message",
  7: "the message was refused for security or policy reasons",
};

const DETAILS: Record<string, string> = {
  "1.1": "the recipient's mailbox does not exist",
  "1.2": "the recipient's domain does not exist or does not receive mail",
  "1.3": "the recipient's address is not valid",
  "1.4": "the recipient's address is ambiguous",
  "1.6": "the recipient's mailbox has moved and there is no forwarding address",
  "1.10": "the recipient's domain does not accept mail",
  "2.1": "the recipient's mailbox is disabled and does not accept messages",
  "2.2": "the recipient's mailbox is full",
  "2.3": "the message is larger than the recipient accepts",
  "3.1": "the receiving mail system is out of storage space",
  "3.2": "the receiving mail system is not accepting messages",
  "3.4": "the message is too big for the receiving mail system",
  "4.1": "the recipient's mail server did not answer",
  "4.2": "the connection to the recipient's mail server failed",
  "4.3": "the recipient's mail server could not be looked up (DNS failure)",
  "4.4": "no mail server could be found for the recipient's domain",
  "4.6": "the message was caught in a mail loop",
  "4.7": "the message stayed in the queue for too long without being delivered",
  "5.3": "the message has too many recipients",
  "6.1": "the message uses a format the recipient does not accept",
  "7.1": "the recipient's mail system refused the message (not authorized)",
};

// ---------------------------------------------------------------------------------------------
// Encodings

interface EncodedPart {
  contentType?: string;
  encoding: "7bit" | "quoted-printable";
  body: Uint8Array;
}

/** The human-readable part: us-ascii 7bit when it can be, else UTF-8 in quoted-printable. */
function encodeText(text: string): Required<EncodedPart> {
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
function encodeReturnedHeader(original: Uint8Array): EncodedPart {
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
function pickBoundary(parts: Uint8Array[]): string {
  for (;;) {
    const rnd = crypto.getRandomValues(new Uint8Array(16));
    const b = "=_postie_" + Array.from(rnd, (x) => x.toString(16).padStart(2, "0")).join("");
    const needle = enc.encode(b);
    if (!parts.some((p) => indexOf(p, needle) >= 0)) return b;
  }
}

// ---------------------------------------------------------------------------------------------
// Header fields

/**
 * One header (or DSN) field, `Name: value` CRLF, folded at spaces (RFC 5322 §2.2.3) to about
 * 78 characters. A word longer than 998 octets is split with a folding space as a last
 * resort, so no line ever exceeds 998 octets. The value must already be free of control
 * characters.
 */
function field(name: string, value: string): string {
  const tokens = value.split(" ").filter((w) => w !== "").flatMap((w) => {
    const pieces: string[] = [];
    for (let i = 0; i < w.length; i += MAX_LINE - 1) pieces.push(w.slice(i, i + MAX_LINE - 1));
    return pieces;
  });
  const lines: string[] = [];
  let line = `${name}:`;
  let bare = true; // the first line, still without a value
  for (const t of tokens) {
    const joined = line.length + 1 + t.length;
    if (joined <= FOLD_WIDTH || (bare && joined <= MAX_LINE)) {
      line += " " + t;
    } else {
      lines.push(line);
      line = " " + t;
    }
    bare = false;
  }
  lines.push(line);
  return lines.map((l) => l + CRLF).join("");
}

/**
 * The `To` field: the envelope sender as `<addr>`. Header fields here are ASCII, so a
 * non-ASCII domain is given in its A-label form; a non-ASCII local part cannot be written in
 * ASCII at all, so it is shown as the RFC 2047 encoded name of an empty group instead (the
 * envelope, not this field, decides where the DSN goes).
 */
function toAddress(sender: string): string {
  const s = cleanText(sender).replace(/^<|>$/g, "");
  const at = s.lastIndexOf("@");
  const local = at >= 0 ? s.slice(0, at) : s;
  const domain = at >= 0 ? asciiHost(s.slice(at + 1)) : "";
  if (isAscii(local)) return `<${local}${at >= 0 ? "@" + domain : ""}>`;
  return `${encodedWords(s)}:;`;
}

/** RFC 2047 B-encoded words of at most 45 octets of UTF-8 each, whole characters only (§5). */
function encodedWords(s: string): string {
  const words: string[] = [];
  let chunk: number[] = [];
  const flush = () => {
    words.push(`=?utf-8?B?${btoa(String.fromCharCode(...chunk))}?=`);
    chunk = [];
  };
  for (const ch of s) {
    const b = enc.encode(ch);
    if (chunk.length + b.length > 45) flush();
    chunk.push(...b);
  }
  if (chunk.length > 0) flush();
  return words.join(" ");
}

/** A host name as ASCII: U-labels become A-labels; anything not allowed in a name goes. */
function asciiHost(raw: string): string {
  let h = cleanText(raw).replace(/ /g, "");
  if (!isAscii(h)) {
    try {
      h = new URL(`http://${h}/`).hostname;
    } catch {
      // not a valid host name; filtered below
    }
  }
  return h.replace(/[^A-Za-z0-9._:[\]-]/g, "");
}

/** The Remote-MTA name (RFC 3464 §2.3.5): a host name, or an IP address as an address literal. */
function remoteMtaName(raw: string): string {
  const h = asciiHost(raw);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(h)) return `[${h}]`;
  if (/^[0-9A-Fa-f:.]+$/.test(h) && h.includes(":")) return `[IPv6:${h}]`;
  return h;
}

function messageIdLocal(queueId: string): string {
  const rnd = crypto.getRandomValues(new Uint8Array(8));
  const r = Array.from(rnd, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${Date.now().toString(36)}.${r}.dsn${queueId ? "." + queueId : ""}`;
}

/** RFC 5322 §3.3 date-time in UTC: `Tue, 02 Jan 2024 03:04:05 +0000`. */
function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, "+0000");
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Whether a diagnostic is an SMTP reply (RFC 5321 §4.2: a three-digit code first). */
function isSmtpReply(s: string): boolean {
  return /^[2-5]\d\d([ -]|$)/.test(s);
}

function validDate(d: Date | undefined): Date | undefined {
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d : undefined;
}

/**
 * Text from outside made safe for a single line: every C0 and C1 control character (CR and LF
 * included), DEL and the Unicode line and paragraph separators become spaces, runs of
 * whitespace become one space, and the ends are trimmed.
 */
function cleanText(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const control = c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029;
    out += control ? " " : ch;
  }
  return out.replace(/\s+/g, " ").trim();
}

/** Non-ASCII characters replaced by "?" (message/delivery-status is ASCII, RFC 3464 §2.1). */
function toAscii(s: string): string {
  let out = "";
  for (const ch of s) out += ch.codePointAt(0)! < 0x80 ? ch : "?";
  return out;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e) return false;
  return true;
}

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

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
