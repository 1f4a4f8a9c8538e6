/**
 * The one error class of the IMAP store. Each carries a `code` named after the IMAP response
 * code the session should send with its tagged `NO` (RFC 5530 response codes, plus
 * `TRYCREATE` of RFC 3501 §7.1), so the session maps errors without parsing messages:
 *
 * - `BADNAME`: a mailbox name that could reach outside the account's Maildir or cannot be
 *   stored (RFC 5530 `CANNOT`; the session may answer `NO [CANNOT]` or `BAD`).
 * - `NONEXISTENT`: the mailbox does not exist (or is only a hierarchy path, `\Noselect`).
 * - `TRYCREATE`: the target of APPEND / COPY / MOVE does not exist (RFC 3501 §6.3.11, §6.4.7).
 * - `ALREADYEXISTS`: CREATE or RENAME onto an existing name.
 * - `CANNOT`: the operation is not possible (delete INBOX, delete a `\Noselect` parent).
 * - `OVERQUOTA`: the disk is full (nothing was changed).
 * - `CLOSED`: the account or view was closed.
 * - `LIMIT`: an implementation limit of the server, such as IMAP sessions per account.
 *
 * @module
 */

/** Codes of {@link MailStoreError}. */
export type MailStoreErrorCode =
  | "BADNAME"
  | "NONEXISTENT"
  | "TRYCREATE"
  | "ALREADYEXISTS"
  | "CANNOT"
  | "OVERQUOTA"
  | "CLOSED"
  | "LIMIT";

/** A refused store operation; `message` is fit for the text of a tagged `NO`. */
export class MailStoreError extends Error {
  readonly code: MailStoreErrorCode;
  constructor(code: MailStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MailStoreError";
    this.code = code;
  }
}
