/**
 * `postie check`: the live DNS, read through postie's own resolver, compared with what the
 * domain needs. Each record is OK, MISSING or WRONG (with what it should be); DNS trouble is
 * ERROR, never mistaken for an absence. Also: forward-confirmed reverse DNS of our addresses,
 * and whether they are listed on DNS blocklists (RFC 5782). WARN (from the certificate
 * section, ./check_certificate.ts) points at something to do soon but is not a failure.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import { type DnsResult, type Resolver, reverseName } from "../dns/resolver.ts";
import { checkHost } from "../spf/spf.ts";
import { ourAddresses, type PublishedKey, recommendedRecords } from "./records.ts";

/** One line of the report. */
export interface CheckItem {
  what: string;
  status: "OK" | "WARN" | "MISSING" | "WRONG" | "ERROR";
  detail: string;
  /** What the record should be, for MISSING and WRONG. */
  expected?: string;
}

/** Options for {@link checkDomain}. */
export interface CheckOptions {
  resolver: Resolver;
  keys: readonly PublishedKey[];
  /** DNS blocklist zones to look our addresses up in. */
  dnsbl: readonly string[];
}

function trouble<T>(r: DnsResult<T>): string | undefined {
  return r.kind === "temporary" ? `DNS error: ${r.reason}` : undefined;
}

// RFC 5782 §2.1 (IPv4: reversed octets) and §2.4 (IPv6: reversed nibbles).
function dnsblName(ip: string, zone: string): string {
  return reverseName(ip).replace(/\.(in-addr|ip6)\.arpa$/, "") + "." + zone;
}

function tags(record: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of record.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) {
      m.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ""));
    }
  }
  return m;
}

/** Check everything `domain` needs; the report has one item per aspect. */
export async function checkDomain(
  config: Pick<Config, "hostname" | "outbound">,
  domain: string,
  opts: CheckOptions,
): Promise<CheckItem[]> {
  const { resolver } = opts;
  const host = config.hostname;
  const want = recommendedRecords(config, domain, opts.keys);
  const expect = (type: string, name: string) =>
    want.find((r) => r.type === type && r.name === name)?.value;
  const items: CheckItem[] = [];

  // MX (RFC 5321 §5.1)
  const mx = await resolver.lookup(domain, "MX");
  if (trouble(mx)) items.push({ what: "MX", status: "ERROR", detail: trouble(mx)! });
  else if (mx.kind !== "ok") {
    items.push({
      what: "MX",
      status: "MISSING",
      detail: `no MX for ${domain}`,
      expected: `10 ${host}.`,
    });
  } else if (!mx.records.some((r) => r.exchange === host)) {
    items.push({
      what: "MX",
      status: "WRONG",
      detail: `MX points to ${mx.records.map((r) => r.exchange || ".").join(", ")}`,
      expected: `10 ${host}.`,
    });
  } else items.push({ what: "MX", status: "OK", detail: `${domain} -> ${host}` });

  // Addresses of the host name
  const [a4, a6] = await Promise.all([resolver.lookup(host, "A"), resolver.lookup(host, "AAAA")]);
  const found = [...(a4.kind === "ok" ? a4.records : []), ...(a6.kind === "ok" ? a6.records : [])];
  const configured = ourAddresses(config);
  const ours = configured.length > 0 ? configured : found;
  if (trouble(a4) || trouble(a6)) {
    items.push({ what: `A/AAAA ${host}`, status: "ERROR", detail: (trouble(a4) ?? trouble(a6))! });
  } else if (found.length === 0) {
    items.push({
      what: `A/AAAA ${host}`,
      status: "MISSING",
      detail: `${host} has no address`,
      expected: configured.join(", ") || "the server's IPv4/IPv6 address",
    });
  } else if (configured.some((ip) => !found.includes(ip))) {
    items.push({
      what: `A/AAAA ${host}`,
      status: "WRONG",
      detail: `${host} has ${found.join(", ")}`,
      expected: configured.join(", "),
    });
  } else items.push({ what: `A/AAAA ${host}`, status: "OK", detail: found.join(", ") });

  // SPF (RFC 7208): one record, authorizing our addresses, ending in -all or ~all.
  const txt = await resolver.lookup(domain, "TXT");
  const spf = txt.kind === "ok" ? txt.records.filter((t) => /^v=spf1( |$)/i.test(t)) : [];
  const spfWant = expect("TXT", domain);
  if (trouble(txt)) items.push({ what: "SPF", status: "ERROR", detail: trouble(txt)! });
  else if (spf.length === 0) {
    items.push({ what: "SPF", status: "MISSING", detail: "no v=spf1 record", expected: spfWant! });
  } else if (spf.length > 1) {
    items.push({
      what: "SPF",
      status: "WRONG",
      detail: "several SPF records (permerror)",
      expected: spfWant!,
    });
  } else {
    const problems: string[] = [];
    if (!/ [-~]all$/i.test(spf[0]!.trim()) && !/ redirect=/i.test(spf[0]!)) {
      problems.push("does not end in -all or ~all");
    }
    for (const ip of ours) {
      const r = await checkHost(ip, domain, `postmaster@${domain}`, { resolver, helo: host });
      if (r.result !== "pass") problems.push(`${ip} gets ${r.result}`);
    }
    items.push(
      problems.length > 0
        ? {
          what: "SPF",
          status: "WRONG",
          detail: `"${spf[0]}": ${problems.join("; ")}`,
          expected: spfWant!,
        }
        : { what: "SPF", status: "OK", detail: spf[0]! },
    );
  }

  // DKIM (RFC 6376 §3.6): every selector published with our key.
  for (const k of opts.keys) {
    const name = `${k.selector}._domainkey.${domain}`;
    const r = await resolver.lookup(name, "TXT");
    const what = `DKIM ${k.selector}`;
    if (trouble(r)) items.push({ what, status: "ERROR", detail: trouble(r)! });
    else if (r.kind !== "ok" || r.records.length === 0) {
      items.push({ what, status: "MISSING", detail: `no TXT at ${name}`, expected: k.dnsRecord });
    } else if (!r.records.some((t) => tags(t).get("p") === tags(k.dnsRecord).get("p"))) {
      items.push({
        what,
        status: "WRONG",
        detail: `the key at ${name} is not ours`,
        expected: k.dnsRecord,
      });
    } else items.push({ what, status: "OK", detail: name });
  }

  // DMARC (RFC 7489 §6.1, §6.3)
  const dmarcName = `_dmarc.${domain}`;
  const dm = await resolver.lookup(dmarcName, "TXT");
  const dmWant = expect("TXT", dmarcName)!;
  const dmarc = dm.kind === "ok" ? dm.records.filter((t) => /^v=DMARC1\s*(;|$)/.test(t)) : [];
  if (trouble(dm)) items.push({ what: "DMARC", status: "ERROR", detail: trouble(dm)! });
  else if (dmarc.length === 0) {
    items.push({
      what: "DMARC",
      status: "MISSING",
      detail: `no v=DMARC1 at ${dmarcName}`,
      expected: dmWant,
    });
  } else if (
    dmarc.length > 1 || !/^(none|quarantine|reject)$/.test(tags(dmarc[0]!).get("p") ?? "")
  ) {
    items.push({
      what: "DMARC",
      status: "WRONG",
      detail: `"${dmarc.join('", "')}"`,
      expected: dmWant,
    });
  } else {
    const p = tags(dmarc[0]!).get("p");
    items.push({
      what: "DMARC",
      status: "OK",
      detail: dmarc[0]! + (p === "none" ? " (p=none only monitors; move to quarantine)" : ""),
    });
  }

  // Forward-confirmed reverse DNS of each address (the PTR your VPS provider sets).
  for (const ip of ours) {
    const what = `PTR ${ip}`;
    const ptr = await resolver.lookup(reverseName(ip), "PTR");
    if (trouble(ptr)) {
      items.push({ what, status: "ERROR", detail: trouble(ptr)! });
      continue;
    }
    const names = ptr.kind === "ok" ? ptr.records : [];
    if (names.length === 0) {
      items.push({ what, status: "MISSING", detail: "no reverse DNS", expected: `${host}.` });
    } else if (!names.includes(host)) {
      items.push({
        what,
        status: "WRONG",
        detail: `PTR is ${names.join(", ")}`,
        expected: `${host}.`,
      });
    } else if (!found.includes(ip)) {
      items.push({ what, status: "WRONG", detail: `${host} does not resolve back to ${ip}` });
    } else items.push({ what, status: "OK", detail: `${ip} -> ${host} -> ${ip}` });
  }

  items.push(...await checkDnsbl(ours, opts.dnsbl, resolver));
  return items;
}

/**
 * Look `ips` up in the DNS blocklist `zones` (RFC 5782 §5: an A record in 127.0.0.0/8 means
 * "listed"): one item per address and zone, WRONG when listed. `postie check` and the periodic
 * alert (`alerts.dnsbl_interval`) use it.
 */
export async function checkDnsbl(
  ips: readonly string[],
  zones: readonly string[],
  resolver: Resolver,
): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  for (const ip of ips) {
    for (const zone of zones) {
      const what = `DNSBL ${zone} ${ip}`;
      const r = await resolver.lookup(dnsblName(ip, zone), "A");
      if (trouble(r)) items.push({ what, status: "ERROR", detail: trouble(r)! });
      else if (r.kind === "ok" && r.records.some((a) => a.startsWith("127."))) {
        items.push({ what, status: "WRONG", detail: `${ip} is LISTED (${r.records.join(", ")})` });
      } else items.push({ what, status: "OK", detail: "not listed" });
    }
  }
  return items;
}

/** Whether an item counts as a problem (`postie check` exits 1): anything but OK and WARN. */
export function isProblem(item: CheckItem): boolean {
  return item.status !== "OK" && item.status !== "WARN";
}

/** The report as text, one line per item. */
export function formatCheck(items: readonly CheckItem[]): string {
  const w = Math.max(...items.map((i) => i.what.length));
  return items.map((i) =>
    `${i.status.padEnd(7)} ${i.what.padEnd(w)}  ${i.detail}` +
    (i.expected ? `\n${" ".repeat(8 + w + 2)}should be: ${i.expected}` : "")
  ).join("\n");
}
