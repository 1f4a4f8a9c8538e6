/**
 * One DMARC aggregate report (RFC 7489 §7.2, the XML of Appendix C): what we, the receiver,
 * saw of one policy domain's mail in one period. Messages with the same source IP, verdicts,
 * identifiers and authentication results are one `<record>` with a count. The report is sent
 * gzipped, with the file name of §7.2.1.1.
 *
 * @module
 */

import type { DmarcEvaluation, PendingReport, PublishedPolicy } from "./evaluation_log.ts";

/** Who reports, and for which period (Appendix C `ReportMetadataType`). */
export interface ReportMetadata {
  /** The reporting organization: our hostname. */
  orgName: string;
  /** The contact address: `reports.from`. */
  email: string;
  reportId: string;
  begin: Date;
  end: Date;
}

/** One `<record>`: a group of alike messages and how many there were. */
export interface ReportRow {
  sourceIp: string;
  count: number;
  disposition: string;
  override?: string;
  dkimAligned: string;
  spfAligned: string;
  headerFrom: string;
  envelopeFrom: string;
  dkim: DmarcEvaluation["dkim"];
  spf: DmarcEvaluation["spf"];
}

/**
 * Group evaluations into rows (Appendix C `RecordType`): one per distinct source IP,
 * disposition, verdicts, identifiers and authentication results, in order of first appearance.
 */
export function groupRecords(evaluations: readonly DmarcEvaluation[]): ReportRow[] {
  const rows = new Map<string, ReportRow>();
  for (const e of evaluations) {
    const row: ReportRow = {
      sourceIp: e.sourceIp,
      count: 1,
      disposition: e.disposition,
      ...(e.override ? { override: e.override } : {}),
      dkimAligned: e.dkimAligned,
      spfAligned: e.spfAligned,
      headerFrom: e.headerFrom,
      envelopeFrom: e.envelopeFrom,
      dkim: e.dkim,
      spf: e.spf,
    };
    const key = JSON.stringify({ ...row, count: 0 });
    const seen = rows.get(key);
    if (seen) seen.count++;
    else rows.set(key, row);
  }
  return [...rows.values()];
}

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/** XML character data and attribute values (XML 1.0 §2.4): `& < > " '` escaped. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!)
    // XML 1.0 §2.2: control characters other than TAB, LF, CR cannot appear at all.
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, "");
}

const seconds = (d: Date) => String(Math.floor(d.getTime() / 1000));

/** The report's XML (RFC 7489 Appendix C). */
export function aggregateReportXml(
  meta: ReportMetadata,
  policyDomain: string,
  policy: PublishedPolicy,
  rows: readonly ReportRow[],
): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>', "<feedback>"];
  let depth = 1;
  const el = (name: string, value: string | number) =>
    out.push(`${"  ".repeat(depth)}<${name}>${escapeXml(String(value))}</${name}>`);
  const open = (name: string, body: () => void) => {
    out.push(`${"  ".repeat(depth++)}<${name}>`);
    body();
    out.push(`${"  ".repeat(--depth)}</${name}>`);
  };
  el("version", "1.0");
  open("report_metadata", () => {
    el("org_name", meta.orgName);
    el("email", meta.email);
    el("report_id", meta.reportId);
    open("date_range", () => {
      el("begin", seconds(meta.begin));
      el("end", seconds(meta.end));
    });
  });
  open("policy_published", () => {
    el("domain", policyDomain);
    el("adkim", policy.adkim);
    el("aspf", policy.aspf);
    el("p", policy.p);
    el("sp", policy.sp);
    el("pct", policy.pct);
  });
  for (const r of rows) {
    open("record", () => {
      open("row", () => {
        el("source_ip", r.sourceIp);
        el("count", r.count);
        open("policy_evaluated", () => {
          el("disposition", r.disposition);
          el("dkim", r.dkimAligned);
          el("spf", r.spfAligned);
          if (r.override) open("reason", () => el("type", r.override!));
        });
      });
      open("identifiers", () => {
        if (r.envelopeFrom) el("envelope_from", r.envelopeFrom);
        el("header_from", r.headerFrom);
      });
      open("auth_results", () => {
        for (const d of r.dkim) {
          open("dkim", () => {
            el("domain", d.domain);
            if (d.selector) el("selector", d.selector);
            el("result", d.result);
          });
        }
        open("spf", () => {
          el("domain", r.spf.domain);
          el("scope", r.spf.scope);
          el("result", r.spf.result);
        });
      });
    });
  }
  out.push("</feedback>", "");
  return out.join("\n");
}

/**
 * The attachment's file name (RFC 7489 §7.2.1.1):
 * `receiver "!" policy-domain "!" begin-timestamp "!" end-timestamp "." extension`.
 */
export function reportFileName(receiver: string, policyDomain: string, begin: Date, end: Date) {
  return `${receiver}!${policyDomain}!${seconds(begin)}!${seconds(end)}.xml.gz`;
}

/** gzip (RFC 1952) of a text, with the platform's CompressionStream. */
export async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A built report: its id, XML, gzip bytes and file name. */
export interface BuiltReport {
  reportId: string;
  xml: string;
  gzip: Uint8Array;
  fileName: string;
  begin: Date;
  end: Date;
}

/** Build the report of one pending policy domain for the period ending at `end`. */
export async function buildReport(
  pending: PendingReport,
  opts: { hostname: string; email: string; end: Date; reportId?: string },
): Promise<BuiltReport> {
  const end = opts.end;
  const begin = pending.begin < end ? pending.begin : end;
  const reportId = opts.reportId ?? newReportId(end);
  const xml = aggregateReportXml(
    { orgName: opts.hostname, email: opts.email, reportId, begin, end },
    pending.policyDomain,
    pending.policy,
    groupRecords(pending.evaluations),
  );
  return {
    reportId,
    xml,
    gzip: await gzip(xml),
    fileName: reportFileName(opts.hostname, pending.policyDomain, begin, end),
    begin,
    end,
  };
}

/** A report id unique to this report (§7.2.1.1 leaves its form to the reporter). */
function newReportId(end: Date): string {
  const rand = [...crypto.getRandomValues(new Uint8Array(6))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${seconds(end)}.${rand}`;
}
