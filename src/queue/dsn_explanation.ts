/**
 * The human-readable first part of a DSN (RFC 6522 §3: the first part is for the user, who
 * may not be able to read the machine-readable one): in plain English, what happened to each
 * recipient, what the status code means (RFC 3463), what the remote server said, and whether
 * the mail system keeps trying.
 *
 * @module
 */

import { CRLF, isSmtpReply } from "./_dsn_fields.ts";
import { rfc5322Date } from "../smtp/header_text.ts";
import type { ReportedRecipient } from "./dsn_recipient.ts";

/** The human-readable first part (RFC 6522 §3), as text with CRLF line ends. */
export function dsnExplanation(
  host: string,
  queueId: string,
  arrival: Date | undefined,
  recipients: readonly ReportedRecipient[],
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

function describeRecipient(r: ReportedRecipient, lines: string[]): void {
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
