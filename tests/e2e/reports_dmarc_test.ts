/**
 * `postie reports dmarc` as the operator runs it: aggregate report mails go into a data
 * directory through ingestReport (as the server does for `reports.address`), then the command
 * prints them per reporter and source IP and flags the source that spoofs the domain.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { zipSync } from "fflate";
import { ingestReport } from "../../src/reports/report_inbox.ts";
import { gzip, reportMail, reportXml } from "../../src/reports/_inbox_testing.ts";
import { runPostie } from "../support/postie_process.ts";

const enc = new TextEncoder();

Deno.test("postie reports dmarc shows the reports and flags the spoofing IP", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dataDir = join(dir, "data");
    const configPath = join(dir, "postie.yaml");
    await Deno.writeTextFile(
      configPath,
      `hostname: mx.example.test
data_dir: ${dataDir}
domains: [example.test, other.test]
listen: { smtp: [], submission: [], submissions: [], imap: [], imaps: [], admin: [] }
outbound:
  source_ipv4: 192.0.2.25
  source_ipv6: "2001:db8::25"
`,
    );
    const google = reportXml({
      org: "google.com",
      id: "g-1",
      domain: "example.test",
      begin: 1767225600,
      end: 1767311999,
      records: [
        { ip: "192.0.2.25", count: 120, dkim: "pass", spf: "pass" },
        { ip: "203.0.113.66", count: 37, dkim: "fail", spf: "fail", disposition: "reject" },
      ],
    });
    const microsoft = reportXml({
      org: "Outlook.com",
      id: "m-1",
      domain: "example.test",
      begin: 1767225600,
      end: 1767311999,
      records: [{ ip: "2001:db8:0::25", count: 9, dkim: "pass", spf: "fail" }],
    });
    const other = reportXml({
      org: "google.com",
      id: "g-2",
      domain: "other.test",
      begin: 1767225600,
      end: 1767311999,
      records: [{ ip: "198.51.100.9", count: 4, dkim: "fail", spf: "fail" }],
    });
    const mails = [
      reportMail(await gzip(enc.encode(google)), { filename: "google.com!example.test.xml.gz" }),
      reportMail(zipSync({ "r.xml": enc.encode(microsoft) }), { type: "application/zip" }),
      reportMail(await gzip(enc.encode(other)), { type: "application/x-gzip" }),
      reportMail(enc.encode("<!DOCTYPE x><feedback/>"), { type: "text/xml" }),
    ];
    const outcomes = [];
    for (const m of mails) outcomes.push((await ingestReport(dataDir, m)).outcome);
    assert.deepEqual(outcomes, ["stored", "stored", "stored", "rejected"]);

    const r = await runPostie([
      "reports",
      "dmarc",
      "--domain",
      "example.test",
      "--config",
      configPath,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^2 DMARC aggregate report\(s\), 2026-01-01 to 2026-01-01$/m);
    assert.match(r.stdout, /^Reporter: google\.com$/m);
    assert.match(r.stdout, /^Reporter: Outlook\.com$/m);
    assert.match(r.stdout, /^!\s+203\.0\.113\.66\s+37\s+0\s+0\s+0\s+example\.test$/m);
    assert.match(r.stdout, /^\*\s+192\.0\.2\.25\s+120\s+120\s+120\s+120\s+example\.test$/m);
    assert.match(r.stdout, /^\*\s+2001:db8:0::25\s+9\s+9\s+0\s+9\s+example\.test$/m);
    assert.equal(r.stdout.match(/^!\s+[0-9a-f]/gm)?.length, 1, "one flagged row");
    assert.match(r.stdout, /! = 1 source\(s\) not ours with messages failing DMARC/);
    assert.doesNotMatch(r.stdout, /198\.51\.100\.9/);

    const all = await runPostie(["reports", "dmarc", "--config", configPath]);
    assert.match(all.stdout, /^3 DMARC aggregate report/m);
    assert.match(all.stdout, /^!\s+198\.51\.100\.9\s+4/m);
    const later = await runPostie([
      "reports",
      "dmarc",
      "--since",
      "2026-02-01",
      "--config",
      configPath,
    ]);
    assert.match(later.stdout, /^No DMARC aggregate reports received/m);
    const bad = await runPostie(["reports", "dmarc", "--since", "soon", "--config", configPath]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since: "soon"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
