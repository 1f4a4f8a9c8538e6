/**
 * The text `postie dns` prints (and `postie quickstart` after it): for each domain its zone
 * records with explanations, then the records of the server's hostname, read from the keys
 * on disk (DKIM keys, created when missing; the certificate key; the ACME account).
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import { loadOrCreateDomainKeys } from "../dkim/mod.ts";
import { readAcmeAccount } from "../acme/acme_state.ts";
import { pinnedKey } from "../tls/served_certificate.ts";
import { clientRecords, formatZone, hostRecords, recommendedRecords } from "./records.ts";

/**
 * The zone text for `domains` (each one of `config.domains`) and the hostname.
 *
 * @example
 * ```ts
 * console.log(await dnsReport(config, config.domains));
 * ```
 */
export async function dnsReport(config: Config, domains: readonly string[]): Promise<string> {
  const blocks: string[] = [];
  for (const d of domains) {
    const keys = await loadOrCreateDomainKeys(config.dataDir, d);
    const notes = config.outbound.sourceIpv4 || config.outbound.sourceIpv6 ? [] : [
      "Set outbound.source_ipv4 / source_ipv6 in the config to your server's public",
      "addresses to get the A/AAAA, PTR and SPF ip4:/ip6: records too.",
    ];
    const records = [...recommendedRecords(config, d, keys), ...clientRecords(config, d)];
    blocks.push(formatZone(records, [`Records for ${d}`, ...notes]));
  }
  const pinned = await pinnedKey(config);
  const account = config.acme ? await readAcmeAccount(config.dataDir) : undefined;
  const host = hostRecords(config, {
    ...(pinned ? { pinned } : {}),
    ...(account ? { account } : {}),
  });
  blocks.push(
    formatZone(host.records, [
      `Records for the server ${config.hostname} (once, whatever the number of domains)`,
      ...host.notes,
    ]),
  );
  return blocks.join("\n\n");
}
