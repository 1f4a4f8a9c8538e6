/**
 * Reading a DMARC aggregate report (RFC 7489 §7.2, the XML schema of Appendix C) that another
 * receiver sent about our domains. The input is hostile: anyone can send mail to the report
 * address. So the mail is searched for the report (see `_report_payload.ts`), decompressed
 * within a hard cap (20 MiB, at most 8 zip entries; `_bounded_inflate.ts`), parsed as XML with
 * no DTD and no entity expansion (any `<!DOCTYPE` or `<!ENTITY` rejects the report), and
 * validated field by field into an {@link AggregateReport} (`_report_xml.ts`). Anything wrong
 * gives a {@link ReportRejection} with the reason; nothing here throws.
 *
 * Exported API:
 * - `parseReportMessage(message)` — a whole RFC 5322 mail (as stored in a Maildir, trace
 *   fields on top allowed) → `ParsedReport | ReportRejection`.
 * - `parseReportXml(xml)` — the same for the bare XML document.
 * - the types `AggregateReport`, `ReportRecord`, `PublishedPolicy`, `ParsedReport`,
 *   `ReportRejection` and the enumerations of Appendix C.
 *
 * @module
 */

import { findReportPayload, type PayloadKind } from "./_report_payload.ts";
import { reportFromXml } from "./_report_xml.ts";

/** `alignment_type` of Appendix C: relaxed or strict. */
export type Alignment = "r" | "s";
/** `disposition_type` (RFC 7489 Appendix C); `pass` is DMARCbis's addition. */
export type Disposition = "none" | "quarantine" | "reject" | "pass";
/** Requested handling policy (`p`, `sp`). */
export type RequestedPolicy = "none" | "quarantine" | "reject";
/** `dmarc_result_type`: the DMARC-aligned result of DKIM or SPF. */
export type AlignedResult = "pass" | "fail";
/** `dkim_result_type` (RFC 7489 Appendix C, RFC 8601 §2.7.1). */
export type DkimResult =
  | "none"
  | "pass"
  | "fail"
  | "policy"
  | "neutral"
  | "temperror"
  | "permerror";
/** `spf_result_type` (RFC 7489 Appendix C, RFC 7208 §2.6). */
export type SpfResult =
  | "none"
  | "neutral"
  | "pass"
  | "fail"
  | "softfail"
  | "temperror"
  | "permerror";
/** `spf_domain_scope`: which identity SPF checked. */
export type SpfScope = "helo" | "mfrom";

/** `policy_published`: the DMARC record the reporter found. Absent optional tags stay absent. */
export interface PublishedPolicy {
  domain: string;
  adkim?: Alignment;
  aspf?: Alignment;
  p: RequestedPolicy;
  sp?: RequestedPolicy;
  pct?: number;
}

/** One `record`: a source IP and what the reporter concluded for its messages. */
export interface ReportRecord {
  sourceIp: string;
  /** Number of messages (a non-negative integer). */
  count: number;
  disposition: Disposition;
  /** DKIM result after alignment (`policy_evaluated/dkim`). */
  dkim: AlignedResult;
  /** SPF result after alignment (`policy_evaluated/spf`). */
  spf: AlignedResult;
  headerFrom: string;
  envelopeFrom?: string;
  /** The raw results before alignment (`auth_results`). */
  authResults: {
    dkim: { domain: string; selector?: string; result: DkimResult }[];
    spf: { domain: string; scope?: SpfScope; result: SpfResult }[];
  };
}

/** A validated aggregate report. Domains are lower-case; times are Unix seconds (UTC). */
export interface AggregateReport {
  orgName: string;
  email: string;
  reportId: string;
  begin: number;
  end: number;
  policy: PublishedPolicy;
  records: ReportRecord[];
}

/** A report that was read. `kind` says how it was packed; `filename` as the sender named it. */
export interface ParsedReport {
  ok: true;
  report: AggregateReport;
  kind: PayloadKind;
  filename?: string;
}

/** A message that is not a valid report, and why. */
export interface ReportRejection {
  ok: false;
  reason: string;
}

/** The aggregate report in the mail `message`, or why there is none. Never throws. */
export function parseReportMessage(message: Uint8Array): ParsedReport | ReportRejection {
  const payload = findReportPayload(message);
  if (!payload.ok) return payload;
  const r = reportFromXml(payload.xml);
  if (!r.ok) return r;
  return {
    ok: true,
    report: r.report,
    kind: payload.kind,
    ...(payload.filename !== undefined ? { filename: payload.filename } : {}),
  };
}

/** The aggregate report in a bare XML document (bytes or text). Never throws. */
export function parseReportXml(xml: Uint8Array | string): ParsedReport | ReportRejection {
  const bytes = typeof xml === "string" ? new TextEncoder().encode(xml) : xml;
  const r = reportFromXml(bytes);
  return r.ok ? { ok: true, report: r.report, kind: "xml" } : r;
}
