/**
 * Forward actions, one implementation for `postie user forward` and the admin page: which
 * accounts forward, forward one to an external address (checked by
 * src/forward/forward_target.ts, which refuses relay tricks and local targets), stop it.
 *
 * @module
 */

import { forwardTarget } from "../forward/forward_target.ts";
import { accountAddress, type AccountContext } from "./account_actions.ts";
import { accountCall, ActionError } from "./action_error.ts";

/** One account's forward. */
export interface ForwardView {
  address: string;
  target: string;
  keepCopy: boolean;
}

function account(ctx: AccountContext, address: string): string {
  const canonical = accountAddress(address);
  if (!ctx.accounts.get(canonical)) throw new ActionError("missing", `No account "${canonical}"`);
  return canonical;
}

/** Every account that forwards, in account order. */
export function listForwards(ctx: AccountContext): ForwardView[] {
  return ctx.accounts.list().flatMap((a) => {
    const f = ctx.accounts.forward(a.address);
    return f ? [{ address: a.address, target: f.target, keepCopy: f.keepCopy }] : [];
  });
}

/**
 * Forward an account's mail to `target` (a plain external address), keeping a copy in its
 * mailbox when `keepCopy`. Returns the forward as stored (the target's domain canonical).
 *
 * @throws {ActionError} missing account, or an invalid target saying why.
 */
export function setForward(
  ctx: AccountContext,
  address: string,
  target: string,
  keepCopy: boolean,
): { target: string; keepCopy: boolean } {
  const canonical = account(ctx, address);
  let checked: string;
  try {
    checked = forwardTarget(target, ctx.config.domains);
  } catch (e) {
    throw new ActionError("invalid", `target: ${(e as Error).message}`);
  }
  accountCall(() => ctx.accounts.setForward(canonical, checked, keepCopy));
  return { target: checked, keepCopy };
}

/** Stop an account's forward; returns whether it had one. @throws {ActionError} missing. */
export function clearForward(ctx: AccountContext, address: string): boolean {
  return ctx.accounts.clearForward(account(ctx, address));
}
