/**
 * A notice from postie to the postmaster of the primary domain: a short plain-text mail put
 * straight into the postmaster's Maildir (no SMTP, no queue), so that it arrives even when
 * outbound delivery or the certificate is what is broken. The alerts of later work (rate
 * limits, blocklists) will go the same way.
 *
 * @module
 */

import type { MaildirStore } from "../delivery/maildir.ts";
import type { Router } from "../delivery/router.ts";
import { rfc5322Date } from "../smtp/header_text.ts";

/** What a notice needs to know about the server. */
export interface NoticeTarget {
  hostname: string;
  router: Router;
  maildir: MaildirStore;
}

/** Whether the notice reached a mailbox (false: postmaster@ reaches no local account). */
export type NoticeResult = { delivered: true; to: string } | { delivered: false; to: string };

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

/** Put a notice into the Maildir of postmaster@<primary domain>. */
export async function notifyPostmaster(
  target: NoticeTarget,
  subject: string,
  body: string,
  now = new Date(),
): Promise<NoticeResult> {
  const to = `postmaster@${target.router.primaryDomain}`;
  const where = target.router.resolve("postmaster");
  if (where.kind !== "local") return { delivered: false, to };
  const message = buildNotice({ hostname: target.hostname, to, subject, body, now });
  await target.maildir.deliver(
    where.mailboxes,
    (b) => `Return-Path: <>\r\nDelivered-To: ${b.address}\r\n`,
    [message],
  );
  return { delivered: true, to };
}
