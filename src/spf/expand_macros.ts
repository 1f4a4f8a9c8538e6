/**
 * SPF macro expansion (RFC 7208 §7): the %{...} letters of domain specs and explanations,
 * with their transformers (digits, "r", delimiters), URL escaping for upper-case letters and
 * the 253-character cut of expanded domain names.
 *
 * @module
 */

import { isIPv4 } from "node:net";
import { expandIPv6 } from "../dns/resolver.ts";
import { type Context, perm, validatedNames } from "./_context.ts";
import type { SpfOptions } from "./spf.ts";

/** Expand a domain-spec into a lower-case domain name without a trailing dot (RFC 7208 §7.3). */
export async function expandDomain(ctx: Context, spec: string, domain: string): Promise<string> {
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
export async function expandMacros(
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
