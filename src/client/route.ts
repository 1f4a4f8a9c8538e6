/**
 * Where mail for a domain goes (RFC 5321 §5.1): the MX hosts by preference (in random order
 * among equal preferences), or the domain itself when it has no MX ("implicit MX"), never
 * anything for a null MX (RFC 7505). Each host's IPv6 addresses come before its IPv4 ones.
 *
 * Outcomes are kept apart as the queue needs them: a permanent answer (NXDOMAIN, null MX, no
 * address anywhere) bounces; any temporary DNS failure is retried later.
 *
 * @module
 */

import type { Resolver } from "../dns/resolver.ts";
import { isIP } from "node:net";

/** One host to try and its addresses, in order. */
export interface Hop {
  /** The host name (for TLS SNI, logs and Remote-MTA), or the IP itself. */
  name: string;
  addresses: string[];
}

/** The destinations of a domain. */
export type Destination =
  | { kind: "ok"; hops: Hop[] }
  | { kind: "permanent"; reason: string; status: string }
  | { kind: "temporary"; reason: string };

function shuffle<T>(list: T[], random: () => number): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}

/**
 * The addresses of a host: AAAA first, then A (IPv6 preferred when the host has it).
 * Returns a temporary result only when no address was found and a lookup failed.
 */
export async function hostAddresses(
  resolver: Resolver,
  host: string,
): Promise<
  { kind: "ok"; addresses: string[] } | { kind: "none" } | { kind: "temporary"; reason: string }
> {
  if (isIP(host)) return { kind: "ok", addresses: [host] };
  const [v6, v4] = await Promise.all([
    resolver.lookup(host, "AAAA"),
    resolver.lookup(host, "A"),
  ]);
  const addresses = [
    ...(v6.kind === "ok" ? v6.records : []),
    ...(v4.kind === "ok" ? v4.records : []),
  ];
  if (addresses.length > 0) return { kind: "ok", addresses };
  if (v6.kind === "temporary" || v4.kind === "temporary") {
    return {
      kind: "temporary",
      reason: `address lookup of ${host} failed: ${
        v6.kind === "temporary" ? v6.reason : (v4 as { reason: string }).reason
      }`,
    };
  }
  return { kind: "none" };
}

/**
 * Resolve a recipient domain (or an address literal "[ip]") to the hosts to try.
 *
 * @param random for the order among equal MX preferences (tests pass a fixed one).
 */
export async function resolveDestination(
  resolver: Resolver,
  domain: string,
  random: () => number = Math.random,
): Promise<Destination> {
  const literal = /^\[(?:ipv6:)?(.+)\]$/i.exec(domain);
  if (literal) return { kind: "ok", hops: [{ name: literal[1]!, addresses: [literal[1]!] }] };

  const mx = await resolver.lookup(domain, "MX");
  if (mx.kind === "temporary") return { kind: "temporary", reason: `MX lookup: ${mx.reason}` };
  if (mx.kind === "nxdomain") {
    return { kind: "permanent", reason: `domain ${domain} does not exist`, status: "5.1.2" };
  }
  let names: string[];
  if (mx.kind === "ok" && mx.records.length > 0) {
    // RFC 7505 §3: a single MX with an empty exchange ("." ) means "no mail here".
    if (mx.records.some((r) => r.exchange === "")) {
      return {
        kind: "permanent",
        reason: `domain ${domain} does not accept mail (null MX, RFC 7505)`,
        status: "5.1.10",
      };
    }
    // RFC 5321 §5.1: by preference, random among equals.
    const byPref = new Map<number, string[]>();
    for (const r of mx.records) {
      const list = byPref.get(r.preference) ?? [];
      list.push(r.exchange);
      byPref.set(r.preference, list);
    }
    names = [...byPref.keys()].sort((a, b) => a - b).flatMap((p) =>
      shuffle(byPref.get(p)!, random)
    );
  } else {
    // RFC 5321 §5.1: no MX records: the domain itself is the implicit MX.
    names = [domain];
  }
  const hops: Hop[] = [];
  let temporary: string | undefined;
  for (const name of names) {
    const a = await hostAddresses(resolver, name);
    if (a.kind === "ok") hops.push({ name, addresses: a.addresses });
    else if (a.kind === "temporary") temporary ??= a.reason;
  }
  if (hops.length > 0) return { kind: "ok", hops };
  if (temporary) return { kind: "temporary", reason: temporary };
  return {
    kind: "permanent",
    reason: `no address for the mail hosts of ${domain} (${names.join(", ")})`,
    status: "5.4.4",
  };
}
