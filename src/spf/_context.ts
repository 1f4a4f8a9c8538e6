/**
 * The state of one SPF evaluation and the DNS steps every part of it shares: the abort that
 * ends it with permerror or temperror, the RFC 7208 §4.6.4 counters of DNS-querying terms and
 * void lookups, and the validated names of the client (RFC 7208 §5.5), used by "ptr" and by the
 * %{p} macro. Private to src/spf.
 *
 * @module
 */

import { isVoid, reverseName } from "../dns/resolver.ts";
import { sameIp } from "../net/cidr.ts";
import type { SpfOptions } from "./spf.ts";

/** An evaluation-ending condition (permerror / temperror). */
export class SpfAbort extends Error {
  constructor(readonly result: "permerror" | "temperror", reason: string) {
    super(reason);
  }
}

/** A permerror abort with `reason`, to throw. */
export const perm = (reason: string) => new SpfAbort("permerror", reason);

/** One check_host() evaluation, include and redirect levels included. */
export interface Context {
  ip: string;
  /** True for IPv4 (including IPv4-mapped IPv6 addresses, RFC 7208 §5). */
  v4: boolean;
  sender: string;
  opts: SpfOptions;
  dnsTerms: number;
  voidLookups: number;
}

/** Count one DNS-querying term (RFC 7208 §4.6.4). @throws SpfAbort permerror past the limit. */
export function countDnsTerm(ctx: Context): void {
  ctx.dnsTerms++;
  if (ctx.dnsTerms > (ctx.opts.maxDnsTerms ?? 10)) {
    throw perm("more than 10 DNS-querying terms (RFC 7208 4.6.4)");
  }
}

// A lookup whose temporary failure ends the evaluation with temperror, and whose emptiness
// counts as a void lookup (RFC 7208 §4.6.4).
export async function lookupCounted<T extends "A" | "AAAA" | "MX" | "PTR">(
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

// RFC 7208 §5.5: names from the PTR lookup of the client IP that resolve back to it and equal
// or end in `target`. DNS errors here mean "no match", never temperror. Without a target
// (for %{p}) every validated name is returned.
export async function validatedNames(ctx: Context, target: string | null): Promise<string[]> {
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
