/**
 * The SPF record parser (RFC 7208 §4.6.1, §12 ABNF): a "v=spf1" TXT string becomes its
 * mechanisms, with qualifiers and CIDR lengths, and its redirect= and exp= modifiers. Domain
 * specs and macro strings are checked for syntax here (RFC 7208 §7.1) and expanded later, at
 * evaluation. Any syntax error is a permerror.
 *
 * @module
 */

import { isIPv6 } from "node:net";
import { perm } from "./_context.ts";
import type { SpfResult } from "./spf.ts";

const QUALIFIERS: Record<string, SpfResult> = {
  "+": "pass",
  "-": "fail",
  "~": "softfail",
  "?": "neutral",
};

/** One mechanism of a record (RFC 7208 §5). */
export interface Mechanism {
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

/** A parsed record: its mechanisms in order and its known modifiers (RFC 7208 §6). */
export interface SpfRecord {
  mechanisms: Mechanism[];
  redirect?: string;
  exp?: string;
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

/** Parse an SPF record (RFC 7208 §4.6.1, §12 ABNF). @throws SpfAbort permerror. */
export function parseRecord(text: string): SpfRecord {
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
      if (rest !== "") setDomainSpec(mech, rest, term);
      return mech;
    }
    case "ptr":
      mech.kind = "ptr";
      if (rest !== "") setDomainSpec(mech, rest, term);
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

// The optional ":" domain-spec of a, mx and ptr (RFC 7208 §5.3, §5.4, §5.5).
function setDomainSpec(mech: Mechanism, rest: string, term: string): void {
  if (!rest.startsWith(":") || rest.length === 1) throw perm(`invalid term "${term}"`);
  mech.domainSpec = rest.slice(1);
  checkMacroString(mech.domainSpec);
  checkDomainSpec(mech.domainSpec);
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
