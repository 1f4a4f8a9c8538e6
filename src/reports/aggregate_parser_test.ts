import assert from "node:assert/strict";
import { zipSync } from "fflate";
import {
  type AggregateReport,
  type ParsedReport,
  parseReportMessage,
  parseReportXml,
  type ReportRejection,
} from "./aggregate_parser.ts";
import { gzip, gzipOfZeros, reportMail, reportXml } from "./_inbox_testing.ts";

/** Stalwart mail-auth's samples and expected parses (see ../shared/conformance/dmarc/README.md). */
const SAMPLES = new URL(
  "../../../shared/conformance/dmarc/stalwart-mail-auth-reports/",
  import.meta.url,
);

// deno-lint-ignore no-explicit-any
type Json = any;

const lower = (s: string) => s.toLowerCase();
const alignment = (s: string) => ({ Relaxed: "r", Strict: "s" } as Record<string, string>)[s];
const scope = (s: string) => ({ MailFrom: "mfrom", Helo: "helo" } as Record<string, string>)[s];
const policy = (s: string) => s === "Unspecified" ? undefined : lower(s);

/** Stalwart's JSON model mapped onto ours, for the fields both have. */
function expected(j: Json): Omit<AggregateReport, "policy"> & { policy: Json } {
  const pp = j.policy_published;
  return {
    orgName: j.report_metadata.org_name,
    email: j.report_metadata.email,
    reportId: j.report_metadata.report_id,
    begin: j.report_metadata.date_range.begin,
    end: j.report_metadata.date_range.end,
    policy: {
      domain: pp.domain,
      adkim: alignment(pp.adkim),
      aspf: alignment(pp.aspf),
      p: policy(pp.p),
      sp: policy(pp.sp),
    },
    records: j.record.map((r: Json) => ({
      sourceIp: r.row.source_ip,
      count: r.row.count,
      disposition: lower(r.row.policy_evaluated.disposition),
      dkim: lower(r.row.policy_evaluated.dkim),
      spf: lower(r.row.policy_evaluated.spf),
      headerFrom: r.identifiers.header_from,
      envelopeFrom: r.identifiers.envelope_from || undefined,
      authResults: {
        dkim: r.auth_results.dkim.map((d: Json) => ({
          domain: d.domain,
          selector: d.selector || undefined,
          result: lower(d.result),
        })),
        spf: r.auth_results.spf.map((s: Json) => ({
          domain: s.domain,
          scope: scope(s.scope),
          result: lower(s.result),
        })),
      },
    })),
  };
}

/** Our report with the fields Stalwart's model lacks (pct) dropped, absent ones undefined. */
function comparable(r: AggregateReport) {
  const { pct: _pct, ...policy } = r.policy;
  return {
    ...r,
    policy: { adkim: undefined, aspf: undefined, sp: undefined, ...policy },
    records: r.records.map((x) => ({
      envelopeFrom: undefined,
      ...x,
      authResults: {
        dkim: x.authResults.dkim.map((d) => ({ selector: undefined, ...d })),
        spf: x.authResults.spf.map((s) => ({ scope: undefined, ...s })),
      },
    })),
  };
}

function ok(r: ParsedReport | ReportRejection): ParsedReport {
  if (!r.ok) throw new Error(`rejected: ${r.reason}`);
  return r;
}

function rejected(r: ParsedReport | ReportRejection, why: RegExp): void {
  assert.equal(r.ok, false, "expected a rejection");
  assert.match((r as ReportRejection).reason, why);
}

for (
  const [name, kind] of [
    ["001.xml", "xml"],
    ["002.xml", "xml"],
    ["003.xml", "xml"],
    ["004.xml", "xml"],
    ["005.xml", "xml"],
    ["100.eml", "zip"],
    ["101.eml", "gzip"],
    ["102.eml", "gzip"],
    ["103.eml", "gzip"],
    ["104.eml", "gzip"],
  ] as const
) {
  Deno.test(`parseReportMessage() reads Stalwart's ${name} as it expects`, async () => {
    const bytes = await Deno.readFile(new URL(name, SAMPLES));
    const want = JSON.parse(
      await Deno.readTextFile(new URL(name.replace(/\.\w+$/, ".json"), SAMPLES)),
    );
    const got = ok(name.endsWith(".xml") ? parseReportXml(bytes) : parseReportMessage(bytes));
    assert.equal(got.kind, kind);
    assert.deepEqual(comparable(got.report), expected(want));
  });
}

Deno.test("parseReportMessage() also reads a bare XML file and keeps pct", async () => {
  const r = ok(parseReportMessage(await Deno.readFile(new URL("005.xml", SAMPLES))));
  assert.equal(r.report.policy.pct, 100);
  assert.equal(r.report.records[0]!.authResults.spf[0]!.scope, "helo");
});

Deno.test("parseReportMessage() finds the report in each packing and encoding", async () => {
  const xml = new TextEncoder().encode(reportXml({ id: "packed" }));
  const cases: [Uint8Array, Parameters<typeof reportMail>[1], string][] = [
    [await gzip(xml), { type: "application/gzip", filename: "a.xml.gz" }, "gzip"],
    [await gzip(xml), { type: "application/x-gzip" }, "gzip"],
    [await gzip(xml), { type: "application/octet-stream", filename: "a.xml.gz" }, "gzip"],
    [zipSync({ "a.xml": xml }), { type: "application/zip", filename: "a.zip" }, "zip"],
    [zipSync({ "a.xml": xml }, { level: 0 }), { type: "application/zip" }, "zip"],
    [xml, { type: "text/xml", encoding: "7bit" }, "xml"],
    [xml, { type: "application/xml" }, "xml"],
    [await gzip(xml), { type: "application/gzip", nested: true }, "gzip"],
    // Mislabelled: the bytes decide.
    [zipSync({ "a.xml": xml }), { type: "application/gzip", filename: "a.xml.gz" }, "zip"],
  ];
  for (const [payload, options, kind] of cases) {
    const r = ok(parseReportMessage(reportMail(payload, options)));
    assert.equal(r.kind, kind, JSON.stringify(options));
    assert.equal(r.report.reportId, "packed");
  }
});

Deno.test("parseReportMessage() reads a mail whose body is the report", () => {
  const mail = `From: a@b.example\r\nSubject: report\r\n\r\n${reportXml({ id: "body" })}`;
  assert.equal(ok(parseReportMessage(new TextEncoder().encode(mail))).report.reportId, "body");
});

Deno.test("parseReportXml() decodes the predefined entities and character references", () => {
  const r = ok(parseReportXml(reportXml({ org: "AT&amp;T &#x41;&#66; &lt;x&gt;" })));
  assert.equal(r.report.orgName, "AT&T AB <x>");
});

Deno.test("parseReportMessage() stops a 1 GiB gzip bomb at the cap, quickly", async () => {
  const bomb = await gzipOfZeros(1 << 30);
  const mail = reportMail(bomb, { type: "application/gzip", filename: "bomb.xml.gz" });
  const t0 = performance.now();
  rejected(parseReportMessage(mail), /gzip: larger than 20971520 bytes once decompressed/);
  assert.ok(performance.now() - t0 < 3000, `took ${performance.now() - t0} ms`);
});

const hostile: [string, string, RegExp][] = [
  [
    "billion laughs",
    `<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 ` +
    `"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><feedback>&lol2;</feedback>`,
    /DOCTYPE is not allowed/,
  ],
  [
    "an external entity",
    reportXml({
      prolog: `<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n`,
      org: "&xxe;",
    }),
    /DOCTYPE is not allowed/,
  ],
  ["an ENTITY without DOCTYPE", reportXml({ prolog: `<!ENTITY x "y">` }), /ENTITY is not allowed/],
  ["an undeclared entity", reportXml({ org: "&xxe;" }), /unknown entity "&xxe;"/],
  ["malformed XML", reportXml().replace("</report_metadata>", ""), /xml: malformed/],
  [
    "a missing report_id",
    reportXml().replace(/<report_id>.*<\/report_id>/, ""),
    /missing .*report_id/,
  ],
  ["a missing policy", reportXml().replace(/<p>none<\/p>/, ""), /missing .*policy_published\/p$/],
  ["no record", reportXml({ records: [] }), /no \/feedback\/record/],
  ["a negative count", reportXml({ records: [{ ip: "192.0.2.1", count: -5 }] }), /count: "-5"/],
  ["a fractional count", reportXml({ records: [{ ip: "192.0.2.1", count: "1.5" }] }), /count/],
  ["a bad IPv4", reportXml({ records: [{ ip: "999.1.1.1", count: 1 }] }), /"999.1.1.1" is no IP/],
  ["a bad IPv6", reportXml({ records: [{ ip: "2001:db8::g", count: 1 }] }), /is no IP/],
  ["begin after end", reportXml({ begin: 1767311999, end: 1767225600 }), /begin .* is after end/],
  ["a date past 2100", reportXml({ begin: 0, end: 5_000_000_000 }), /end: "5000000000"/],
  ["a range of years", reportXml({ begin: 0, end: 1767225600 }), /more than 366 days/],
  [
    "an unknown disposition",
    reportXml({ records: [{ ip: "192.0.2.1", count: 1, disposition: "delete" }] }),
    /disposition: "delete" is not one of/,
  ],
  ["a bad domain", reportXml({ domain: "exa mple.com" }), /"exa mple.com" is no domain/],
  [
    "two org_names",
    reportXml().replace("<email>", "<org_name>x</org_name><email>"),
    /more than once/,
  ],
];
for (const [what, xml, why] of hostile) {
  Deno.test(`parseReportMessage() rejects a report with ${what}`, async () => {
    rejected(parseReportXml(xml), why);
    const bytes = new TextEncoder().encode(xml);
    rejected(parseReportMessage(reportMail(await gzip(bytes), { type: "application/gzip" })), why);
  });
}

Deno.test("parseReportMessage() rejects XML over 20 MiB", () => {
  const huge = reportXml().replace("<feedback>", `<feedback><!--${"x".repeat(21 << 20)}-->`);
  rejected(parseReportXml(huge), /larger than 20971520 bytes/);
});

Deno.test("parseReportMessage() rejects a mail without a report", () => {
  const plain = "From: a@b.example\r\nContent-Type: text/plain\r\n\r\nHello, no report here.\r\n";
  rejected(parseReportMessage(new TextEncoder().encode(plain)), /no report in the message/);
  const html = "From: a@b.example\r\nContent-Type: text/html\r\n\r\n<!DOCTYPE html><p>hi</p>\r\n";
  rejected(parseReportMessage(new TextEncoder().encode(html)), /no report in the message/);
  const junk = reportMail(new TextEncoder().encode("not a report"), { type: "application/gzip" });
  rejected(parseReportMessage(junk), /neither gzip, zip nor XML/);
  rejected(parseReportMessage(new Uint8Array()), /no report/);
});

Deno.test("parseReportMessage() rejects a truncated gzip", async () => {
  const gz = await gzip(new TextEncoder().encode(reportXml()));
  rejected(parseReportMessage(reportMail(gz.subarray(0, gz.length - 20))), /gzip: /);
});
