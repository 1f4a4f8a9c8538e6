/**
 * Sending DMARC aggregate reports (RFC 7489 §7.2) by mail: for each policy domain with
 * pending evaluations and `rua=mailto:` URIs, the report is built, each destination is
 * checked (§7.1 external destination verification, the `!size` limit of §6.2), and one mail
 * per destination (§7.2.1.1) goes into the outbound queue, DKIM-signed with our keys.
 *
 * What happens to the evaluations of a domain: they are deleted once the report was queued
 * for every authorized destination, or when there is nobody to send them to (no mailto URI,
 * no authorized destination, or a domain of our own); they stay for the next run when a
 * destination's verification failed temporarily (DNS) or queueing failed.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { DkimSigningKey } from "../dkim/mod.ts";
import { signMessage } from "../dkim/mod.ts";
import type { DmarcUri } from "../dmarc/dmarc.ts";
import { organizationalDomain } from "../dmarc/dmarc.ts";
import type { Resolver } from "../dns/resolver.ts";
import { log } from "../log/logger.ts";
import { formatMailbox, parseMailbox } from "../smtp/address.ts";
import { rfc5322Date } from "../smtp/header_text.ts";
import { buildReport, type BuiltReport } from "./aggregate_report.ts";
import type { EvaluationLog, PendingReport } from "./evaluation_log.ts";

/** Puts a message into the outbound queue; resolves with its queue id once durable. */
export type Enqueue = (req: {
  sender: string;
  recipients: string[];
  header: string;
  content: readonly Uint8Array[];
}) => Promise<string>;

/** What {@linkcode sendReports} needs. */
export interface ReportSenderOptions {
  config: Pick<Config, "hostname" | "domains" | "reports">;
  log: EvaluationLog;
  resolver: Resolver;
  /** Active DKIM keys per local domain. */
  dkimKeys: ReadonlyMap<string, readonly DkimSigningKey[]>;
  enqueue: Enqueue;
  /** The end of the reporting period: evaluations before it are reported. */
  until: Date;
  /** The clock for the Date field. @default {() => new Date()} */
  now?: () => Date;
}

/** What became of one policy domain's report. */
export interface SendOutcome {
  policyDomain: string;
  reportId?: string;
  /** The addresses the report was queued for. */
  sent: string[];
  /** URIs not used, and why. */
  skipped: { uri: string; reason: string }[];
  /** The evaluations were kept for the next run. */
  deferred: boolean;
}

/** The §7.1 verdict on a report destination outside the policy domain's organization. */
export type DestinationVerdict = "authorized" | "unauthorized" | "temporary";

const slog = log("reports");

/**
 * RFC 7489 §7.1: a report for `policyDomain` may go to an address at `ruaDomain` when both
 * have the same Organizational Domain, or when `ruaDomain` publishes a TXT record starting
 * with `v=DMARC1` at `<policyDomain>._report._dmarc.<ruaDomain>`. A DNS failure is
 * "temporary": decide again on the next run.
 */
export async function verifyExternalDestination(
  policyDomain: string,
  ruaDomain: string,
  resolver: Resolver,
): Promise<DestinationVerdict> {
  const p = policyDomain.toLowerCase();
  const r = ruaDomain.toLowerCase();
  if (organizationalDomain(p) === organizationalDomain(r)) return "authorized";
  const answer = await resolver.lookup(`${p}._report._dmarc.${r}`, "TXT");
  if (answer.kind === "temporary") return "temporary";
  if (answer.kind !== "ok") return "unauthorized";
  // §7.1 step 3: "non-empty set of records beginning with v=DMARC1"; others are discarded.
  const ok = answer.records.some((t) => /^v\s*=\s*DMARC1\s*(;|$)/i.test(t.trim()));
  return ok ? "authorized" : "unauthorized";
}

/**
 * The addresses of a `mailto:` URI (RFC 6068: percent-encoded, comma-separated, an optional
 * `?` query which is ignored), or null when it is not a mailto URI or an address is bad.
 */
export function mailtoAddresses(uri: string): string[] | null {
  const m = /^mailto:([^?]*)/i.exec(uri.trim());
  if (!m || m[1] === "") return null;
  const out: string[] = [];
  for (const part of m[1]!.split(",")) {
    try {
      const mb = parseMailbox(decodeURIComponent(part));
      if (mb.literal !== undefined) return null;
      out.push(formatMailbox(mb));
    } catch {
      return null;
    }
  }
  return out;
}

/** Base64 in lines of at most 76 characters (RFC 2045 §6.8). */
export function base64Lines(data: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    bin += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return (btoa(bin).match(/.{1,76}/g) ?? []).join("\r\n");
}

/**
 * The report mail for one destination (RFC 7489 §7.2.1.1): Subject
 * `Report Domain: <domain> Submitter: <hostname> Report-ID: <id>`, multipart/mixed (RFC 2046
 * §5.1.3) with a short text part and the gzip attachment (RFC 6713 application/gzip).
 */
export function reportMessage(o: {
  report: BuiltReport;
  policyDomain: string;
  hostname: string;
  from: string;
  to: string;
  date: Date;
}): string {
  const { report } = o;
  const boundary = `=_dmarc_${crypto.randomUUID().replaceAll("-", "")}`;
  const msgId = `<${report.reportId}@${o.hostname}>`;
  return [
    `From: <${o.from}>`,
    `To: <${o.to}>`,
    `Date: ${rfc5322Date(o.date)}`,
    `Subject: Report Domain: ${o.policyDomain} Submitter: ${o.hostname} Report-ID: ${msgId}`,
    `Message-ID: ${msgId}`,
    "Auto-Submitted: auto-generated",
    "MIME-Version: 1.0",
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    "",
    "This is a multi-part message in MIME format.",
    `--${boundary}`,
    "Content-Type: text/plain; charset=us-ascii",
    "Content-Transfer-Encoding: 7bit",
    "",
    `This is a DMARC aggregate report (RFC 7489) for ${o.policyDomain} from ${o.hostname},`,
    `covering ${report.begin.toISOString()} to ${report.end.toISOString()}.`,
    `--${boundary}`,
    `Content-Type: application/gzip; name="${report.fileName}"`,
    `Content-Disposition: attachment; filename="${report.fileName}"`,
    "Content-Transfer-Encoding: base64",
    "",
    base64Lines(report.gzip),
    `--${boundary}--`,
    "",
  ].join("\r\n");
}

/** Send the report of every policy domain with evaluations before `opts.until`. */
export async function sendReports(opts: ReportSenderOptions): Promise<SendOutcome[]> {
  const out: SendOutcome[] = [];
  for (const pending of opts.log.pending(opts.until)) {
    const outcome = await sendOne(pending, opts);
    if (!outcome.deferred) opts.log.markReported(pending.policyDomain, opts.until);
    out.push(outcome);
  }
  return out;
}

async function sendOne(pending: PendingReport, opts: ReportSenderOptions): Promise<SendOutcome> {
  const { config } = opts;
  const domain = pending.policyDomain;
  const outcome: SendOutcome = { policyDomain: domain, sent: [], skipped: [], deferred: false };
  // Never report to ourselves about our own domains.
  if (config.domains.some((d) => d.toLowerCase() === domain)) {
    outcome.skipped.push({ uri: "", reason: "a local domain" });
    return outcome;
  }
  const targets = await destinations(pending.rua, domain, opts.resolver, outcome);
  if (outcome.deferred || targets.length === 0) return outcome;
  const report = await buildReport(pending, {
    hostname: config.hostname,
    email: config.reports.from,
    end: opts.until,
  });
  outcome.reportId = report.reportId;
  for (const { uri, address, maxSize } of targets) {
    // RFC 7489 §6.2: a report larger than the URI's limit is not sent there.
    if (maxSize !== undefined && report.gzip.length > maxSize) {
      outcome.skipped.push({ uri, reason: `report of ${report.gzip.length} bytes over !limit` });
      continue;
    }
    try {
      await enqueueReport(report, domain, address, opts);
      outcome.sent.push(address);
    } catch (e) {
      slog.warning("DMARC report for {domain} to {to} not queued: {error}", {
        event: "dmarc_report_failed",
        domain,
        to: address,
        error: String(e),
      });
      outcome.deferred = true;
    }
  }
  slog.info("DMARC report {id} for {domain} sent to {sent}", {
    event: "dmarc_report",
    id: report.reportId,
    domain,
    sent: outcome.sent,
    skipped: outcome.skipped.map((s) => `${s.uri}: ${s.reason}`),
  });
  return outcome;
}

/** The mailto destinations that may receive the report (§7.1); sets `deferred` on temporary. */
async function destinations(
  rua: readonly DmarcUri[],
  domain: string,
  resolver: Resolver,
  outcome: SendOutcome,
): Promise<{ uri: string; address: string; maxSize?: number }[]> {
  const out: { uri: string; address: string; maxSize?: number }[] = [];
  for (const { uri, maxSize } of rua) {
    const addresses = mailtoAddresses(uri);
    if (!addresses) {
      outcome.skipped.push({ uri, reason: "not a usable mailto: URI" });
      continue;
    }
    for (const address of addresses) {
      if (out.some((t) => t.address === address)) continue;
      const ruaDomain = address.slice(address.lastIndexOf("@") + 1);
      const verdict = await verifyExternalDestination(domain, ruaDomain, resolver);
      if (verdict === "temporary") {
        outcome.deferred = true;
        outcome.skipped.push({ uri, reason: "destination check failed temporarily" });
        return [];
      }
      if (verdict === "unauthorized") {
        outcome.skipped.push({ uri, reason: `${ruaDomain} does not accept reports for ${domain}` });
        continue;
      }
      out.push({ uri, address, ...(maxSize !== undefined ? { maxSize } : {}) });
    }
  }
  return out;
}

async function enqueueReport(
  report: BuiltReport,
  domain: string,
  to: string,
  opts: ReportSenderOptions,
): Promise<void> {
  const { config } = opts;
  const from = config.reports.from;
  const text = reportMessage({
    report,
    policyDomain: domain,
    hostname: config.hostname,
    from,
    to,
    date: (opts.now ?? (() => new Date()))(),
  });
  const content = new TextEncoder().encode(text);
  // Signed by the From domain when it is ours (DMARC-aligned), else the primary domain.
  const fromDomain = from.slice(from.lastIndexOf("@") + 1).toLowerCase();
  const signer = opts.dkimKeys.has(fromDomain) ? fromDomain : config.domains[0]!;
  const keys = opts.dkimKeys.get(signer) ?? [];
  const header = await signMessage(content, keys, { domain: signer });
  await opts.enqueue({ sender: from, recipients: [to], header, content: [content] });
}
