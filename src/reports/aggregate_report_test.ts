import assert from "node:assert/strict";
import { XMLParser } from "fast-xml-parser";
import {
  aggregateReportXml,
  buildReport,
  escapeXml,
  groupRecords,
  reportFileName,
} from "./aggregate_report.ts";
import { evaluation, gunzip } from "./_testing.ts";

const parser = new XMLParser({
  parseTagValue: false,
  isArray: (_name, path) =>
    path === "feedback.record" || path === "feedback.record.auth_results.dkim",
});

const begin = new Date("2025-01-02T00:00:00Z");
const end = new Date("2025-01-03T00:00:00Z");

Deno.test("groupRecords() counts alike messages and keeps different ones apart", () => {
  const rows = groupRecords([
    evaluation(),
    evaluation({ time: new Date() }), // the time is not part of a record
    evaluation({ sourceIp: "192.0.2.2" }),
    evaluation({ disposition: "reject", dkimAligned: "fail", spfAligned: "fail" }),
    evaluation(),
    evaluation({ dkim: [] }),
    evaluation({ envelopeFrom: "bounce.a.test" }),
    evaluation({ disposition: "none", override: "sampled_out" }),
  ]);
  assert.deepEqual(
    rows.map((r) => [r.sourceIp, r.disposition, r.dkimAligned, r.count]),
    [
      ["192.0.2.1", "none", "pass", 3],
      ["192.0.2.2", "none", "pass", 1],
      ["192.0.2.1", "reject", "fail", 1],
      ["192.0.2.1", "none", "pass", 1],
      ["192.0.2.1", "none", "pass", 1],
      ["192.0.2.1", "none", "pass", 1],
    ],
  );
  assert.deepEqual(rows[3]!.dkim, []);
  assert.equal(rows[4]!.envelopeFrom, "bounce.a.test");
  assert.equal(rows[5]!.override, "sampled_out");
});

Deno.test("aggregateReportXml() writes every Appendix C field, read back field by field", () => {
  const rows = groupRecords([
    evaluation(),
    evaluation(),
    evaluation({
      sourceIp: "2001:db8::1",
      disposition: "quarantine",
      override: "local_policy",
      dkimAligned: "fail",
      spfAligned: "fail",
      envelopeFrom: "",
      dkim: [
        { domain: "evil.test", selector: "x", result: "pass" },
        { domain: "a.test", selector: "", result: "fail" },
      ],
      spf: { domain: "helo.evil.test", scope: "helo", result: "softfail" },
    }),
  ]);
  const xml = aggregateReportXml(
    { orgName: "mx.b.test", email: "dmarc-noreply@b.test", reportId: "r1", begin, end },
    "a.test",
    { p: "reject", sp: "quarantine", pct: 50, adkim: "s", aspf: "r" },
    rows,
  );
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<feedback>/);
  const { feedback: f } = parser.parse(xml);
  assert.equal(f.version, "1.0");
  assert.deepEqual(f.report_metadata, {
    org_name: "mx.b.test",
    email: "dmarc-noreply@b.test",
    report_id: "r1",
    date_range: { begin: "1735776000", end: "1735862400" },
  });
  assert.deepEqual(f.policy_published, {
    domain: "a.test",
    adkim: "s",
    aspf: "r",
    p: "reject",
    sp: "quarantine",
    pct: "50",
  });
  assert.equal(f.record.length, 2);
  assert.deepEqual(f.record[0], {
    row: {
      source_ip: "192.0.2.1",
      count: "2",
      policy_evaluated: { disposition: "none", dkim: "pass", spf: "pass" },
    },
    identifiers: { envelope_from: "a.test", header_from: "a.test" },
    auth_results: {
      dkim: [{ domain: "a.test", selector: "s1", result: "pass" }],
      spf: { domain: "a.test", scope: "mfrom", result: "pass" },
    },
  });
  assert.deepEqual(f.record[1], {
    row: {
      source_ip: "2001:db8::1",
      count: "1",
      policy_evaluated: {
        disposition: "quarantine",
        dkim: "fail",
        spf: "fail",
        reason: { type: "local_policy" },
      },
    },
    // The null sender has no envelope_from.
    identifiers: { header_from: "a.test" },
    auth_results: {
      dkim: [
        { domain: "evil.test", selector: "x", result: "pass" },
        { domain: "a.test", result: "fail" },
      ],
      spf: { domain: "helo.evil.test", scope: "helo", result: "softfail" },
    },
  });
});

Deno.test("aggregateReportXml() escapes every value", () => {
  const xml = aggregateReportXml(
    { orgName: `<x>&"'`, email: "a&b@c.test", reportId: "<id>", begin, end },
    "a.test",
    { p: "none", sp: "none", pct: 100, adkim: "r", aspf: "r" },
    groupRecords([
      evaluation({ dkim: [{ domain: "d.test", selector: "</selector>", result: "pass" }] }),
    ]),
  );
  assert.doesNotMatch(xml, /<x>|<id>|<\/selector><\/selector>/);
  const { feedback: f } = new XMLParser({
    parseTagValue: false,
    isArray: (_n, path) => path === "feedback.record.auth_results.dkim",
  })
    .parse(xml);
  assert.equal(f.report_metadata.org_name, `<x>&"'`);
  assert.equal(f.report_metadata.email, "a&b@c.test");
  assert.equal(f.report_metadata.report_id, "<id>");
  assert.equal(f.record.auth_results.dkim[0].selector, "</selector>");
  assert.equal(escapeXml("a\u0000b\u0007c\td"), "abc\td");
});

Deno.test("reportFileName() is receiver!policy-domain!begin!end.xml.gz (RFC 7489 §7.2.1.1)", () => {
  assert.equal(
    reportFileName("mx.b.test", "a.test", begin, new Date(end.getTime() + 999)),
    "mx.b.test!a.test!1735776000!1735862400.xml.gz",
  );
});

Deno.test("buildReport() gzips the XML and names the file after the period", async () => {
  const e = evaluation({ time: begin });
  const r = await buildReport(
    { policyDomain: "a.test", policy: e.policy, rua: e.rua, begin, evaluations: [e, e] },
    { hostname: "mx.b.test", email: "r@b.test", end },
  );
  assert.equal(r.fileName, "mx.b.test!a.test!1735776000!1735862400.xml.gz");
  assert.deepEqual([r.gzip[0], r.gzip[1]], [0x1f, 0x8b]);
  assert.equal(await gunzip(r.gzip), r.xml);
  const { feedback: f } = parser.parse(r.xml);
  assert.equal(f.report_metadata.report_id, r.reportId);
  assert.match(r.reportId, /^1735862400\.[0-9a-f]{12}$/);
  assert.equal(f.record[0].row.count, "2");
});
