/**
 * SPF, the Sender Policy Framework (RFC 7208): a domain publishes in DNS which hosts may send
 * mail with its name in the MAIL FROM (or HELO) identity, and a receiver checks the connecting
 * IP against that policy with `check_host()` (RFC 7208 §4).
 *
 * The result is one of the seven of §2.6: none, neutral, pass, fail, softfail, temperror,
 * permerror. This module only evaluates; the SMTP session decides what to do with the result.
 *
 * Limits of §4.6.4 are enforced: at most 10 DNS-querying terms (include, a, mx, ptr, exists,
 * redirect) in the whole evaluation, at most 10 MX names per "mx", the first 10 PTR names per
 * "ptr", and at most 2 void lookups.
 *
 * @module
 */

import { isIPv4 } from "node:net";
import type { DnsResult, Resolver } from "../dns/resolver.ts";
import { inCidr } from "../net/cidr.ts";
import {
  type Context,
  countDnsTerm,
  lookupCounted,
  perm,
  SpfAbort,
  validatedNames,
} from "./_context.ts";
import { expandDomain, expandMacros } from "./expand_macros.ts";
import { type Mechanism, parseRecord, type SpfRecord } from "./spf_record.ts";

/** RFC 7208 §2.6 results. */
export type SpfResult =
  | "none"
  | "neutral"
  | "pass"
  | "fail"
  | "softfail"
  | "temperror"
  | "permerror";

/** The outcome of check_host(). */
export interface SpfOutcome {
  result: SpfResult;
  /** The domain whose policy was checked (the identity's domain). */
  domain: string;
  /** For "fail": the explanation (RFC 7208 §6.2), expanded, or the default. */
  explanation?: string;
  /** What decided the result: the matching mechanism, or the problem found. */
  reason: string;
}

/** Options for {@link checkHost}. */
export interface SpfOptions {
  resolver: Resolver;
  /** The HELO/EHLO name (macro %{h}). */
  helo: string;
  /** Our host name (macro %{r} in explanations). */
  receivingHost?: string;
  /** Explanation when the policy gives none. */
  defaultExplanation?: string;
  /** Clock for macro %{t}. */
  now?: () => Date;
  /** RFC 7208 §4.6.4 limits; the RFC values by default. */
  maxDnsTerms?: number;
  maxVoidLookups?: number;
}

/** Is `domain` usable as an SPF target (RFC 7208 §4.3): an FQDN with valid labels. */
export function isValidSpfDomain(domain: string): boolean {
  const d = domain.endsWith(".") ? domain.slice(0, -1) : domain;
  if (d.length === 0 || d.length > 253 || d.startsWith("[")) return false;
  const labels = d.split(".");
  if (labels.length < 2) return false;
  return labels.every((l) => l.length > 0 && l.length <= 63);
}

/**
 * RFC 7208 §4: check_host(ip, domain, sender).
 *
 * @param ip the client address (IPv4 or IPv6 text).
 * @param domain the domain of the identity.
 * @param sender the full identity ("postmaster@<helo>" for HELO or a null sender).
 */
export async function checkHost(
  ip: string,
  domain: string,
  sender: string,
  opts: SpfOptions,
): Promise<SpfOutcome> {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const addr = mapped ? mapped[1]! : ip;
  const ctx: Context = {
    ip: addr,
    v4: isIPv4(addr),
    sender: sender.startsWith("@") ? `postmaster${sender}` : sender,
    opts,
    dnsTerms: 0,
    voidLookups: 0,
  };
  const d = domain.replace(/\.$/, "").toLowerCase();
  try {
    const r = await evaluate(ctx, d);
    return { ...r, domain: d };
  } catch (e) {
    if (e instanceof SpfAbort) return { result: e.result, domain: d, reason: e.message };
    throw e;
  }
}

// One check_host() level. The explanation comes from the record that failed: an include's
// exp= is never used (its fail only means "no match"), and after a redirect the target's
// record gives it, not the original's (RFC 7208 §6.2).
async function evaluate(ctx: Context, domain: string): Promise<Omit<SpfOutcome, "domain">> {
  // RFC 7208 §4.3: a malformed domain gives "none".
  if (!isValidSpfDomain(domain)) {
    return { result: "none", reason: `"${domain}" is not a valid domain name` };
  }
  const text = await lookupRecord(ctx, domain);
  if (text === null) return { result: "none", reason: `no SPF record at ${domain}` };
  const record = parseRecord(text);

  for (const m of record.mechanisms) {
    if (await matches(ctx, domain, m)) {
      const out: Omit<SpfOutcome, "domain"> = {
        result: m.qualifier,
        reason: `mechanism "${m.text}" matched`,
      };
      if (m.qualifier === "fail") out.explanation = await explain(ctx, domain, record);
      return out;
    }
  }
  if (record.redirect !== undefined) {
    // RFC 7208 §6.1
    countDnsTerm(ctx);
    const target = await expandDomain(ctx, record.redirect, domain);
    if (!isValidSpfDomain(target)) throw perm(`redirect to invalid domain "${target}"`);
    const r = await evaluate(ctx, target);
    if (r.result === "none") throw perm(`redirect target ${target} has no SPF record`);
    return r;
  }
  // RFC 7208 §4.7
  return { result: "neutral", reason: "no mechanism matched" };
}

// RFC 7208 §4.4, §4.5: the TXT records at domain; exactly one must start with "v=spf1".
async function lookupRecord(ctx: Context, domain: string): Promise<string | null> {
  const r = await ctx.opts.resolver.lookup(domain, "TXT");
  if (r.kind === "temporary") {
    throw new SpfAbort("temperror", `DNS error for ${domain}: ${r.reason}`);
  }
  if (r.kind !== "ok") return null;
  const spf = r.records.filter((t) => /^v=spf1( |$)/i.test(t));
  if (spf.length === 0) return null;
  if (spf.length > 1) throw perm(`${domain} has ${spf.length} SPF records`);
  const text = spf[0]!;
  // RFC 7208 §3.1: records are 7-bit ASCII; control characters are a syntax error.
  if (/[^\x20-\x7e]/.test(text)) throw perm(`SPF record of ${domain} has invalid characters`);
  return text;
}

async function matches(ctx: Context, domain: string, m: Mechanism): Promise<boolean> {
  switch (m.kind) {
    case "all":
      return true;
    case "ip4":
      return ctx.v4 && inCidr(ctx.ip, m.network!, m.cidr4);
    case "ip6":
      return !ctx.v4 && inCidr(ctx.ip, m.network!, m.cidr6);
    case "include": {
      // RFC 7208 §5.2
      countDnsTerm(ctx);
      const target = await expandDomain(ctx, m.domainSpec!, domain);
      const r = await evaluate(ctx, target);
      if (r.result === "pass") return true;
      if (r.result === "fail" || r.result === "softfail" || r.result === "neutral") return false;
      if (r.result === "temperror") throw new SpfAbort("temperror", r.reason);
      throw perm(`include:${target} gave ${r.result}: ${r.reason}`);
    }
    case "a": {
      // RFC 7208 §5.3
      countDnsTerm(ctx);
      const target = m.domainSpec ? await expandDomain(ctx, m.domainSpec, domain) : domain;
      return await addressMatches(ctx, target, m, true);
    }
    case "mx": {
      // RFC 7208 §5.4
      countDnsTerm(ctx);
      const target = m.domainSpec ? await expandDomain(ctx, m.domainSpec, domain) : domain;
      if (!isValidSpfDomain(target)) return false;
      const mx = await lookupCounted(ctx, target, "MX");
      if (mx.kind !== "ok") return false;
      const hosts = mx.records.map((r) => r.exchange).filter((h) => h !== "");
      if (hosts.length > 10) throw perm(`${target} has more than 10 MX records (RFC 7208 4.6.4)`);
      for (const h of hosts) {
        if (await addressMatches(ctx, h, m, false)) return true;
      }
      return false;
    }
    case "ptr": {
      // RFC 7208 §5.5
      countDnsTerm(ctx);
      const target = m.domainSpec ? await expandDomain(ctx, m.domainSpec, domain) : domain;
      const names = await validatedNames(ctx, target);
      return names.length > 0;
    }
    case "exists": {
      // RFC 7208 §5.7: always an A query, whatever the client's address family.
      countDnsTerm(ctx);
      const target = await expandDomain(ctx, m.domainSpec!, domain);
      if (!isValidSpfDomain(target)) return false;
      const r = await lookupCounted(ctx, target, "A");
      return r.kind === "ok" && r.records.length > 0;
    }
  }
}

async function addressMatches(
  ctx: Context,
  host: string,
  m: Mechanism,
  counted: boolean,
): Promise<boolean> {
  if (!isValidSpfDomain(host)) return false;
  const type = ctx.v4 ? "A" : "AAAA";
  let r: DnsResult<string>;
  if (counted) {
    r = await lookupCounted(ctx, host, type);
  } else {
    r = await ctx.opts.resolver.lookup(host, type);
    if (r.kind === "temporary") {
      throw new SpfAbort("temperror", `DNS error for ${host}: ${r.reason}`);
    }
  }
  if (r.kind !== "ok") return false;
  return r.records.some((a) => inCidr(ctx.ip, a, ctx.v4 ? m.cidr4 : m.cidr6));
}

// RFC 7208 §6.2: the explanation for a fail. Problems here never change the result.
async function explain(ctx: Context, domain: string, record: SpfRecord): Promise<string> {
  const fallback = ctx.opts.defaultExplanation ?? "Sender is not authorized by the SPF policy";
  if (record.exp === undefined) return fallback;
  try {
    const target = await expandDomain(ctx, record.exp, domain);
    if (!isValidSpfDomain(target)) return fallback;
    const r = await ctx.opts.resolver.lookup(target, "TXT");
    if (r.kind !== "ok" || r.records.length !== 1) return fallback;
    const text = r.records[0]!;
    if (/[^\x20-\x7e]/.test(text)) return fallback;
    return await expandMacros(ctx, text, domain, true);
  } catch {
    return fallback;
  }
}

/** The identities checked for one transaction (RFC 7208 §2.3, §2.4). */
export interface SpfCheck {
  helo: SpfOutcome;
  /** The MAIL FROM check; for a null sender it is the HELO check. */
  mailFrom: SpfOutcome;
  /** The identity the mailFrom result is about ("postmaster@<helo>" for "<>"). */
  identity: string;
}

/**
 * Check the HELO identity and the MAIL FROM identity of a transaction. A null reverse-path
 * uses "postmaster@<helo>" (RFC 7208 §2.4).
 */
export async function checkTransaction(
  ip: string,
  mailFrom: string | null,
  opts: SpfOptions,
): Promise<SpfCheck> {
  const helo = opts.helo;
  const heloResult = await checkHost(ip, helo, `postmaster@${helo}`, opts);
  if (mailFrom === null || mailFrom === "") {
    return { helo: heloResult, mailFrom: heloResult, identity: `postmaster@${helo}` };
  }
  const domain = mailFrom.slice(mailFrom.lastIndexOf("@") + 1);
  const r = await checkHost(ip, domain, mailFrom, opts);
  return { helo: heloResult, mailFrom: r, identity: mailFrom };
}
