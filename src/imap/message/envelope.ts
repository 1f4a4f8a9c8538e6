/**
 * FETCH ENVELOPE (RFC 3501 §7.4.2; unchanged in RFC 9051 §7.5.2).
 *
 * Exported API:
 * - `Envelope` — the ten members as data: `date`, `subject`, `inReplyTo`, `messageId`
 *   (`string | null`, the unfolded raw header value) and `from`, `sender`, `replyTo`, `to`,
 *   `cc`, `bcc` (`Address[]`, see address_list.ts).
 * - `buildEnvelope(fields): Envelope` — from a message's header fields (the root part's, or an
 *   encapsulated message's for BODYSTRUCTURE of `message/rfc822`). The first occurrence of each
 *   field is used. Sender and Reply-To default to From when absent or empty (RFC 3501 §7.4.2).
 * - `encodeEnvelope(env): string` — the parenthesised IMAP form, e.g.
 *   `("date" "subject" (("Name" NIL "user" "host")) ... "<id>")`; an empty address list is NIL.
 * - `envelope(fields): string` — both in one step.
 *
 * Strings are not RFC 2047-decoded: ENVELOPE carries header text as is (RFC 3501 §7.4.2 leaves
 * decoding to the client; Dovecot does the same). Values with 8-bit or CR/LF go as literals.
 *
 * @module
 */

import { imapNString } from "./_imap_string.ts";
import { type Address, parseAddressList } from "./address_list.ts";
import { findField, type HeaderField, unfold } from "./header.ts";

/** ENVELOPE members (RFC 3501 §7.4.2), in data form. */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: Address[];
  sender: Address[];
  replyTo: Address[];
  to: Address[];
  cc: Address[];
  bcc: Address[];
  inReplyTo: string | null;
  messageId: string | null;
}

function text(fields: readonly HeaderField[], name: string): string | null {
  const f = findField(fields, name);
  return f ? unfold(f.value) : null;
}

function addresses(fields: readonly HeaderField[], name: string): Address[] {
  const f = findField(fields, name);
  return f ? parseAddressList(f.value) : [];
}

/** Builds the envelope of the message whose header fields are `fields`. */
export function buildEnvelope(fields: readonly HeaderField[]): Envelope {
  const from = addresses(fields, "from");
  const sender = addresses(fields, "sender");
  const replyTo = addresses(fields, "reply-to");
  return {
    date: text(fields, "date"),
    subject: text(fields, "subject"),
    from,
    // RFC 3501 §7.4.2: absent or empty Sender / Reply-To take the value of From (the
    // fetch-envelope script's message 5 has both present but empty).
    sender: sender.length > 0 ? sender : from,
    replyTo: replyTo.length > 0 ? replyTo : from,
    to: addresses(fields, "to"),
    cc: addresses(fields, "cc"),
    bcc: addresses(fields, "bcc"),
    inReplyTo: text(fields, "in-reply-to"),
    messageId: text(fields, "message-id"),
  };
}

function encodeAddresses(list: readonly Address[]): string {
  if (list.length === 0) return "NIL";
  // No space between addresses: `((a)(b))`, as RFC 3501's examples and Dovecot write it.
  return "(" +
    list.map((a) =>
      `(${imapNString(a.name)} ${imapNString(a.adl)} ${imapNString(a.mailbox)} ${
        imapNString(a.host)
      })`
    ).join("") + ")";
}

/** The IMAP encoding of an envelope. */
export function encodeEnvelope(env: Envelope): string {
  return "(" + [
    imapNString(env.date),
    imapNString(env.subject),
    encodeAddresses(env.from),
    encodeAddresses(env.sender),
    encodeAddresses(env.replyTo),
    encodeAddresses(env.to),
    encodeAddresses(env.cc),
    encodeAddresses(env.bcc),
    imapNString(env.inReplyTo),
    imapNString(env.messageId),
  ].join(" ") + ")";
}

/** The encoded ENVELOPE of the message whose header fields are `fields`. */
export function envelope(fields: readonly HeaderField[]): string {
  return encodeEnvelope(buildEnvelope(fields));
}
