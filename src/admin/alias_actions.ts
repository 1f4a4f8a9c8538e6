/**
 * Alias actions, one implementation for `postie alias ...` and the admin page. Aliases live in
 * two places: the config file's `aliases` (read-only here: changed by editing the file) and
 * the ones added here, stored in accounts.db; the router looks up the config's first. An added
 * alias is checked exactly as the config's are (src/config/mapping_types.ts `localAliases`):
 * its address (or `@domain`, a catch-all) in a local domain with a plain local part, its
 * targets full addresses without relay tricks; external targets forward (with SRS).
 *
 * @module
 */

import { localAliases } from "../config/mapping_types.ts";
import type { ReadContext } from "../config/schema_reader.ts";
import { addressOf } from "../config/value_types.ts";
import type { AccountContext } from "./account_actions.ts";
import { ActionError } from "./action_error.ts";

/** An alias as listed: where it is defined decides whether it can be deleted here. */
export interface AliasView {
  /** Canonical address, or `@domain` for a catch-all. */
  address: string;
  targets: string[];
  /** `config`: the config file's `aliases`; `admin`: added by `postie alias add` or the page. */
  source: "config" | "admin";
}

/** The most targets one alias may have. */
export const MAX_ALIAS_TARGETS = 50;

/** A read context for the config's value types whose failures are {@link ActionError}s. */
function checkContext(ctx: AccountContext, what: string): ReadContext {
  return {
    fail(_path, reason, ...value): never {
      const shown = value.length > 0 ? ` (${JSON.stringify(value[0])})` : "";
      throw new ActionError("invalid", `${what}: ${reason}${shown}`);
    },
    baseDir: "/",
    earlier: (key) => {
      if (key !== "domains") throw new Error(`alias check: "${key}" is not known here`);
      return ctx.config.domains;
    },
  };
}

/** The canonical form of an alias address (`local@domain` or `@domain`). */
function canonicalAlias(ctx: AccountContext, address: string): string {
  const a = addressOf(address.trim(), "address", checkContext(ctx, `alias "${address}"`));
  return `${a.local}@${a.domain}`;
}

/** Every alias: the config's first (in file order), then the added ones. */
export function listAliases(ctx: AccountContext): AliasView[] {
  return [
    ...[...ctx.config.aliases].map(([address, targets]): AliasView => ({
      address,
      targets: [...targets],
      source: "config",
    })),
    ...ctx.accounts.aliases().map(({ address, targets }): AliasView => ({
      address,
      targets,
      source: "admin",
    })),
  ];
}

/**
 * Add an alias: `address` (or `@domain`) of a local domain to 1 to 50 `targets`, each a full
 * address (local, or external to forward to). Refused when the address is an account, a
 * config alias or an added alias already.
 *
 * @throws {ActionError} invalid address or targets, or `exists`.
 */
export function addAlias(ctx: AccountContext, address: string, targets: string[]): AliasView {
  if (!Array.isArray(targets) || targets.some((t) => typeof t !== "string")) {
    throw new ActionError("invalid", "targets: must be a list of addresses");
  }
  const list = targets.map((t) => t.trim()).filter((t) => t !== "");
  if (list.length === 0) throw new ActionError("invalid", "targets: give at least one address");
  if (list.length > MAX_ALIAS_TARGETS) {
    throw new ActionError("invalid", `targets: at most ${MAX_ALIAS_TARGETS} addresses`);
  }
  if (typeof address !== "string" || address.trim() === "") {
    throw new ActionError("invalid", "address: must be an address local@domain or @domain");
  }
  // The config's own check of an `aliases` entry, key and targets, against the local domains.
  const read = localAliases.read(
    { [address.trim()]: list },
    "aliases",
    checkContext(ctx, `alias "${address.trim()}"`),
  );
  const [[canonical, checked]] = [...read] as [[string, string[]]];
  if (ctx.config.aliases.has(canonical)) {
    throw new ActionError("exists", `"${canonical}" is already an alias in ${ctx.config.source}`);
  }
  if (ctx.accounts.alias(canonical)) {
    throw new ActionError("exists", `"${canonical}" is already an alias; delete it first`);
  }
  if (!canonical.startsWith("@") && ctx.accounts.get(canonical)) {
    throw new ActionError(
      "exists",
      `"${canonical}" is an account; an alias of the same address would take its mail`,
    );
  }
  const unique = [...new Set(checked)];
  ctx.accounts.setAlias(canonical, unique);
  return { address: canonical, targets: unique, source: "admin" };
}

/**
 * Delete an added alias. One from the config file cannot be deleted here (`invalid`, naming
 * the file); an address without an added alias is `missing`.
 */
export function deleteAlias(ctx: AccountContext, address: string): void {
  const canonical = canonicalAlias(ctx, address);
  if (ctx.config.aliases.has(canonical)) {
    throw new ActionError(
      "invalid",
      `"${canonical}" is an alias in ${ctx.config.source}: remove it there (and reload)`,
    );
  }
  if (!ctx.accounts.deleteAlias(canonical)) {
    throw new ActionError("missing", `No alias "${canonical}"`);
  }
}
