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

import { isIPv4, isIPv6 } from "node:net";
import { type DnsResult, expandIPv6, isVoid, type Resolver, reverseName } from "../dns/resolver.ts";

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

const QUALIFIERS: Record<string, SpfResult> = {
  "+": "pass",
  "-": "fail",
  "~": "softfail",
  "?": "neutral",
};

/** An evaluation-ending condition (permerror / temperror). */
class SpfAbort extends Error {
  constructor(readonly result: "permerror" | "temperror", reason: string) {
    super(reason);
  }
}

const perm = (reason: string) => new SpfAbort("permerror", reason);

interface Mechanism {
  kind: "all" | "include" | "a" | "mx" | "ptr" | "ip4" | "ip6" | "exists";
  qualifier: SpfResult;
  /** Unexpanded domain-spec, if given. */
  domainSpec?: string;
  /** ip4/ip6 network. */
  network?: string;
  cidr4: number;
  cidr6: number;
  text: string;
}

interface SpfRecord {
  mechanisms: Mechanism[];
  redirect?: string;
  exp?: string;
}

interface Context {
  ip: string;
  /** True for IPv4 (including IPv4-mapped IPv6 addresses, RFC 7208 §5). */
  v4: boolean;
  sender: string;
  opts: SpfOptions;
  dnsTerms: number;
  voidLookups: number;
}

// RFC 7208 §4.6.1 name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
const MODIFIER_REGEXP = /^([A-Za-z][A-Za-z0-9\-_.]*)=(.*)$/s;
const IP4_REGEXP = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// RFC 7208 §5.6 ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT), ip6 up to 3 digits.
const CIDR4_REGEXP = /^(0|[1-9]\d?)$/;
const CIDR6_REGEXP = /^(0|[1-9]\d{0,2})$/;
// RFC 7208 §7.1 toplabel.
const TOPLABEL_REGEXP =
  /^([A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])$/;

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

/** Parse an SPF record (RFC 7208 §4.6.1, §12 ABNF). @throws SpfAbort permerror. */
function parseRecord(text: string): SpfRecord {
  const record: SpfRecord = { mechanisms: [] };
  const terms = text.split(" ").slice(1).filter((t) => t !== "");
  for (const term of terms) {
    const mod = MODIFIER_REGEXP.exec(term);
    if (
      mod && !/^[+\-~?]/.test(term) && !/^(ip4|ip6|a|mx|ptr|include|exists|all)[:/]/i.test(term)
    ) {
      const name = mod[1]!.toLowerCase();
      const value = mod[2]!;
      const known = name === "redirect" || name === "exp";
      checkMacroString(value, !known);
      if (known) {
        if (record[name] !== undefined) throw perm(`duplicate ${name}= modifier`);
        checkDomainSpec(value);
        record[name] = value;
      }
      // Unknown modifiers are ignored (RFC 7208 §6), once they parse.
      continue;
    }
    record.mechanisms.push(parseMechanism(term));
  }
  return record;
}

function parseMechanism(term: string): Mechanism {
  let t = term;
  let qualifier: SpfResult = "pass";
  if (/^[+\-~?]/.test(t)) {
    qualifier = QUALIFIERS[t[0]!]!;
    t = t.slice(1);
  }
  const m = /^([A-Za-z0-9]+)(.*)$/s.exec(t);
  if (!m) throw perm(`invalid term "${term}"`);
  const name = m[1]!.toLowerCase();
  let rest = m[2]!;
  const mech: Mechanism = { kind: "all", qualifier, cidr4: 32, cidr6: 128, text: term };
  switch (name) {
    case "all":
      if (rest !== "") throw perm(`invalid term "${term}"`);
      mech.kind = "all";
      return mech;
    case "include":
    case "exists":
      if (!rest.startsWith(":") || rest.length === 1) throw perm(`${name} needs a domain`);
      mech.kind = name;
      mech.domainSpec = rest.slice(1);
      checkMacroString(mech.domainSpec);
      checkDomainSpec(mech.domainSpec);
      return mech;
    case "a":
    case "mx": {
      mech.kind = name;
      // dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ], at the end.
      const cidr = /(\/(0|[1-9]\d*))?(\/\/(0|[1-9]\d*))?$/.exec(rest)!;
      if (cidr[0] !== "") {
        rest = rest.slice(0, rest.length - cidr[0].length);
        if (cidr[2] !== undefined) {
          if (!CIDR4_REGEXP.test(cidr[2]) || Number(cidr[2]) > 32) {
            throw perm(`bad CIDR in "${term}"`);
          }
          mech.cidr4 = Number(cidr[2]);
        }
        if (cidr[4] !== undefined) {
          if (!CIDR6_REGEXP.test(cidr[4]) || Number(cidr[4]) > 128) {
            throw perm(`bad CIDR in "${term}"`);
          }
          mech.cidr6 = Number(cidr[4]);
        }
      }
      if (rest !== "") {
        if (!rest.startsWith(":") || rest.length === 1) throw perm(`invalid term "${term}"`);
        mech.domainSpec = rest.slice(1);
        checkMacroString(mech.domainSpec);
        checkDomainSpec(mech.domainSpec);
      }
      return mech;
    }
    case "ptr":
      mech.kind = "ptr";
      if (rest !== "") {
        if (!rest.startsWith(":") || rest.length === 1) throw perm(`invalid term "${term}"`);
        mech.domainSpec = rest.slice(1);
        checkMacroString(mech.domainSpec);
        checkDomainSpec(mech.domainSpec);
      }
      return mech;
    case "ip4": {
      if (!rest.startsWith(":")) throw perm(`invalid term "${term}"`);
      const [net, len, extra] = rest.slice(1).split("/");
      if (extra !== undefined || !net || !IP4_REGEXP.test(net)) throw perm(`bad ip4 in "${term}"`);
      if (len !== undefined) {
        if (!CIDR4_REGEXP.test(len) || Number(len) > 32) throw perm(`bad CIDR in "${term}"`);
        mech.cidr4 = Number(len);
      }
      mech.kind = "ip4";
      mech.network = net;
      return mech;
    }
    case "ip6": {
      if (!rest.startsWith(":")) throw perm(`invalid term "${term}"`);
      const body = rest.slice(1);
      const slash = body.indexOf("/");
      const net = slash < 0 ? body : body.slice(0, slash);
      const len = slash < 0 ? undefined : body.slice(slash + 1);
      if (!isIPv6(net) || net.includes("%")) throw perm(`bad ip6 in "${term}"`);
      if (len !== undefined) {
        if (!CIDR6_REGEXP.test(len) || Number(len) > 128) throw perm(`bad CIDR in "${term}"`);
        mech.cidr6 = Number(len);
      }
      mech.kind = "ip6";
      mech.network = net;
      return mech;
    }
    default:
      throw perm(`unknown mechanism "${term}"`);
  }
}

// RFC 7208 §7.1: macro-string = *( macro-expand / macro-literal ). The letters c, r and t
// are allowed only in explanation text, so never in a domain-spec (`expOnly` false).
function checkMacroString(s: string, expLetters = false): void {
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== "%") {
      if (!/[\x21-\x7e]/.test(c)) throw perm(`invalid character in "${s}"`);
      continue;
    }
    const n = s[i + 1];
    if (n === "%" || n === "_" || n === "-") {
      i++;
      continue;
    }
    if (n !== "{") throw perm(`invalid macro in "${s}"`);
    const end = s.indexOf("}", i);
    if (end < 0) throw perm(`unterminated macro in "${s}"`);
    // macro-letter transformers *delimiter
    const body = s.slice(i + 2, end);
    if (!/^[slodiphcrtv]\d*r?[.\-+,/_=]*$/i.test(body)) throw perm(`invalid macro in "${s}"`);
    if (!expLetters && /^[crt]/i.test(body)) throw perm(`macro %{${body}} only allowed in exp`);
    i = end;
  }
}

// RFC 7208 §7.1: domain-end = ( "." toplabel [ "." ] ) / macro-expand
function checkDomainSpec(spec: string): void {
  if (spec.endsWith("}")) return;
  const s = spec.endsWith(".") ? spec.slice(0, -1) : spec;
  const dot = s.lastIndexOf(".");
  if (dot < 0 || !TOPLABEL_REGEXP.test(s.slice(dot + 1))) {
    throw perm(`invalid domain "${spec}"`);
  }
}

function countDnsTerm(ctx: Context): void {
  ctx.dnsTerms++;
  if (ctx.dnsTerms > (ctx.opts.maxDnsTerms ?? 10)) {
    throw perm("more than 10 DNS-querying terms (RFC 7208 4.6.4)");
  }
}

// A lookup whose temporary failure ends the evaluation with temperror, and whose emptiness
// counts as a void lookup (RFC 7208 §4.6.4).
async function lookupCounted<T extends "A" | "AAAA" | "MX" | "PTR">(
  ctx: Context,
  name: string,
  type: T,
) {
  const r = await ctx.opts.resolver.lookup(name, type);
  if (r.kind === "temporary") throw new SpfAbort("temperror", `DNS error for ${name}: ${r.reason}`);
  if (isVoid(r)) {
    ctx.voidLookups++;
    if (ctx.voidLookups > (ctx.opts.maxVoidLookups ?? 2)) {
      throw perm("more than 2 void DNS lookups (RFC 7208 4.6.4)");
    }
  }
  return r;
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

// RFC 7208 §5.5: names from the PTR lookup of the client IP that resolve back to it and equal
// or end in `target`. DNS errors here mean "no match", never temperror. Without a target
// (for %{p}) every validated name is returned.
async function validatedNames(ctx: Context, target: string | null): Promise<string[]> {
  const ptr = target === null
    ? await ctx.opts.resolver.lookup(reverseName(ctx.ip), "PTR")
    : await lookupCounted(ctx, reverseName(ctx.ip), "PTR").catch((e) => {
      if (e instanceof SpfAbort && e.result === "temperror") return null;
      throw e;
    });
  if (!ptr || ptr.kind !== "ok") return [];
  const t = target?.toLowerCase();
  const out: string[] = [];
  for (const name of ptr.records.slice(0, 10)) {
    const n = name.toLowerCase();
    if (t !== undefined && n !== t && !n.endsWith("." + t)) continue;
    const r = await ctx.opts.resolver.lookup(n, ctx.v4 ? "A" : "AAAA");
    if (r.kind === "ok" && r.records.some((a) => sameIp(a, ctx.ip))) out.push(n);
  }
  return out;
}

function sameIp(a: string, b: string): boolean {
  return ipToBigInt(a) === ipToBigInt(b);
}

function ipToBigInt(ip: string): bigint | undefined {
  if (isIPv4(ip)) {
    return ip.split(".").reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n);
  }
  if (isIPv6(ip)) {
    return expandIPv6(ip).split(":").reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
  }
  return undefined;
}

/** Whether `ip` is inside `network`/`bits` (same family only). */
export function inCidr(ip: string, network: string, bits: number): boolean {
  const v4 = isIPv4(ip);
  if (v4 !== isIPv4(network)) return false;
  const a = ipToBigInt(ip);
  const b = ipToBigInt(network);
  if (a === undefined || b === undefined) return false;
  const width = v4 ? 32n : 128n;
  const shift = width - BigInt(bits);
  return (a >> shift) === (b >> shift);
}

// --- Macros (RFC 7208 §7) ---

async function expandDomain(ctx: Context, spec: string, domain: string): Promise<string> {
  let d = await expandMacros(ctx, spec, domain, false);
  if (d.endsWith(".")) d = d.slice(0, -1);
  // RFC 7208 §7.3: an expanded name over 253 characters loses labels on the left.
  while (d.length > 253 && d.includes(".")) d = d.slice(d.indexOf(".") + 1);
  return d.toLowerCase();
}

/**
 * Expand an RFC 7208 §7 macro-string. `exp` allows the explanation-only letters c, r, t.
 * @throws SpfAbort permerror on a syntax error.
 */
async function expandMacros(
  ctx: Context,
  s: string,
  domain: string,
  exp: boolean,
): Promise<string> {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== "%") {
      out += c;
      continue;
    }
    const n = s[i + 1];
    i++;
    if (n === "%") out += "%";
    else if (n === "_") out += " ";
    else if (n === "-") out += "%20";
    else if (n === "{") {
      const end = s.indexOf("}", i);
      if (end < 0) throw perm(`unterminated macro in "${s}"`);
      const body = s.slice(i + 1, end);
      i = end;
      const m = /^([a-zA-Z])(\d*)(r?)([.\-+,/_=]*)$/i.exec(body);
      if (!m) throw perm(`invalid macro "%{${body}}"`);
      const letter = m[1]!;
      const lower = letter.toLowerCase();
      if (!exp && "crt".includes(lower)) throw perm(`macro %{${letter}} only allowed in exp`);
      let value = await macroValue(ctx, lower, domain);
      // Transformers: split on delimiters, reverse, keep the rightmost N, join with ".".
      const delims = m[4] || ".";
      let parts = value.split(new RegExp(`[${delims.replace(/[-\\\]^/]/g, "\\$&")}]`));
      if (m[3]) parts = parts.reverse();
      if (m[2]) {
        const keep = Number(m[2]);
        if (keep === 0) throw perm(`invalid macro "%{${body}}"`);
        parts = parts.slice(-keep);
      }
      value = parts.join(".");
      // Upper-case letters are URL-escaped (RFC 7208 §7.3).
      if (letter !== lower) value = encodeURIComponent(value).replace(/[!'()*]/g, escapeChar);
      out += value;
    } else {
      throw perm(`invalid macro in "${s}"`);
    }
  }
  return out;
}

function escapeChar(c: string): string {
  return "%" + c.charCodeAt(0).toString(16).toUpperCase();
}

async function macroValue(ctx: Context, letter: string, domain: string): Promise<string> {
  const at = ctx.sender.lastIndexOf("@");
  switch (letter) {
    case "s":
      return ctx.sender;
    case "l":
      return at > 0 ? ctx.sender.slice(0, at) : "postmaster";
    case "o":
      return ctx.sender.slice(at + 1);
    case "d":
      return domain;
    case "i":
      return ctx.v4 ? ctx.ip : expandIPv6(ctx.ip, true).replaceAll(":", "").split("").join(".");
    case "p": {
      // RFC 7208 §7.3: a validated name of the client, preferring the domain itself.
      const names = await validatedNames(ctx, null);
      if (names.includes(domain)) return domain;
      return names.find((n) => n.endsWith("." + domain)) ?? names[0] ?? "unknown";
    }
    case "v":
      return ctx.v4 ? "in-addr" : "ip6";
    case "h":
      return ctx.opts.helo;
    case "c":
      return ctx.ip.toLowerCase();
    case "r":
      return ctx.opts.receivingHost ?? "unknown";
    case "t":
      return String(Math.floor((ctx.opts.now?.() ?? new Date()).getTime() / 1000));
    default:
      throw perm(`unknown macro letter "${letter}"`);
  }
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

/** Exposed for tests: macro expansion against a fixed context (RFC 7208 §7.4 examples). */
export async function expandForTest(
  s: string,
  params: { ip: string; sender: string; domain: string; exp?: boolean },
  opts: SpfOptions,
): Promise<string> {
  const ctx: Context = {
    ip: params.ip,
    v4: isIPv4(params.ip),
    sender: params.sender,
    opts,
    dnsTerms: 0,
    voidLookups: 0,
  };
  return await expandMacros(ctx, s, params.domain, params.exp ?? false);
}
