/**
 * The account-level data types of the store and the LIST computation of {@link AccountMail}
 * (account_mail.ts): the special-use mailboxes every account has, LIST / STATUS / FETCH
 * shapes, and how the mailbox list with its `\\Noselect` parents is built. Apart from
 * account_mail.ts only to keep files short.
 *
 * @module
 */

import { flagNames, type Flags } from "./flags.ts";
import type { MailboxRow, MessageRow } from "./index_db.ts";
import { isInbox, parentNames } from "./names.ts";

/** Special-use mailboxes every account has (RFC 6154 §2). */
export const SPECIAL_USE: Readonly<Record<string, string>> = {
  Sent: "\\Sent",
  Drafts: "\\Drafts",
  Trash: "\\Trash",
  Junk: "\\Junk",
  Archive: "\\Archive",
};

/** A LIST entry. */
export interface MailboxListing {
  name: string;
  /** False for a parent that exists only as a path. */
  exists: boolean;
  /** `\Noselect`, `\HasChildren` / `\HasNoChildren`, then the special-use attribute. */
  attributes: string[];
  specialUse: string | null;
  subscribed: boolean;
}

/** STATUS values (RFC 3501 §6.3.10, RFC 8438, RFC 7162 §3.1.3 HIGHESTMODSEQ). */
export interface MailboxStatus {
  messages: number;
  recent: number;
  unseen: number;
  uidnext: number;
  uidvalidity: number;
  size: number;
  highestmodseq: number;
}

/** A message's metadata for FETCH and SEARCH. */
export interface MessageInfo {
  uid: number;
  /** IMAP flag names without `\Recent` (add it from {@link MailboxView.isRecent}). */
  flags: string[];
  /** System flag bits and keywords. */
  raw: Flags;
  modseq: number;
  internalDate: Date;
  /** Size of the file (RFC822.SIZE when the file has CRLF line ends, as postie writes). */
  size: number;
}

/** A committed change, for {@link AccountMail.onChange}. */
export interface MailChange {
  mailbox: string;
  added: number[];
  flagged: number[];
  expunged: number[];
}

/** The {@link MessageInfo} of an index row. */
export function messageInfo(m: MessageRow): MessageInfo {
  const raw = { system: m.system, keywords: m.keywords };
  return {
    uid: m.uid,
    flags: flagNames(raw),
    raw,
    modseq: m.modseq,
    internalDate: new Date(m.internalDate),
    size: m.size,
  };
}

/**
 * LIST entries for the indexed mailboxes `rows` plus the parents that exist only as a path
 * (`\\Noselect`), INBOX first, then by name (see account_mail.ts).
 */
export function buildListing(
  mailboxes: readonly MailboxRow[],
  subscriptions: readonly string[],
): MailboxListing[] {
  const rows = new Map(mailboxes.map((r) => [r.name, r]));
  const names = new Set(rows.keys());
  for (const n of rows.keys()) for (const p of parentNames(n)) names.add(p);
  const withChildren = new Set<string>();
  for (const n of names) for (const p of parentNames(n)) withChildren.add(p);
  const subscribed = new Set(subscriptions);
  const sorted = [...names].sort((a, b) =>
    isInbox(a) ? -1 : isInbox(b) ? 1 : a < b ? -1 : a > b ? 1 : 0
  );
  return sorted.map((name) => {
    const row = rows.get(name);
    const attributes: string[] = [];
    if (!row) attributes.push("\\Noselect");
    attributes.push(withChildren.has(name) ? "\\HasChildren" : "\\HasNoChildren");
    if (row?.specialUse) attributes.push(row.specialUse);
    return {
      name,
      exists: row !== undefined,
      attributes,
      specialUse: row?.specialUse ?? null,
      subscribed: subscribed.has(name),
    };
  });
}
