/**
 * The DNS records a domain served by postie needs, ready to paste into a zone file, each with
 * one line of explanation (`postie dns`): per domain MX, SPF, DKIM, DMARC and PTR
 * ({@linkcode recommendedRecords}), the SRV records and autoconfig names mail clients set
 * themselves up with ({@linkcode clientRecords}), and once for the server's hostname TLSA and
 * CAA ({@linkcode hostRecords}).
 *
 * @module
 */

import type { Config, ListenAddress } from "../config/config.ts";
import { reverseName } from "../dns/resolver.ts";
import { organizationalDomain } from "../dmarc/organizational_domain.ts";
import { AcmeAccountRecord } from "../acme/acme_state.ts";
import type { PinnedKey } from "../tls/served_certificate.ts";

/** One record to publish. */
export interface RecommendedRecord {
  /** Owner name, absolute without the trailing dot. */
  name: string;
  type: "MX" | "A" | "AAAA" | "TXT" | "PTR" | "TLSA" | "CAA" | "SRV" | "CNAME";
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
  config: Pick<Config, "hostname" | "outbound"> & Partial<Pick<Config, "reports">>,
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
  // Aggregate reports (RFC 7489 §7.2) come to reports.address, which postie reads itself
  // (`postie reports dmarc`).
  const rua = config.reports?.address ?? `postmaster@${domain}`;
  const ruaDomain = rua.slice(rua.lastIndexOf("@") + 1);
  out.push({
    name: `_dmarc.${domain}`,
    type: "TXT",
    value: `v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:${rua}`,
    explanation: "DMARC: mail failing SPF and DKIM alignment goes to spam. Receivers send " +
      `daily reports to ${rua} (postie reports dmarc shows them); after a few weeks of clean ` +
      "reports, change p=quarantine to p=reject.",
  });
  if (organizationalDomain(ruaDomain) !== organizationalDomain(domain)) {
    // RFC 7489 §7.1: the report domain must agree to get reports about another domain.
    out.push({
      name: `${domain}._report._dmarc.${ruaDomain}`,
      type: "TXT",
      value: "v=DMARC1",
      explanation: `${ruaDomain} accepts DMARC reports about ${domain} (RFC 7489 7.1); ` +
        "without it receivers send none.",
    });
  }
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

/**
 * The SRV records of RFC 6186 §3 for `domain`, implicit TLS preferred over STARTTLS (RFC 8314
 * §5.1: lower priority value), and, when postie serves HTTP, the autoconfig and autodiscover
 * names as CNAMEs to the hostname.
 */
export function clientRecords(
  config: Pick<Config, "hostname" | "listen">,
  domain: string,
): RecommendedRecord[] {
  const host = config.hostname;
  const srv = (
    service: string,
    priority: number,
    addresses: readonly ListenAddress[],
    what: string,
  ): RecommendedRecord => {
    const port = addresses[0]?.port;
    return {
      name: `_${service}._tcp.${domain}`,
      type: "SRV",
      // RFC 2782: the target "." says the service is decidedly not available.
      value: port === undefined ? "0 0 0 ." : `${priority} 1 ${port} ${host}.`,
      explanation: port === undefined
        ? `${what}: not offered (listen.${service} is empty), so clients do not try it.`
        : `${what} for @${domain} is at ${host}:${port}; mail clients find it here ` +
          `(RFC 6186${priority === 0 ? ", RFC 8314 §5.1: preferred" : ", after the TLS one"}).`,
    };
  };
  const out = [
    srv("submissions", 0, config.listen.submissions, "Submission over TLS"),
    srv("imaps", 0, config.listen.imaps, "IMAP over TLS"),
    srv("submission", 10, config.listen.submission, "Submission with STARTTLS"),
    srv("imap", 10, config.listen.imap, "IMAP with STARTTLS"),
  ];
  const https = config.listen.https.length > 0;
  if (config.listen.http.length > 0 || https) {
    out.push({
      name: `autoconfig.${domain}`,
      type: "CNAME",
      value: `${host}.`,
      explanation: "Thunderbird's autoconfig: postie answers it on listen.http/listen.https " +
        "with the settings above (and the ACME certificate then covers this name).",
    }, {
      name: `autodiscover.${domain}`,
      type: "CNAME",
      value: `${host}.`,
      explanation: "Outlook's autodiscover, which asks over HTTPS only: useful with listen.https" +
        (https ? "." : " (empty in this config, so not yet)."),
    });
  }
  return out;
}

/** A CA's CAA issuer domain (RFC 8659 §4.2), by the host of its ACME directory URL. */
const CAA_ISSUERS: Record<string, string> = {
  "acme-v02.api.letsencrypt.org": "letsencrypt.org",
  "acme-staging-v02.api.letsencrypt.org": "letsencrypt.org",
};

/**
 * The issuer domain that a CAA `issue` property names for the CA of an ACME directory.
 *
 * @returns undefined for a CA postie does not know.
 */
export function caaIssuerDomain(directory: string): string | undefined {
  try {
    return CAA_ISSUERS[new URL(directory).hostname.toLowerCase()];
  } catch {
    return undefined;
  }
}

/**
 * `TLSA 3 1 1` (RFC 6698 §2.1: usage 3 DANE-EE, selector 1 SubjectPublicKeyInfo, matching
 * type 1 SHA-256; the form RFC 7671 §5.1 recommends) for `port` of `hostname`.
 */
export function tlsaRecord(hostname: string, spkiSha256: string, port = 25): RecommendedRecord {
  return {
    name: `_${port}._tcp.${hostname}`,
    type: "TLSA",
    value: `3 1 1 ${spkiSha256.toLowerCase()}`,
    explanation: "DANE (RFC 7672): senders that validate DNSSEC check that port " +
      `${port} presents this key (RFC 7671). Only helps in a DNSSEC-signed zone; ignored ` +
      "without DNSSEC. The same record at _465._tcp and _993._tcp is optional.",
  };
}

/** What a CAA record allows. */
export interface CaaOptions {
  /** The CA's issuer domain, e.g. "letsencrypt.org". */
  issuer: string;
  /** The ACME challenge type allowed (RFC 8657 §4 validationmethods). */
  challenge: string;
  /** The ACME account URL (RFC 8657 §3 accounturi); none before the account exists. */
  accountUrl?: string;
}

/** `0 issue "<issuer>; accounturi=<url>; validationmethods=<challenge>"` at `name` (RFC 8659). */
export function caaRecord(name: string, opts: CaaOptions): RecommendedRecord {
  // RFC 8659 §4.2: issuer-domain-name *WSP ";" *WSP parameters, each "tag=value".
  const params = [
    ...(opts.accountUrl ? [`accounturi=${opts.accountUrl}`] : []),
    `validationmethods=${opts.challenge}`,
  ];
  return {
    name,
    type: "CAA",
    value: `0 issue "${[opts.issuer, ...params].join("; ")}"`,
    explanation: `CAA (RFC 8659): only ${opts.issuer} may issue certificates for ${name}` +
      (opts.accountUrl ? ", only to postie's ACME account (RFC 8657 §3)" : "") +
      `, only through ${opts.challenge} (RFC 8657 §4). The autoconfig names are CNAMEs to ` +
      `${name}, so this covers them (a CAA cannot sit beside a CNAME). Not on the bare ` +
      "domain: there it would also bind your web server's certificates.",
  };
}

/** What {@linkcode hostRecords} is computed from (read from disk by the caller). */
export interface HostRecordInputs {
  /** The key the served certificate has (or will have, with acme): {@linkcode pinnedKey}. */
  pinned?: Pick<PinnedKey, "spkiSha256" | "source">;
  /** `<data_dir>/acme/account.json`, once the account exists. */
  account?: AcmeAccountRecord;
}

/** The records of the server's hostname (once, whatever the number of domains), with notes. */
export function hostRecords(
  config: Pick<Config, "hostname" | "domains" | "acme">,
  inputs: HostRecordInputs,
): { records: RecommendedRecord[]; notes: string[] } {
  const host = config.hostname;
  const records: RecommendedRecord[] = [];
  const notes: string[] = [];
  const { pinned, account } = inputs;
  if (!pinned) {
    notes.push(
      config.acme
        ? "TLSA: comes once the certificate key exists (postie quickstart or the first start " +
          "of postie make it)."
        : "TLSA: comes after the first start of postie (it generates the self-signed key).",
    );
  } else if (config.acme?.rotateKey) {
    notes.push(
      "TLSA: none, as acme.rotate_key is on: the key changes at every renewal, and a stale " +
        "TLSA record makes DANE senders refuse to deliver. Turn it off to publish one.",
    );
  } else {
    const r = tlsaRecord(host, pinned.spkiSha256);
    if (pinned.source === "self_signed") {
      r.explanation += " This is the self-signed key: update the record when you change it.";
    } else if (pinned.source === "tls_files") {
      r.explanation += " Publish the next key's record before you replace tls.key_file.";
    }
    records.push(r);
  }
  if (config.acme) {
    const issuer = caaIssuerDomain(config.acme.directory);
    if (!issuer) {
      notes.push(
        `CAA: postie does not know the issuer domain of ${config.acme.directory}; ask the CA ` +
          `and publish ${host}. CAA 0 issue "<its domain>" (RFC 8659 §4.2).`,
      );
    } else {
      const ours = account?.directory === config.acme.directory ? account.url : undefined;
      if (!ours) {
        notes.push(
          "CAA: accounturi= (binding the name to postie's own ACME account) comes after the " +
            "first certificate; run postie dns again then.",
        );
      }
      const r = caaRecord(host, {
        issuer,
        challenge: config.acme.challenge,
        ...(ours ? { accountUrl: ours } : {}),
      });
      if (config.domains.includes(host)) {
        r.explanation += ` Careful: ${host} is also a mail domain, so this binds its web ` +
          "certificates too.";
      }
      records.push(r);
    }
  }
  return { records, notes };
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
