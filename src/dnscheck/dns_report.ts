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
import {
  clientRecords,
  formatZone,
  hostRecords,
  type RecommendedRecord,
  recommendedRecords,
} from "./records.ts";

/** One block of records: a domain's, or the server hostname's. */
export interface RecordSet {
  /** The local domain, or the hostname for the server's own records. */
  name: string;
  kind: "domain" | "host";
  notes: string[];
  records: RecommendedRecord[];
}

/**
 * The records to publish for `domains` (each one of `config.domains`) and for the hostname,
 * as `postie dns` and the admin page show them.
 */
export async function dnsRecordSets(
  config: Config,
  domains: readonly string[],
): Promise<RecordSet[]> {
  const sets: RecordSet[] = [];
  for (const d of domains) {
    const keys = await loadOrCreateDomainKeys(config.dataDir, d);
    const notes = config.outbound.sourceIpv4 || config.outbound.sourceIpv6 ? [] : [
      "Set outbound.source_ipv4 / source_ipv6 in the config to your server's public",
      "addresses to get the A/AAAA, PTR and SPF ip4:/ip6: records too.",
    ];
    const records = [...recommendedRecords(config, d, keys), ...clientRecords(config, d)];
    sets.push({ name: d, kind: "domain", notes, records });
  }
  const pinned = await pinnedKey(config);
  const account = config.acme ? await readAcmeAccount(config.dataDir) : undefined;
  const host = hostRecords(config, {
    ...(pinned ? { pinned } : {}),
    ...(account ? { account } : {}),
  });
  sets.push({ name: config.hostname, kind: "host", notes: host.notes, records: host.records });
  return sets;
}

/**
 * The zone text for `domains` (each one of `config.domains`) and the hostname.
 *
 * @example
 * ```ts
 * console.log(await dnsReport(config, config.domains));
 * ```
 */
export async function dnsReport(config: Config, domains: readonly string[]): Promise<string> {
  return (await dnsRecordSets(config, domains)).map((set) =>
    formatZone(
      set.records,
      set.kind === "domain" ? [`Records for ${set.name}`, ...set.notes] : [
        `Records for the server ${set.name} (once, whatever the number of domains)`,
        ...set.notes,
      ],
    )
  ).join("\n\n");
}
