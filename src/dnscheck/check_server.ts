/**
 * The whole `postie check`: the live DNS of each local domain asked for (./check.ts) and the
 * certificate served (./check_certificate.ts), as the CLI prints it and the admin page shows
 * it. The domains' DKIM keys are read from disk (made when missing).
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { Resolver } from "../dns/resolver.ts";
import { loadOrCreateDomainKeys } from "../dkim/mod.ts";
import { checkDomain, type CheckItem, isProblem } from "./check.ts";
import { checkCertificate } from "./check_certificate.ts";

/** The result of {@link checkServer}. */
export interface ServerCheck {
  domains: { domain: string; items: CheckItem[] }[];
  certificate: CheckItem[];
}

/** Check `domains` (local domains of `config`) through `resolver`, then the certificate. */
export async function checkServer(
  config: Config,
  domains: readonly string[],
  resolver: Resolver,
  now: Date = new Date(),
): Promise<ServerCheck> {
  const out: ServerCheck["domains"] = [];
  for (const domain of domains) {
    const keys = await loadOrCreateDomainKeys(config.dataDir, domain);
    const items = await checkDomain(config, domain, { resolver, keys, dnsbl: config.check.dnsbl });
    out.push({ domain, items });
  }
  return { domains: out, certificate: await checkCertificate(config, { now }) };
}

/** How many items of a check are problems (not OK, not WARN). */
export function countProblems(check: ServerCheck): number {
  return [...check.domains.flatMap((d) => d.items), ...check.certificate].filter(isProblem)
    .length;
}
