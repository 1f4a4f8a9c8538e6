/**
 * The mail an alert is: a short plain-text message from postie to the owner (see
 * `alerter.ts`, which puts it straight into the local Maildir).
 *
 * @module
 */

import { rfc5322Date } from "../smtp/header_text.ts";

/** RFC 2047 §4.1 encoded-word for a subject with non-ASCII text; plain ASCII stays as it is. */
function subjectField(subject: string): string {
  if (/^[\x20-\x7e]*$/.test(subject)) return subject;
  const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(subject)));
  return `=?utf-8?B?${b64}?=`;
}

/**
 * Build the notice (RFC 5322 §3.6: Date, From, To, Subject, Message-ID; RFC 2045 MIME text in
 * UTF-8, 8bit, CRLF line ends).
 */
export function buildNotice(
  o: { hostname: string; to: string; subject: string; body: string; now: Date },
): Uint8Array {
  const id = crypto.randomUUID().replaceAll("-", "");
  const body = o.body.replace(/\r?\n/g, "\r\n").replace(/(\r\n)?$/, "\r\n");
  const text = [
    `Date: ${rfc5322Date(o.now)}`,
    `From: postie <postmaster@${o.hostname}>`,
    `To: <${o.to}>`,
    `Subject: ${subjectField(o.subject.replace(/[\r\n]+/g, " "))}`,
    `Message-ID: <${id}@${o.hostname}>`,
    "Auto-Submitted: auto-generated",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    body,
  ].join("\r\n");
  return new TextEncoder().encode(text);
}
