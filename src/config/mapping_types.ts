/**
 * The value types of config keys that hold mappings: aliases, allowed senders, DMARC modes per
 * local domain, and relays (the smarthost and the per-domain routes). Their keys are
 * addresses or domains, checked here; the ones that must be local are checked against the
 * `domains` key, read before them.
 *
 * @module
 */

import type { DmarcMode, Relay } from "./config.ts";
import type { ReadContext, ValueType } from "./schema_reader.ts";
import { addressOf, domainOf, filePath, int, oneOf, stringList, text } from "./value_types.ts";

type Obj = Record<string, unknown>;

/** The entries of a mapping value, or the failure `reason` when it is not a mapping. */
function entries(v: unknown, path: string, ctx: ReadContext, reason: string): [string, unknown][] {
  if (typeof v !== "object" || v === null || Array.isArray(v)) ctx.fail(path, reason, v);
  return Object.entries(v);
}

function localDomains(ctx: ReadContext): string[] {
  return ctx.earlier("domains") as string[];
}

/**
 * A mapping of address to one address or a list of them: each key made canonical by `key`,
 * each target by `target` (both get the path `<path>.<key>` for their errors).
 */
function addressLists(
  v: unknown,
  path: string,
  ctx: ReadContext,
  reason: string,
  key: (k: string, at: string) => string,
  target: (t: string, at: string) => string,
): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const [k, list] of entries(v, path, ctx, reason)) {
    const at = `${path}.${k}`;
    const canonical = key(k, at);
    const items = list === undefined ? ctx.fail(at, "is required") : stringList.read(list, at, ctx);
    map.set(canonical, items.map((t) => target(t, at)));
  }
  return map;
}

/**
 * Aliases: address (or "@domain", a catch-all) of a local domain to one or more full
 * addresses: local ones (accounts, other aliases) or external ones, which forward the mail
 * (with SRS, see `forwarding`). Only mail for these local addresses is ever forwarded.
 */
export const localAliases: ValueType<Map<string, string[]>> = {
  freeKeys: true,
  read(v: unknown, path: string, ctx: ReadContext) {
    const local = new Set(localDomains(ctx));
    const reason = "must be a mapping of address to address(es)";
    return addressLists(v, path, ctx, reason, (k, at) => {
      const key = addressOf(k, at, ctx);
      if (!local.has(key.domain)) ctx.fail(at, "must be in one of the local domains", k);
      return `${key.local}@${key.domain}`;
    }, (t, at) => {
      const a = addressOf(t, at, ctx);
      if (a.local === "") ctx.fail(at, "targets must be full addresses", t);
      // An external target keeps the case of its local part (RFC 5321 §2.4: only the
      // receiving domain may treat it as case-insensitive).
      if (!local.has(a.domain)) return `${t.slice(0, t.lastIndexOf("@"))}@${a.domain}`;
      return `${a.local}@${a.domain}`;
    });
  },
};

/** Submission: account address to the extra addresses (or "@domain") it may send as. */
export const allowedSenders: ValueType<Map<string, string[]>> = {
  freeKeys: true,
  read(v: unknown, path: string, ctx: ReadContext) {
    const reason = "must be a mapping of account to addresses";
    return addressLists(v, path, ctx, reason, (k, at) => {
      const acct = addressOf(k, at, ctx);
      if (acct.local === "") ctx.fail(at, "must be an account address", k);
      return `${acct.local}@${acct.domain}`;
    }, (s, at) => {
      const a = addressOf(s, at, ctx);
      return a.local === "" ? `@${a.domain}` : `${a.local}@${a.domain}`;
    });
  },
};

/** How a local domain applies the DMARC policies of senders (RFC 7489 §6.3 p=). */
export const dmarcMode: ValueType<DmarcMode> = oneOf(["enforce", "quarantine", "monitor"]);

/** Per local domain, a DMARC mode other than `dmarc.mode`. */
export const dmarcDomains: ValueType<Map<string, DmarcMode>> = {
  freeKeys: true,
  read(v: unknown, path: string, ctx: ReadContext) {
    const modes = new Map<string, DmarcMode>();
    for (const [d, mode] of entries(v, path, ctx, "must be a mapping of local domain to mode")) {
      const at = `${path}.${d}`;
      const dom = domainOf(d, at, ctx);
      if (!localDomains(ctx).includes(dom)) ctx.fail(at, "must be a local domain", d);
      modes.set(dom, dmarcMode.read(String(mode), at, ctx));
    }
    return modes;
  },
};

const RELAY_FIELDS = ["host", "port", "tls", "username", "password_file"] as const;
const relayTls = oneOf(["starttls", "implicit", "none"]);
const relayPort = int(1, 65535);

/** One relay: host, port (587, or 465 for implicit TLS), tls, and optional credentials. */
function readRelay(obj: unknown, path: string, ctx: ReadContext): Relay {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    ctx.fail(path, "must be a mapping with host, port, tls", obj);
  }
  const o = obj as Obj;
  for (const k of Object.keys(o)) {
    if (!(RELAY_FIELDS as readonly string[]).includes(k)) {
      ctx.fail(`${path}.${k}`, "is not a known key (see config.example.yaml)");
    }
  }
  const given = (k: string) => o[k] !== undefined && o[k] !== null;
  const tls = given("tls") ? relayTls.read(o["tls"], `${path}.tls`, ctx) : "starttls";
  if (!given("host")) ctx.fail(`${path}.host`, "is required");
  const relay: Relay = {
    host: text.read(o["host"], `${path}.host`, ctx),
    port: given("port")
      ? relayPort.read(o["port"], `${path}.port`, ctx)
      : tls === "implicit"
      ? 465
      : 587,
    tls,
  };
  if (o["username"] !== undefined) {
    relay.username = text.read(o["username"], `${path}.username`, ctx);
    if (o["password_file"] === undefined) {
      ctx.fail(`${path}.password_file`, "is required with username");
    }
  }
  if (o["password_file"] !== undefined) {
    relay.passwordFile = filePath.read(o["password_file"], `${path}.password_file`, ctx);
  }
  if (relay.username !== undefined && relay.tls === "none") {
    ctx.fail(`${path}.tls`, "must not be none when a password is sent", tls);
  }
  return relay;
}

/** A relay for all outbound mail (an explicit null is none). */
export const relayHost: ValueType<Relay | undefined> = {
  fields: RELAY_FIELDS,
  read: (v, path, ctx) => v === null ? undefined : readRelay(v, path, ctx),
};

/** Per destination domain (canonical), a relay that wins over MX routing. */
export const relayRoutes: ValueType<Map<string, Relay>> = {
  freeKeys: true,
  read(v: unknown, path: string, ctx: ReadContext) {
    const routes = new Map<string, Relay>();
    for (const [d, relay] of entries(v, path, ctx, "must be a mapping of domain to relay")) {
      const r = readRelay(relay, `${path}.${d}`, ctx);
      routes.set(domainOf(d, `${path}.${d}`, ctx), r);
    }
    return routes;
  },
};
