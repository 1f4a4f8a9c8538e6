/**
 * Account actions, one implementation for `postie user ...` and the admin page: list, add (with
 * its Maildir), delete, lock, reset a password, give or take the admin flag, and an account
 * changing its own password. Each one checks its input and throws an {@link ActionError} that
 * says what is wrong; the callers only present the result.
 *
 * @module
 */

import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { type Account, AccountStore, parseAccountAddress } from "../accounts/store.ts";
import { randomPassword, verifyPassword } from "../accounts/password.ts";
import { createMaildir, mailboxDir } from "../delivery/maildir.ts";
import { accountCall, accountCallAsync, ActionError } from "./action_error.ts";

/** What the account actions work on: the configuration and the open account store. */
export interface AccountContext {
  config: Config;
  accounts: AccountStore;
}

/** An account as the admin page and `postie user list` show it (no password hash). */
export interface AccountView {
  address: string;
  admin: boolean;
  locked: boolean;
  /** When it was added (ISO 8601). */
  created: string;
  /** Where its mail is forwarded, if it is. */
  forward: { target: string; keepCopy: boolean } | null;
}

/** The shortest password an account may get. */
export const MIN_PASSWORD_LENGTH = 8;

/** The canonical form of an address typed for an existing account: lower case, no final dot. */
export function accountAddress(address: string): string {
  return address.trim().toLowerCase().replace(/\.$/, "");
}

function view(ctx: AccountContext, a: Account): AccountView {
  const f = ctx.accounts.forward(a.address);
  return {
    address: a.address,
    admin: a.admin,
    locked: a.locked,
    created: a.created,
    forward: f ? { target: f.target, keepCopy: f.keepCopy } : null,
  };
}

function existing(ctx: AccountContext, address: string): Account {
  const canonical = accountAddress(address);
  const a = ctx.accounts.get(canonical);
  if (!a) throw new ActionError("missing", `No account "${canonical}"`);
  return a;
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new ActionError(
      "invalid",
      `password: must be at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  }
}

/** Every account, sorted by domain then local part. */
export function listAccounts(ctx: AccountContext): AccountView[] {
  return ctx.accounts.list().map((a) => view(ctx, a));
}

/**
 * Add an account in a local domain and create its Maildir. Without `opts.password` one is
 * generated and returned (only then); a given one must have at least 8 characters. An address
 * that is an alias (in the config or added) is refused: the alias would get its mail.
 *
 * @throws {ActionError} invalid address or password, or `exists`.
 */
export async function addAccount(
  ctx: AccountContext,
  address: string,
  opts: { password?: string; admin?: boolean } = {},
): Promise<{ account: AccountView; password?: string }> {
  const { local, domain } = accountCall(() =>
    parseAccountAddress(address.trim(), ctx.config.domains)
  );
  const canonical = `${local}@${domain}`;
  if (opts.password !== undefined) checkPassword(opts.password);
  if (ctx.config.aliases.has(canonical)) {
    throw new ActionError(
      "exists",
      `"${canonical}" is an alias in ${ctx.config.source}; remove it there first`,
    );
  }
  if (ctx.accounts.alias(canonical)) {
    throw new ActionError(
      "exists",
      `"${canonical}" is an alias; delete it first (postie alias del)`,
    );
  }
  const password = opts.password ?? randomPassword();
  const acct = await accountCallAsync(() =>
    ctx.accounts.add(local, domain, password, { admin: opts.admin === true })
  );
  await createMaildir(mailboxDir(join(ctx.config.dataDir, "mail"), acct));
  return {
    account: view(ctx, acct),
    ...(opts.password === undefined ? { password } : {}),
  };
}

/** Delete an account and its forward; its mailbox stays on disk. @throws {ActionError} missing. */
export function deleteAccount(ctx: AccountContext, address: string): void {
  const a = existing(ctx, address);
  accountCall(() => ctx.accounts.delete(a.address));
}

/** Lock an account (no login by SMTP AUTH, IMAP or the admin page) or unlock it. */
export function setAccountLocked(ctx: AccountContext, address: string, locked: boolean): void {
  const a = existing(ctx, address);
  accountCall(() => ctx.accounts.setLocked(a.address, locked));
}

/**
 * Give an account a new password: the one given (at least 8 characters), or a generated one,
 * which is returned. @throws {ActionError} missing account or short password.
 */
export async function resetPassword(
  ctx: AccountContext,
  address: string,
  password?: string,
): Promise<{ password?: string }> {
  const a = existing(ctx, address);
  if (password !== undefined) checkPassword(password);
  const next = password ?? randomPassword();
  await accountCallAsync(() => ctx.accounts.setPassword(a.address, next));
  return password === undefined ? { password: next } : {};
}

/** Give or take the admin flag. @throws {ActionError} missing. */
export function setAccountAdmin(ctx: AccountContext, address: string, admin: boolean): void {
  const a = existing(ctx, address);
  accountCall(() => ctx.accounts.setAdmin(a.address, admin));
}

/**
 * An account changes its own password: `current` must be its password now (else `forbidden`),
 * `next` at least 8 characters (else `invalid`).
 */
export async function changeOwnPassword(
  ctx: AccountContext,
  address: string,
  current: string,
  next: string,
): Promise<void> {
  const a = existing(ctx, address);
  checkPassword(next);
  if (!await verifyPassword(current, a.passwordHash)) {
    throw new ActionError("forbidden", "current password: wrong password");
  }
  await accountCallAsync(() => ctx.accounts.setPassword(a.address, next));
}
