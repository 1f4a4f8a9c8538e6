/**
 * The target of an account's forward (`postie user forward ADDRESS TARGET`): one plain external
 * address. The forms that tricked old MTAs into relaying (percent hack, bang paths, quoted local
 * parts, source routes, address literals) are refused here as everywhere, and so is a local
 * address (an alias does that without the queue).
 *
 * @module
 */

import { AddressSyntaxError, hasRoutingCharacters, parseMailbox } from "../smtp/address.ts";

/** Check a forward target; returns it with a canonical domain. @throws {Error} saying why. */
export function forwardTarget(text: string, localDomains: readonly string[]): string {
  let m;
  try {
    m = parseMailbox(text.trim());
  } catch (e) {
    const why = e instanceof AddressSyntaxError ? e.message : String(e);
    throw new Error(`"${text}" is not an address: ${why}`);
  }
  if (m.quoted || hasRoutingCharacters(m.local) || m.literal !== undefined) {
    throw new Error(
      `"${text}": a forward target must be a plain address (no quotes, %, !, @ or [ip])`,
    );
  }
  if (localDomains.includes(m.domain)) {
    throw new Error(
      `"${text}" is in a local domain: use an alias for local targets (aliases: in the config)`,
    );
  }
  return `${m.local}@${m.domain}`;
}
