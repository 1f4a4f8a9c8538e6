import assert from "node:assert/strict";
import { formatReportSummary, isOurIp } from "./format_report_summary.ts";
import type { ReportSummary, SummaryRow } from "./report_store.ts";

const row = (reporter: string, sourceIp: string, messages: number, pass: number): SummaryRow => ({
  reporter,
  sourceIp,
  messages,
  dkimPass: pass,
  spfPass: 0,
  dmarcPass: pass,
  headerFrom: ["example.com"],
});

Deno.test("isOurIp() compares addresses however written", () => {
  assert.equal(isOurIp("2001:DB8::1", ["2001:db8:0:0::1"]), true);
  assert.equal(isOurIp("192.0.2.1", ["192.0.2.10"]), false);
  assert.equal(isOurIp("192.0.2.1", []), false);
});

Deno.test("formatReportSummary() flags sources not ours that fail DMARC", () => {
  const summary: ReportSummary = {
    reports: 2,
    begin: 1767225600,
    end: 1767311999,
    rows: [
      row("google.com", "203.0.113.66", 40, 0),
      row("google.com", "192.0.2.1", 100, 98),
      row("Mail.Ru", "198.51.100.5", 7, 7),
    ],
  };
  const text = formatReportSummary(summary, ["192.0.2.1"]);
  assert.equal(
    text.split("\n").slice(0, 10).join("\n"),
    `2 DMARC aggregate report(s), 2026-01-01 to 2026-01-01

Reporter: google.com
   source IP     messages  DKIM pass  SPF pass  DMARC pass  From
!  203.0.113.66        40          0         0           0  example.com
*  192.0.2.1          100         98         0          98  example.com

Reporter: Mail.Ru
   source IP     messages  DKIM pass  SPF pass  DMARC pass  From
   198.51.100.5         7          7         0           7  example.com`,
  );
  assert.match(text, /! = 1 source\(s\) not ours with messages failing DMARC/);
  assert.match(text, /spoofing/);
  assert.match(text, /missing from your SPF record/);
  assert.doesNotMatch(formatReportSummary(summary, ["203.0.113.66", "192.0.2.1"]), /^!/m);
  assert.match(
    formatReportSummary(summary, ["203.0.113.66", "192.0.2.1"]),
    /No source outside our addresses failed DMARC/,
  );
  assert.equal(
    formatReportSummary({ reports: 0, rows: [] }, []),
    "No DMARC aggregate reports received (matching the query).",
  );
});
