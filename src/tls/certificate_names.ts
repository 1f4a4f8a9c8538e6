/**
 * The names an ACME order asks for: the hostname (what MX records, SMTP peers and mail clients
 * use), the extra `acme.names`, and `autoconfig.<domain>` for each local domain whose name
 * resolves, when postie serves autoconfig (an HTTP or HTTPS listener is configured). A name
 * that does not resolve is left out rather than failing the whole order: its CNAME can be
 * published later and is then taken at the next renewal.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { Resolver } from "../dns/resolver.ts";

async function resolves(resolver: Resolver, name: string): Promise<boolean> {
  for (const type of ["A", "AAAA"] as const) {
    const r = await resolver.lookup(name, type);
    if (r.kind === "ok" && r.records.length > 0) return true;
  }
  return false;
}

/** The names for the certificate, the hostname first, each once. */
export async function certificateNames(
  config: Pick<Config, "hostname" | "acme" | "domains" | "listen">,
  resolver: Resolver,
): Promise<string[]> {
  const names = [config.hostname, ...(config.acme?.names ?? [])];
  if (config.listen.http.length > 0 || config.listen.https.length > 0) {
    for (const d of config.domains) {
      const name = `autoconfig.${d}`;
      if (await resolves(resolver, name)) names.push(name);
    }
  }
  return [...new Set(names)];
}
