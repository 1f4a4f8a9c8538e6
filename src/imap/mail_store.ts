/**
 * The narrow interface the IMAP session (session.ts) needs from the mail store: one
 * {@link AccountMailStore} per logged-in account and one {@link SessionView} per selected
 * mailbox. The store in `src/imap/store/` serves it: {@link SessionView} is a structural subset
 * of its MailboxView class, so a real view is passed as is, and store_adapter.ts maps
 * AccountMail onto {@link AccountMailStore} (flag bit sets to names, `firstUnseen` on select).
 * `_memory_store.ts` implements it in memory for the tests.
 *
 * Mailbox names here are Unicode, canonical (`INBOX` upper-case), `.` the hierarchy separator;
 * the session converts wire names (modified UTF-7 or UTF-8, RFC 3501 §5.1.3, RFC 6855 §3).
 * Flags are IMAP names (`\Seen`, keywords), never `\Recent` (RFC 3501 §2.3.2: a per-session
 * flag the view knows).
 *
 * Errors: a refused operation throws the store's {@link MailStoreError} (store/errors.ts),
 * whose `code` names the response code; {@link storeErrorCode} reads it.
 *
 * @module
 */

import { MailStoreError, type MailStoreErrorCode } from "./store/errors.ts";
import type { PendingOptions, ViewChange } from "./store/mailbox_view.ts";
import type { AppendResult, CopyResult } from "./store/message_ops.ts";

// One error class and the view's change types for the store and the session alike.
export { MailStoreError };
export type { AppendResult, CopyResult, MailStoreErrorCode, PendingOptions, ViewChange };

/** The code of a store error, else null. */
export function storeErrorCode(e: unknown): MailStoreErrorCode | null {
  return e instanceof MailStoreError ? e.code : null;
}

/**
 * One session's view of a selected mailbox: its sequence number ↔ UID snapshot (RFC 3501
 * §2.3.1.2), its `\Recent` messages, and queued changes. `pending()` applies the queue and
 * returns, in order, expunges (highest number first; only when allowed; never for a message
 * the session was not told about), then EXISTS and RECENT, then flag changes made by others.
 * New messages stay invisible to `uidAt` / `seqOf` / `uids` until reported.
 */
export interface SessionView {
  readonly uidvalidity: number;
  /** True for EXAMINE (RFC 3501 §6.3.2). */
  readonly readOnly: boolean;
  readonly name: string;
  /** Messages in this session's numbering. */
  readonly exists: number;
  readonly recentCount: number;
  /** True once the mailbox was deleted. */
  readonly deleted: boolean;
  readonly closed: boolean;
  uids(): readonly number[];
  uidAt(seq: number): number | undefined;
  seqOf(uid: number): number | undefined;
  isRecent(uid: number): boolean;
  /** Expunged by someone, not yet reported to this session. */
  isExpunged(uid: number): boolean;
  hasPending(options?: PendingOptions): boolean;
  pending(options?: PendingOptions): ViewChange[];
  /** Called whenever a change is queued (IDLE, RFC 2177); returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
  close(): void;
}

/** A mailbox that exists (selectable); parents not listed are hierarchy-only. */
export interface MailboxEntry {
  name: string;
  /** RFC 6154 attribute such as `\Sent`, or null. */
  specialUse: string | null;
}

/** STATUS data (RFC 3501 §6.3.10, SIZE RFC 8438). */
export interface MailboxStatus {
  messages: number;
  recent: number;
  uidnext: number;
  uidvalidity: number;
  unseen: number;
  size: number;
  highestmodseq: number;
  deleted: number;
}

/** What a session knows about one message. */
export interface MessageInfo {
  uid: number;
  /** Flags without `\Recent`. */
  flags: string[];
  /** INTERNALDATE (RFC 3501 §2.3.3), ms since the epoch. */
  internalDate: number;
  /** RFC822.SIZE: octets as stored. */
  size: number;
  modseq: number;
}

/** One message to APPEND. */
export interface AppendItem {
  data: Uint8Array;
  flags: readonly string[];
  internalDate?: Date;
}

/** How STORE combines flags (RFC 3501 §6.4.6). */
export type StoreMode = "set" | "add" | "remove";

/** One message after STORE. */
export interface FlagUpdate {
  uid: number;
  /** Flags now, without `\Recent`. */
  flags: string[];
  modseq: number;
  changed: boolean;
}

/** What SELECT / EXAMINE report besides the view (RFC 3501 §6.3.1). */
export interface SelectInfo {
  view: SessionView;
  uidnext: number;
  /** Keywords in use in the mailbox (for FLAGS / PERMANENTFLAGS). */
  keywords: string[];
  /** UID of the first message without `\Seen`, or null. */
  firstUnseen: number | null;
}

/** One account's mail, as the session uses it. */
export interface AccountMailStore {
  /** Every existing mailbox. */
  mailboxes(): Promise<MailboxEntry[]>;
  /** Subscribed names (RFC 3501 §6.3.6; they need not exist). */
  subscriptions(): Promise<string[]>;
  create(name: string): Promise<void>;
  delete(name: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  setSubscribed(name: string, on: boolean): Promise<void>;
  status(name: string): Promise<MailboxStatus>;
  /** All or none (MULTIAPPEND, RFC 3502); `TRYCREATE` when the mailbox is missing. */
  append(name: string, items: readonly AppendItem[]): Promise<AppendResult>;
  select(name: string, readOnly: boolean): Promise<SelectInfo>;
  /** The messages among `uids` still present, ascending by UID. */
  messages(view: SessionView, uids: readonly number[]): Promise<MessageInfo[]>;
  /** A message's bytes, or null when it is gone. */
  read(view: SessionView, uid: number): Promise<Uint8Array | null>;
  /** Change flags; not reported back to `view` (the session answers its own STORE). */
  store(
    view: SessionView,
    uids: readonly number[],
    mode: StoreMode,
    flags: readonly string[],
  ): Promise<FlagUpdate[]>;
  /** COPY / MOVE (RFC 6851: the sources are expunged, which `view` then reports). */
  copy(
    view: SessionView,
    uids: readonly number[],
    target: string,
    move: boolean,
  ): Promise<CopyResult>;
  /** Expunge `\Deleted` messages (only among `uids` when given, RFC 4315 §2.1); their UIDs. */
  expunge(view: SessionView, uids?: readonly number[]): Promise<number[]>;
}
