/**
 * The text of `postie reports dmarc`: the DMARC aggregate reports received (RFC 7489 §7.2)
 * summed up per reporter and per source IP, with messages, aligned DKIM passes, aligned SPF
 * passes and DMARC passes. A source IP that is not one of ours and has messages failing DMARC
 * is marked `!` in the first column and explained at the end: either someone sends mail in
 * the domain's name (spoofing; `p=quarantine` or `p=reject` stops it), or it is a legitimate
 * sender (a newsletter service, a forwarder) missing from the SPF record and not signing with
 * the domain's DKIM key.
 *
 * @module
 */

import { sameIp } from "../net/cidr.ts";
import type { ReportSummary, SummaryRow } from "./report_store.ts";

/** Whether `ip` is one of `ourIps` (however the addresses are written). */
export function isOurIp(ip: string, ourIps: readonly string[]): boolean {
  return ourIps.some((o) => o !== "" && sameIp(ip, o));
}

/** Whether a row is to be flagged: not our IP and some of its messages failed DMARC. */
export function isSuspicious(row: SummaryRow, ourIps: readonly string[]): boolean {
  return row.dmarcPass < row.messages && !isOurIp(row.sourceIp, ourIps);
}

function day(t: number): string {
  return new Date(t * 1000).toISOString().slice(0, 10);
}

/** The summary as a table, one block per reporter; `ourIps` are the addresses we send from. */
export function formatReportSummary(summary: ReportSummary, ourIps: readonly string[]): string {
  if (summary.reports === 0) return "No DMARC aggregate reports received (matching the query).";
  const lines = [
    `${summary.reports} DMARC aggregate report(s), ${day(summary.begin!)} to ${day(summary.end!)}`,
  ];
  const header = ["", "source IP", "messages", "DKIM pass", "SPF pass", "DMARC pass", "From"];
  const cells = summary.rows.map((row) => [
    isSuspicious(row, ourIps) ? "!" : isOurIp(row.sourceIp, ourIps) ? "*" : "",
    row.sourceIp,
    String(row.messages),
    String(row.dkimPass),
    String(row.spfPass),
    String(row.dmarcPass),
    row.headerFrom.join(","),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  // Numbers right-aligned, text left-aligned.
  const fmt = (row: string[]) =>
    row.map((c, i) => i >= 2 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))
      .join("  ").trimEnd();
  summary.rows.forEach((row, i) => {
    if (row.reporter !== summary.rows[i - 1]?.reporter) {
      lines.push("", `Reporter: ${row.reporter}`, fmt(header));
    }
    lines.push(fmt(cells[i]!));
  });
  const flagged = cells.filter((c) => c[0] === "!").length;
  lines.push("");
  if (ourIps.length > 0) lines.push("* = one of our sending addresses.");
  if (flagged === 0) {
    lines.push("No source outside our addresses failed DMARC.");
  } else {
    lines.push(
      `! = ${flagged} source(s) not ours with messages failing DMARC (neither aligned DKIM ` +
        "nor aligned SPF passed). Either someone is sending mail in your domain's name " +
        "(spoofing: a DMARC policy p=quarantine or p=reject makes receivers refuse it), or it " +
        "is a legitimate sender of yours (a newsletter or ticket service, another server) that " +
        "is missing from your SPF record and does not sign with your DKIM key: add it to SPF or " +
        "have it sign with a key of your domain.",
    );
  }
  return lines.join("\n");
}
