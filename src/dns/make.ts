/**
 * Build the server's resolver from the `dns` config section.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { Resolver } from "./resolver.ts";
import { StubResolver, systemNameservers } from "./stub_resolver.ts";
import { DenoResolver } from "./deno_resolver.ts";

/**
 * The resolver `dns.backend` asks for, on `dns.nameservers` or those of resolv.conf;
 * `onTemporary` hears of each lookup that failed temporarily (SERVFAIL, timeout...).
 */
export async function makeResolver(
  dns: Config["dns"],
  hooks: { onTemporary?: (reason: string) => void } = {},
): Promise<Resolver> {
  const nameservers = dns.nameservers.length > 0 ? dns.nameservers : await systemNameservers();
  const on = hooks.onTemporary ? { onTemporary: hooks.onTemporary } : {};
  if (dns.backend === "deno") return new DenoResolver({ nameservers, ...on });
  return new StubResolver({
    nameservers,
    timeoutMs: dns.timeoutMs,
    attempts: dns.attempts,
    cacheSize: dns.cacheSize,
    ...on,
  });
}
