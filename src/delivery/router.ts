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
 *   domain's catch-all (`@domain`). Local parts are case-insensitive. An alias is looked up in
 *   the config first, then among the ones the account store holds (added from the admin page
 *   or `postie alias add`), with the same meaning; only addresses of local domains are ever
 *   looked up, so a stored alias can never make another domain relayable;
 * - an alias target in another domain, or an account's forward, is a {@link ForwardTarget}:
 *   the address stays local (that is what makes forwarding safe: only mail for a local address
 *   leaves this way), and the copy goes out through the queue with an SRS sender;
 * - an SRS local part (`SRS0=...`) is a bounce address of a forwarded message, reversed only
 *   when its hash and timestamp verify.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { Mailbox } from "../smtp/address.ts";
import { hasRoutingCharacters } from "../smtp/address.ts";
import type { MailboxRef } from "./maildir.ts";

/**
 * A copy of the message to send on to another address: an alias with an external target, an
 * account's forward, or a bounce to one of our SRS addresses going back to its sender.
 */
export interface ForwardTarget {
  /** Where it goes (an external address, or for an SRS bounce the original sender). */
  target: string;
  /** The local address that forwards (the alias or account; the SRS address for a bounce). */
  via: string;
  /** Whether the forwarding address also keeps the message in a local mailbox. */
  keepCopy: boolean;
  /** A bounce to our SRS address, passed on to the sender it stands for. */
  srsBounce?: boolean;
}

/** Where a recipient goes. */
export type Resolution =
  | { kind: "local"; mailboxes: MailboxRef[]; forwards?: ForwardTarget[] }
  | { kind: "unknown"; reason: string }
  | { kind: "nonlocal" };

/**
 * Looks up accounts by canonical address (and, when the store has them, their forwards and the
 * aliases it stores).
 */
export interface AccountLookup {
  get(address: string): { address: string; local: string; domain: string } | undefined;
  forward?(address: string): { target: string; keepCopy: boolean } | undefined;
  /** The targets of a stored alias (`local@domain` or `@domain`), after the config's. */
  alias?(address: string): string[] | undefined;
}

/** Reverses our SRS addresses (`SRS0=...`, `SRS1=...`); see src/forward/srs.ts. */
export interface SrsReverser {
  reverse(local: string): { ok: true; address: string } | { ok: false; reason: string };
}

/** Local parts that are SRS addresses (Shevek's scheme, as libsrs2 accepts them). */
const SRS_LOCAL = /^srs[01][=+-]/i;

const MAX_ALIAS_DEPTH = 10;

interface Walk {
  found: Map<string, MailboxRef>;
  forwards: Map<string, ForwardTarget>;
}

/** Resolves recipients against the config (domains, aliases) and the account store. */
export class Router {
  readonly #domains: Set<string>;
  readonly #aliases: Map<string, string[]>;
  readonly #accounts: AccountLookup;
  /** The primary domain, for the domain-less `<postmaster>` (RFC 5321 §4.1.1.3). */
  readonly primaryDomain: string;

  readonly #srs: SrsReverser | undefined;

  /** `reports.address`: it receives DMARC reports even when it is no account or alias. */
  readonly #reports: string | undefined;

  constructor(
    config: Pick<Config, "domains" | "aliases"> & Partial<Pick<Config, "reports">>,
    accounts: AccountLookup,
    srs?: SrsReverser,
  ) {
    this.#reports = config.reports?.address.toLowerCase();
    this.#domains = new Set(config.domains);
    this.#aliases = config.aliases;
    this.#accounts = accounts;
    this.#srs = srs;
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
    if (this.#srs && SRS_LOCAL.test(box.local)) {
      // A bounce address we made for a forwarded message: it goes back to the sender it
      // stands for, but only when its hash and age verify (never a relay, never backscatter).
      const r = this.#srs.reverse(box.local);
      if (!r.ok) return { kind: "unknown", reason: `SRS address does not verify (${r.reason})` };
      const via = `${box.local}@${box.domain}`;
      return {
        kind: "local",
        mailboxes: [],
        forwards: [{ target: r.address, via, keepCopy: false, srsBounce: true }],
      };
    }
    const local = box.local.toLowerCase();
    const found = new Map<string, MailboxRef>();
    const forwards = new Map<string, ForwardTarget>();
    const walk: Walk = { found, forwards };
    if (
      this.#expand(`${local}@${box.domain}`, walk, 0) ||
      this.#subaddress(local, box.domain, walk) ||
      (options.catchAll !== false && this.#expandAlias(`@${box.domain}`, walk, 0))
    ) {
      if (found.size > 0 || forwards.size > 0) {
        return {
          kind: "local",
          mailboxes: [...found.values()],
          ...(forwards.size > 0 ? { forwards: [...forwards.values()] } : {}),
        };
      }
      return { kind: "unknown", reason: "alias has no existing target" };
    }
    // RFC 5321 §4.5.1: postmaster must work for every domain we serve; without its own
    // alias or account it reaches the primary domain's postmaster.
    if (local === "postmaster" && box.domain !== this.primaryDomain) {
      return this.resolve({ local, domain: this.primaryDomain, quoted: false }, options);
    }
    if (`${local}@${box.domain}` === this.#reports) {
      // RFC 7489 §7.2: the reports about our domains land in their own Maildir, which postie
      // reads (src/reports/report_mailbox.ts).
      return { kind: "local", mailboxes: [{ address: this.#reports, local, domain: box.domain }] };
    }
    return { kind: "unknown", reason: "no such user" };
  }

  /** Local domains whose postmaster reaches no mailbox (RFC 5321 §4.5.1 wants one). */
  missingPostmasters(): string[] {
    return [...this.#domains].filter((d) =>
      this.resolve({ local: "postmaster", domain: d, quoted: false }).kind !== "local"
    );
  }

  #subaddress(local: string, domain: string, walk: Walk): boolean {
    const plus = local.indexOf("+");
    if (plus <= 0) return false;
    return this.#expand(`${local.slice(0, plus)}@${domain}`, walk, 0);
  }

  // Alias first, then account (and its forward). Returns whether the address exists at all.
  #expand(address: string, walk: Walk, depth: number): boolean {
    if (this.#expandAlias(address, walk, depth)) return true;
    const acct = this.#accounts.get(address);
    if (!acct) return false;
    const fwd = this.#accounts.forward?.(acct.address);
    if (fwd && fwd.target.toLowerCase() !== acct.address) {
      if (!walk.forwards.has(fwd.target)) {
        walk.forwards.set(fwd.target, {
          target: fwd.target,
          via: acct.address,
          keepCopy: fwd.keepCopy,
        });
      }
      if (!fwd.keepCopy) return true;
    }
    walk.found.set(acct.address, {
      address: acct.address,
      local: acct.local,
      domain: acct.domain,
    });
    return true;
  }

  #expandAlias(address: string, walk: Walk, depth: number): boolean {
    const targets = this.#aliases.get(address) ?? this.#accounts.alias?.(address);
    if (!targets) return false;
    if (depth >= MAX_ALIAS_DEPTH) return true; // a loop: stop expanding, add nothing
    for (const t of targets) {
      const domain = t.slice(t.lastIndexOf("@") + 1);
      if (this.#domains.has(domain)) {
        this.#expand(t, walk, depth + 1);
      } else if (!walk.forwards.has(t)) {
        // An external target: the only way mail for a local address leaves by an alias.
        walk.forwards.set(t, { target: t, via: address, keepCopy: false });
      }
    }
    return true;
  }
}
