/**
 * DMARC (RFC 7489): a domain that appears in the From header field, the address a reader
 * sees, publishes in DNS what receivers should do with mail that uses its name without
 * proof.
 *
 * The proof comes from SPF and DKIM, but neither checks the From domain itself: SPF checks
 * the MAIL FROM (or HELO) domain, DKIM the `d=` of a signature. DMARC adds *identifier
 * alignment* (§3.1): a message passes when SPF or a DKIM signature passes **and** its domain
 * is aligned with the From domain, that is equal to it (strict mode) or sharing its
 * Organizational Domain (relaxed mode, the default; §3.2, see
 * {@link ./organizational_domain.ts}).
 *
 * The steps of §6.6.2, and where they are:
 *
 * 1. extract the From domain: {@linkcode fromDomainOf} / {@linkcode authorDomain};
 * 2. discover the policy record at `_dmarc.<From domain>`, else at
 *    `_dmarc.<Organizational Domain>` (§6.6.3): `discover()` below;
 * 3. and 4. DKIM and SPF results come from the caller ({@linkcode DmarcInput});
 * 5. alignment: `aligned()` below;
 * 6. apply the policy, `p=` or for subdomains `sp=` (§6.3), to the share of failing mail
 *    given by `pct=` (§6.6.4): {@linkcode evaluateDmarc}.
 *
 * Results use the words of RFC 8601 §2.7.1 (`pass`, `fail`, `none`, `temperror`,
 * `permerror`). This module only evaluates; the SMTP session decides whether to reject,
 * quarantine, defer on `temperror`, or deliver.
 *
 * This is RFC 7489 discovery, not the DMARCbis DNS tree walk: only the From domain and its
 * Organizational Domain are queried.
 *
 * @module
 */

import type { Resolver } from "../dns/resolver.ts";
import { asciiDomain, organizationalDomain } from "./organizational_domain.ts";
import {
  type AlignmentMode,
  type DmarcPolicy,
  type DmarcRecord,
  parseDmarcRecord,
} from "./record.ts";

export { asciiDomain, organizationalDomain, registrableDomain } from "./organizational_domain.ts";
export {
  type AlignmentMode,
  type DmarcPolicy,
  type DmarcRecord,
  type DmarcUri,
  parseDmarcRecord,
} from "./record.ts";
export { type AuthorDomain, authorDomain, fromDomainOf } from "./from_domain.ts";

/** A DMARC result (RFC 7489 §11.2, RFC 8601 §2.7.1). */
export type DmarcResult = "pass" | "fail" | "none" | "temperror" | "permerror";

/** What DMARC needs from the other checks (RFC 7489 §6.6.2 steps 1, 3 and 4). */
export interface DmarcInput {
  /** The RFC5322.From domain (U-labels or A-labels); see {@linkcode fromDomainOf}. */
  fromDomain: string;
  /**
   * The SPF result and the domain it was checked for: the MAIL FROM domain, or the HELO
   * domain when MAIL FROM was null (RFC 7489 §6.6.2 step 4, RFC 7208 §2.4). `null` when SPF
   * was not checked.
   */
  spf: { result: string; domain: string } | null;
  /** Every verified DKIM signature: its result and its `d=` (RFC 7489 §6.6.2 step 3). */
  dkim: { result: string; domain: string }[];
}

/** The outcome of {@linkcode evaluateDmarc}. */
export interface DmarcOutcome {
  result: DmarcResult;
  /** The policy the Domain Owner requests for this From domain: `p=` or `sp=` (§6.3). */
  policy?: DmarcPolicy;
  /**
   * What to do with the message: the policy after `pct=` sampling for a failing message
   * (§6.6.4), and "none" in every other case (pass, none, temperror, permerror).
   */
  disposition: DmarcPolicy;
  /** The domain whose `_dmarc` record was used (A-labels). */
  policyDomain?: string;
  /** Which mechanism produced an aligned pass (DKIM is preferred when both did). */
  alignedBy?: "spf" | "dkim";
  /** Why: what aligned, what was found in DNS, or what went wrong. */
  reason: string;
  /** The record's `pct=` (§6.3). */
  pct?: number;
  /** True when `pct=` sampling left the message out, so the next-lower policy applied. */
  sampledOut?: boolean;
  /** The policy record used, for reporting (`rua=`, `ruf=`, `fo=`). */
  record?: DmarcRecord;
}

/** Options for {@linkcode evaluateDmarc}. */
export interface DmarcOptions {
  /** Resolver for the `_dmarc` TXT lookups. */
  resolver: Resolver;
  /**
   * Random source in [0, 1) for `pct=` sampling (§6.6.4); it is called once per failing
   * message whose record has 0 < pct < 100, and policy quarantine or reject.
   * @default {Math.random}
   */
  random?: () => number;
}

/** Where a record was found. */
type Found =
  | { kind: "record"; record: DmarcRecord; domain: string; atOrg: boolean }
  | { kind: "none"; reason: string }
  | { kind: "temperror"; reason: string };

/** One `_dmarc` lookup: the DMARC records there, or a temporary failure. */
type Lookup = { kind: "ok"; records: DmarcRecord[] } | { kind: "temperror"; reason: string };

/**
 * Evaluates DMARC for a message (RFC 7489 §6.6.2).
 *
 * Never throws for DNS trouble: a temporary failure of a `_dmarc` lookup gives `temperror`,
 * so that the caller can answer 4xx (RFC 7489 §6.6.3 leaves DNS errors to the receiver).
 *
 * @param input the From domain and the SPF and DKIM results.
 * @param opts the resolver and, for tests, the random source.
 * @returns the result, the requested policy and the disposition.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluateDmarc } from "./dmarc.ts";
 * import type { DnsResult, RecordTypes, RecordType, Resolver } from "../dns/resolver.ts";
 *
 * const resolver: Resolver = {
 *   lookup<T extends RecordType>(name: string): Promise<DnsResult<RecordTypes[T]>> {
 *     if (name !== "_dmarc.example.com") return Promise.resolve({ kind: "nxdomain" });
 *     const records = ["v=DMARC1; p=reject"] as RecordTypes[T][];
 *     return Promise.resolve({ kind: "ok", records, ttl: 300 });
 *   },
 * };
 * const out = await evaluateDmarc({
 *   fromDomain: "mail.example.com",
 *   spf: { result: "pass", domain: "bounces.example.com" },
 *   dkim: [],
 * }, { resolver });
 * assert.equal(out.result, "pass");
 * assert.equal(out.alignedBy, "spf");
 * assert.equal(out.policyDomain, "example.com");
 * ```
 */
export async function evaluateDmarc(input: DmarcInput, opts: DmarcOptions): Promise<DmarcOutcome> {
  // RFC 7489 §6.6.1: a UTF-8 From domain is converted to A-labels for processing.
  const from = asciiDomain(input.fromDomain);
  if (from === null) {
    return {
      result: "permerror",
      disposition: "none",
      reason: `From domain is not a valid domain name: ${JSON.stringify(input.fromDomain)}`,
    };
  }
  const org = organizationalDomain(from);

  // RFC 7489 §6.6.2 step 2: policy discovery; without a record DMARC does not apply.
  const found = await discover(from, org, opts.resolver);
  if (found.kind === "temperror") {
    return { result: "temperror", disposition: "none", reason: found.reason };
  }
  if (found.kind === "none") return { result: "none", disposition: "none", reason: found.reason };
  const { record, domain: policyDomain } = found;

  // RFC 7489 §6.6.3 step 6: no valid p= (or an invalid sp=): with a valid rua= URI act as if
  // "p=none" had been published; otherwise apply no DMARC processing.
  let p = record.p;
  let sp = record.sp;
  let note = "";
  if (p === null || record.invalidTags.includes("sp")) {
    const what = p === null ? "no valid p=" : "invalid sp=";
    if (record.rua.length === 0) {
      return {
        result: "none",
        disposition: "none",
        reason: `record at _dmarc.${policyDomain} has ${what} and no valid rua=`,
      };
    }
    p = "none";
    sp = null;
    note = ` (${what} with rua=: treated as p=none)`;
  }
  // RFC 7489 §6.3 "sp": the policy for subdomains of the domain that publishes it. A record
  // found at the From domain itself is that domain's own, so only "p" applies ("sp" is
  // ignored for records published on subdomains, and for the Organizational Domain's own
  // mail); sp= counts only when the record came from the Organizational Domain fallback.
  const subdomain = found.atOrg && from !== org;
  const policy: DmarcPolicy = subdomain ? sp ?? p : p;
  const base = { policy, policyDomain, pct: record.pct, record };

  // RFC 7489 §6.6.2 step 5, §4.2: pass when at least one mechanism passes with an aligned
  // identifier.
  const alignedDkim = input.dkim.find((sig) =>
    isPass(sig.result) && aligned(sig.domain, from, record.adkim)
  );
  if (alignedDkim) {
    return {
      result: "pass",
      ...base,
      disposition: "none",
      alignedBy: "dkim",
      reason: `DKIM d=${alignedDkim.domain} passes and is aligned${note}`,
    };
  }
  // RFC 7489 §3.1.2, §4.2: only an SPF "pass" counts (not softfail or neutral).
  const spf = input.spf;
  if (spf && isPass(spf.result) && aligned(spf.domain, from, record.aspf)) {
    return {
      result: "pass",
      ...base,
      disposition: "none",
      alignedBy: "spf",
      reason: `SPF for ${spf.domain} passes and is aligned${note}`,
    };
  }

  // RFC 7489 §6.6.2 step 6 and §6.6.4: apply the policy to pct% of failing mail; the rest get
  // the next-lower policy ("reject" becomes "quarantine", "quarantine" becomes "none").
  const selected = policy === "none" || sampled(record.pct, opts.random ?? Math.random);
  const disposition: DmarcPolicy = selected ? policy : policy === "reject" ? "quarantine" : "none";
  const why = failureReason(input, from, record);
  return {
    result: "fail",
    ...base,
    disposition,
    ...(selected ? {} : { sampledOut: true }),
    reason: `${why}; policy ${policy} from _dmarc.${policyDomain}` +
      (selected ? "" : ` not applied (pct=${record.pct}), ${disposition} instead`) + note,
  };
}

/**
 * RFC 7489 §6.6.3 policy discovery: `_dmarc.<From domain>`, and only when that holds no
 * DMARC record, `_dmarc.<Organizational Domain>`. Names in between are never queried (no tree
 * walk).
 */
async function discover(from: string, org: string, resolver: Resolver): Promise<Found> {
  // Step 1: query the From domain; step 2: discard records not starting with v=DMARC1.
  let at = await lookup(from, resolver);
  let domain = from;
  if (at.kind === "temperror") return at;
  // Step 3: if the set is now empty, query the Organizational Domain "(if different)";
  // step 4: discard non-DMARC records again.
  if (at.records.length === 0 && org !== from) {
    at = await lookup(org, resolver);
    domain = org;
    if (at.kind === "temperror") return at;
  }
  // Step 5: "If the remaining set contains multiple records or no records, policy discovery
  // terminates and DMARC processing is not applied to this message."
  if (at.records.length === 0) {
    const where = domain === from ? `_dmarc.${from}` : `_dmarc.${from} or _dmarc.${org}`;
    return { kind: "none", reason: `no DMARC record at ${where}` };
  }
  if (at.records.length > 1) {
    return { kind: "none", reason: `${at.records.length} DMARC records at _dmarc.${domain}` };
  }
  return { kind: "record", record: at.records[0]!, domain, atOrg: domain !== from };
}

/** The DMARC records at `_dmarc.<domain>`; NXDOMAIN and NODATA are an empty set. */
async function lookup(domain: string, resolver: Resolver): Promise<Lookup> {
  const name = `_dmarc.${domain}`;
  const answer = await resolver.lookup(name, "TXT");
  // RFC 7489 §6.6.3: DNS errors are left to the receiver; we report temperror so the
  // caller can defer, and do not fall back to the Organizational Domain on a failed lookup.
  if (answer.kind === "temporary") {
    return { kind: "temperror", reason: `DNS lookup of ${name} TXT failed: ${answer.reason}` };
  }
  // RFC 7489 §6.1: the character-strings of one TXT record are joined (the resolver does it).
  const texts = answer.kind === "ok" ? answer.records : [];
  const records = texts.map(parseDmarcRecord).filter((r): r is DmarcRecord => r !== null);
  return { kind: "ok", records };
}

function isPass(result: string): boolean {
  return result.trim().toLowerCase() === "pass";
}

/**
 * RFC 7489 §3.1.1 (DKIM) and §3.1.2 (SPF) identifier alignment of `domain` with the From
 * domain `from` (A-labels; also used for the verdicts of aggregate reports): strict mode needs the same name, relaxed mode the same
 * Organizational Domain. Names compare case-insensitively.
 */
export function aligned(domain: string, from: string, mode: AlignmentMode): boolean {
  const d = asciiDomain(domain);
  if (d === null) return false;
  if (mode === "s") return d === from;
  return organizationalDomain(d) === organizationalDomain(from);
}

/**
 * RFC 7489 §6.6.4 message sampling, with the selection of §6.3 "pct":
 * `selected = (random mod 100) < pct`.
 */
function sampled(pct: number, random: () => number): boolean {
  if (pct >= 100) return true;
  if (pct <= 0) return false;
  return Math.floor(random() * 100) < pct;
}

/** Why a message failed: nothing passed, or what passed was not aligned. */
function failureReason(input: DmarcInput, from: string, record: DmarcRecord): string {
  const passing = [
    ...input.dkim.filter((s) => isPass(s.result)).map((s) => `DKIM d=${s.domain}`),
    ...(input.spf && isPass(input.spf.result) ? [`SPF ${input.spf.domain}`] : []),
  ];
  if (passing.length === 0) return "neither SPF nor DKIM passes";
  const modes = `adkim=${record.adkim}, aspf=${record.aspf}`;
  return `${passing.join(", ")} passes but is not aligned with ${from} (${modes})`;
}
