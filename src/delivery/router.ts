/**
 * Recipient resolution: which local mailboxes an envelope recipient reaches, or that it is not
 * local at all. This is where the relay decision starts, so it is strict:
 *
 * - the domain is compared as a canonical name against an exact set (no suffix or prefix
 *   matching); address literals are never local;
 * - the local part is an opaque string: a local part that needs quoting or contains "%", "!" or
 *   "@" is refused outright, even where a catch-all exists, so no percent hack, bang path or
 *   quoted route can ever resolve (OPEN-RELAY.md rules 3 and 4, RFC 2505 §2.5);
 * - lookup order: alias, account, then the subaddress base (`user+tag` -> `user`), then the
 *   domain's catch-all (`@domain`). Local parts are case-insensitive.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { Mailbox } from "../smtp/address.ts";
import { hasRoutingCharacters } from "../smtp/address.ts";
import type { MailboxRef } from "./maildir.ts";

/** Where a recipient goes. */
export type Resolution =
  | { kind: "local"; mailboxes: MailboxRef[] }
  | { kind: "unknown"; reason: string }
  | { kind: "nonlocal" };

/** Looks up accounts by canonical address. */
export interface AccountLookup {
  get(address: string): { address: string; local: string; domain: string } | undefined;
}

const MAX_ALIAS_DEPTH = 10;

/** Resolves recipients against the config (domains, aliases) and the account store. */
export class Router {
  readonly #domains: Set<string>;
  readonly #aliases: Map<string, string[]>;
  readonly #accounts: AccountLookup;
  /** The primary domain, for the domain-less `<postmaster>` (RFC 5321 §4.1.1.3). */
  readonly primaryDomain: string;

  constructor(config: Pick<Config, "domains" | "aliases">, accounts: AccountLookup) {
    this.#domains = new Set(config.domains);
    this.#aliases = config.aliases;
    this.#accounts = accounts;
    this.primaryDomain = config.domains[0]!;
  }

  /** Whether a canonical domain is one of ours. Address literals never are. */
  isLocalDomain(domain: string): boolean {
    return this.#domains.has(domain);
  }

  /**
   * Resolve a parsed recipient. `catchAll: false` leaves out the domain's catch-all (used to
   * decide which addresses belong to an account).
   */
  resolve(
    m: Pick<Mailbox, "local" | "domain" | "quoted" | "literal"> | "postmaster",
    options: { catchAll?: boolean } = {},
  ): Resolution {
    const box = m === "postmaster"
      ? { local: "postmaster", domain: this.primaryDomain, quoted: false, literal: undefined }
      : m;
    if (box.literal !== undefined || !this.#domains.has(box.domain)) return { kind: "nonlocal" };
    if (box.quoted || hasRoutingCharacters(box.local)) {
      return { kind: "unknown", reason: "local part form not accepted" };
    }
    const local = box.local.toLowerCase();
    const found = new Map<string, MailboxRef>();
    if (
      this.#expand(`${local}@${box.domain}`, found, 0) ||
      this.#subaddress(local, box.domain, found) ||
      (options.catchAll !== false && this.#expandAlias(`@${box.domain}`, found, 0))
    ) {
      if (found.size > 0) return { kind: "local", mailboxes: [...found.values()] };
      return { kind: "unknown", reason: "alias has no existing target" };
    }
    // RFC 5321 §4.5.1: postmaster must work for every domain we serve; without its own
    // alias or account it reaches the primary domain's postmaster.
    if (local === "postmaster" && box.domain !== this.primaryDomain) {
      return this.resolve({ local, domain: this.primaryDomain, quoted: false }, options);
    }
    return { kind: "unknown", reason: "no such user" };
  }

  /** Local domains whose postmaster reaches no mailbox (RFC 5321 §4.5.1 wants one). */
  missingPostmasters(): string[] {
    return [...this.#domains].filter((d) =>
      this.resolve({ local: "postmaster", domain: d, quoted: false }).kind !== "local"
    );
  }

  #subaddress(local: string, domain: string, found: Map<string, MailboxRef>): boolean {
    const plus = local.indexOf("+");
    if (plus <= 0) return false;
    return this.#expand(`${local.slice(0, plus)}@${domain}`, found, 0);
  }

  // Alias first, then account. Returns whether the address exists at all.
  #expand(address: string, found: Map<string, MailboxRef>, depth: number): boolean {
    if (this.#expandAlias(address, found, depth)) return true;
    const acct = this.#accounts.get(address);
    if (!acct) return false;
    found.set(acct.address, { address: acct.address, local: acct.local, domain: acct.domain });
    return true;
  }

  #expandAlias(address: string, found: Map<string, MailboxRef>, depth: number): boolean {
    const targets = this.#aliases.get(address);
    if (!targets) return false;
    if (depth >= MAX_ALIAS_DEPTH) return true; // a loop: stop expanding, add nothing
    for (const t of targets) this.#expand(t, found, depth + 1);
    return true;
  }
}
