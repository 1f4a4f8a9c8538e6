/**
 * The IMAP store: mail storage and index for the IMAP server, free of IMAP syntax. See
 * account_mail.ts (the account's mailboxes and messages), mailbox_view.ts (a session's view),
 * registry.ts (sharing accounts between sessions), index_db.ts, maildir_sync.ts, names.ts.
 *
 * @module
 */

export * from "./account_mail.ts";
export * from "./errors.ts";
export { Flag, flagNames, type Flags, parseFlags, type StoreMode } from "./flags.ts";
export { MailboxView, type PendingOptions, type ViewChange } from "./mailbox_view.ts";
export {
  type AppendInput,
  type AppendResult,
  type CopyResult,
  type StoreResult,
} from "./message_ops.ts";
export { INBOX, normalizeMailboxName, SEPARATOR } from "./names.ts";
export { accountPath, MailRegistry } from "./registry.ts";
