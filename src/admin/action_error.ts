/**
 * The error of an admin action (src/admin/*_actions.ts): what went wrong, as a kind the
 * callers map to their own answer (the CLI to a message and an exit code, the admin page's
 * API to an HTTP status: invalid 400, exists 409, missing 404, forbidden 403), and a message
 * that names the field and the reason.
 *
 * @module
 */

import { AccountError } from "../accounts/store.ts";

/** What kind of mistake an action refused. */
export type ActionErrorKind = "invalid" | "exists" | "missing" | "forbidden";

/** An admin action refused: bad input, already there, not there, or not allowed. */
export class ActionError extends Error {
  constructor(readonly kind: ActionErrorKind, message: string) {
    super(message);
    this.name = "ActionError";
  }
}

/**
 * The {@link ActionError} for an {@link AccountError} of the account store: "already exists"
 * is `exists`, "No account" is `missing`, anything else (a bad address) is `invalid`.
 */
export function fromAccountError(e: AccountError): ActionError {
  const kind = /already exists/.test(e.message)
    ? "exists"
    : /^No account/.test(e.message)
    ? "missing"
    : "invalid";
  return new ActionError(kind, e.message);
}

/** Run `fn`, turning an {@link AccountError} it throws into an {@link ActionError}. */
export function accountCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw e instanceof AccountError ? fromAccountError(e) : e;
  }
}

/** The same as {@link accountCall} for an async `fn`. */
export async function accountCallAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw e instanceof AccountError ? fromAccountError(e) : e;
  }
}
