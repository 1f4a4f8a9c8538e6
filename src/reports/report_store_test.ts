import assert from "node:assert/strict";
import { join } from "node:path";
import { type ParsedReport, parseReportXml } from "./aggregate_parser.ts";
import { REPORT_DB_FILE, ReportStore } from "./report_store.ts";
import { reportXml, type TestReport } from "./_inbox_testing.ts";

function report(r: TestReport) {
  return (parseReportXml(reportXml(r)) as ParsedReport).report;
}

const jan1 = { begin: 1767225600, end: 1767311999 }; // 2026-01-01
const feb1 = { begin: 1769904000, end: 1769990399 }; // 2026-02-01

Deno.test("ReportStore keeps a report once per reporter and id, and sums per source IP", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await ReportStore.open(dir);
    const a = report({
      org: "A",
      id: "1",
      ...jan1,
      records: [
        { ip: "192.0.2.1", count: 10, dkim: "pass", spf: "pass" },
        { ip: "198.51.100.7", count: 3, dkim: "fail", spf: "fail" },
        { ip: "198.51.100.7", count: 2, dkim: "fail", spf: "pass", headerFrom: "sub.example.com" },
      ],
    });
    assert.equal(store.add(a, new Date()), true);
    assert.equal(store.add(a, new Date()), false, "the same org and id again");
    assert.equal(store.add(report({ org: "B", id: "1", ...feb1 }), new Date()), true);
    assert.equal(
      store.add(report({ org: "A", id: "2", domain: "other.example", ...feb1 }), new Date()),
      true,
    );
    store.close();

    const again = await ReportStore.open(dir);
    const all = again.summary();
    assert.equal(all.reports, 3);
    assert.equal(all.begin, jan1.begin);
    assert.equal(all.end, feb1.end);
    assert.deepEqual(all.rows, [
      {
        reporter: "A",
        sourceIp: "198.51.100.7",
        messages: 5,
        dkimPass: 0,
        spfPass: 2,
        dmarcPass: 2,
        headerFrom: ["example.com", "sub.example.com"],
      },
      {
        reporter: "A",
        sourceIp: "192.0.2.1",
        messages: 11,
        dkimPass: 11,
        spfPass: 11,
        dmarcPass: 11,
        headerFrom: ["example.com", "other.example"],
      },
      {
        reporter: "B",
        sourceIp: "192.0.2.1",
        messages: 1,
        dkimPass: 1,
        spfPass: 1,
        dmarcPass: 1,
        headerFrom: ["example.com"],
      },
    ]);
    const domain = again.summary({ domain: "Other.Example." });
    assert.equal(domain.reports, 1);
    assert.deepEqual(domain.rows.map((r) => [r.reporter, r.sourceIp, r.messages]), [
      ["A", "192.0.2.1", 1],
    ]);
    const since = again.summary({ since: new Date("2026-01-15T00:00:00Z"), domain: "example.com" });
    assert.deepEqual(since.rows.map((r) => r.reporter), ["B"]);
    assert.deepEqual(again.summary({ since: new Date("2027-01-01") }), { reports: 0, rows: [] });
    again.close();
    await Deno.stat(join(dir, REPORT_DB_FILE));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
