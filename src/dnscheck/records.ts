/**
 * The DNS records a domain served by postie needs, ready to paste into a zone file, each with
 * one line of explanation (`postie dns`).
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import { reverseName } from "../dns/resolver.ts";

/** One record to publish. */
export interface RecommendedRecord {
  /** Owner name, absolute without the trailing dot. */
  name: string;
  type: "MX" | "A" | "AAAA" | "TXT" | "PTR";
  /** The RDATA as it appears in a zone file (TXT without quotes; see formatZone). */
  value: string;
  explanation: string;
}

/** A DKIM public key to publish. */
export interface PublishedKey {
  selector: string;
  dnsRecord: string;
}

/** The server's own addresses: configured source addresses (what receivers see). */
export function ourAddresses(config: Pick<Config, "outbound">): string[] {
  return [config.outbound.sourceIpv4, config.outbound.sourceIpv6].filter((a): a is string =>
    a !== undefined
  );
}

/** Every record `domain` needs (RFC 5321 §5.1 MX, RFC 7208 SPF, RFC 6376 DKIM, RFC 7489). */
export function recommendedRecords(
  config: Pick<Config, "hostname" | "outbound">,
  domain: string,
  keys: readonly PublishedKey[],
): RecommendedRecord[] {
  const host = config.hostname;
  const ips = ourAddresses(config);
  const out: RecommendedRecord[] = [
    {
      name: domain,
      type: "MX",
      value: `10 ${host}.`,
      explanation: `Mail for ${domain} is delivered to this server (${host}).`,
    },
  ];
  for (const ip of ips) {
    out.push({
      name: host,
      type: ip.includes(":") ? "AAAA" : "A",
      value: ip,
      explanation: `The address of ${host}; senders connect to it.`,
    });
  }
  const spfIps = ips.map((ip) => (ip.includes(":") ? `ip6:${ip}` : `ip4:${ip}`));
  out.push({
    name: domain,
    type: "TXT",
    value: ["v=spf1", ...spfIps, "mx", "-all"].join(" "),
    explanation: "SPF: only this server may send mail as @" + domain +
      "; everything else fails (-all).",
  });
  for (const k of keys) {
    out.push({
      name: `${k.selector}._domainkey.${domain}`,
      type: "TXT",
      value: k.dnsRecord,
      explanation: `DKIM public key "${k.selector}": receivers verify postie's signatures with it.`,
    });
  }
  out.push({
    name: `_dmarc.${domain}`,
    type: "TXT",
    value: `v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@${domain}`,
    explanation: "DMARC: mail failing SPF and DKIM alignment goes to spam. After a few weeks " +
      "of clean reports to postmaster, change p=quarantine to p=reject.",
  });
  for (const ip of ips) {
    out.push({
      name: reverseName(ip),
      type: "PTR",
      value: `${host}.`,
      explanation: `Reverse DNS of ${ip}: set it at your VPS provider (not in your zone); ` +
        "receivers refuse mail from addresses whose PTR does not match the EHLO name.",
    });
  }
  return out;
}

/** Split a TXT value into quoted character-strings of at most 255 octets (RFC 1035 §3.3). */
export function quoteTxt(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(value.slice(i, i + 255));
  return parts.map((p) => `"${p.replace(/(["\\])/g, "\\$1")}"`).join(" ");
}

/** Zone-file text: a comment line, then the record, for each. */
export function formatZone(records: readonly RecommendedRecord[], notes: string[] = []): string {
  const lines: string[] = notes.map((n) => `; ${n}`);
  for (const r of records) {
    lines.push(`; ${r.explanation}`);
    const value = r.type === "TXT" ? quoteTxt(r.value) : r.value;
    lines.push(`${r.name}. 3600 IN ${r.type} ${value}`);
  }
  return lines.join("\n");
}
