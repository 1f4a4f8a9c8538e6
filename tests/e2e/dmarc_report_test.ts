/**
 * DMARC aggregate reports between two postie instances in this process (one loopback DNS
 * server): B receives mail from a.test, whose `_dmarc.a.test` asks for reports at
 * `mailto:dmarc@a.test`, some passing and some failing; B's scheduler sends the report, which
 * arrives at A (serving a.test) DKIM-signed by b.test, and Python's email, gzip and
 * xml.etree modules read the counts per source IP and disposition out of it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadDomainKeys } from "../../src/dkim/mod.ts";
import { ReportStore } from "../../src/reports/report_store.ts";
import { TestDnsServer, type ZoneRecord } from "../support/dns_server.ts";
import { sendMail, SmtpTestClient, startTestServer } from "../support/harness.ts";
import { DEBIAN_PYTHON } from "../support/requirements.ts";
import { freePort, waitFor } from "../support/wait.ts";

// Prints what the attachment's XML says, as JSON: metadata, policy and one row per record.
const READ_REPORT = `
import email, gzip, json, sys, xml.etree.ElementTree as ET
msg = email.message_from_binary_file(open(sys.argv[1], "rb"))
att = [p for p in msg.walk() if p.get_content_type() == "application/gzip"]
assert len(att) == 1, "one attachment"
root = ET.fromstring(gzip.decompress(att[0].get_payload(decode=True)))
rows = [{
  "ip": r.findtext("row/source_ip"),
  "count": int(r.findtext("row/count")),
  "disposition": r.findtext("row/policy_evaluated/disposition"),
  "dkim": r.findtext("row/policy_evaluated/dkim"),
  "spf": r.findtext("row/policy_evaluated/spf"),
  "header_from": r.findtext("identifiers/header_from"),
  "envelope_from": r.findtext("identifiers/envelope_from"),
  "spf_result": r.findtext("auth_results/spf/result"),
} for r in root.findall("record")]
print(json.dumps({
  "filename": att[0].get_filename(),
  "org": root.findtext("report_metadata/org_name"),
  "email": root.findtext("report_metadata/email"),
  "id": root.findtext("report_metadata/report_id"),
  "domain": root.findtext("policy_published/domain"),
  "p": root.findtext("policy_published/p"),
  "rows": sorted(rows, key=lambda r: (r["disposition"], r["envelope_from"])),
}))
`;

Deno.test("B's DMARC aggregate report about a.test reaches dmarc@a.test at A, signed and with the right counts", async () => {
  const dns = await TestDnsServer.start();
  const pa = await freePort();
  const a = await startTestServer({
    dns,
    config: { hostname: "mx.a.test", domains: ["a.test"], listen: { smtp: [`127.0.0.1:${pa}`] } },
    accounts: ["dmarc@a.test"],
  });
  const b = await startTestServer({
    dns,
    config: {
      hostname: "mx.b.test",
      domains: ["b.test"],
      queue: { retry_initial: "1s", retry_max: "1s" },
      outbound: { routes: { "a.test": { host: "127.0.0.1", port: pa, tls: "none" } } },
    },
    accounts: ["bob@b.test"],
  });
  try {
    const keys = await loadDomainKeys(b.dataDir, "b.test");
    const txt = (name: string, data: string): ZoneRecord => ({ name, type: "TXT", data });
    dns.setRecords([
      txt("a.test", "v=spf1 ip4:127.0.0.1 -all"),
      txt("_dmarc.a.test", "v=DMARC1; p=quarantine; rua=mailto:dmarc@a.test"),
      txt("other.test", "v=spf1 -all"),
      // What A checks on the report mail: B's SPF and DKIM keys.
      txt("b.test", "v=spf1 ip4:127.0.0.1 -all"),
      ...keys.map((k) => txt(`${k.selector}._domainkey.b.test`, k.dnsRecord)),
    ]);
    const c = await SmtpTestClient.connect(b.port("smtp"));
    await c.reply();
    const mail = (n: number) => `From: <news@a.test>\r\nSubject: n${n}\r\n\r\nx`;
    // Two passing (SPF for a.test, aligned), three failing (SPF for other.test fails).
    for (let i = 0; i < 5; i++) {
      const envelope = i < 2 ? "news@a.test" : "spoof@other.test";
      const r = await sendMail(c, envelope, ["bob@b.test"], mail(i));
      assert.equal(r.code, 250, r.raw);
      await c.cmd("RSET");
    }
    c.close();
    assert.equal((await b.newMail("bob@b.test")).length, 2, "the failing ones went to Junk");

    const out = await b.server.reports.sendNow();
    assert.deepEqual(out.map((o) => [o.policyDomain, o.sent]), [["a.test", ["dmarc@a.test"]]]);
    const [file] = await waitFor("the report at A", async () => {
      const files = await a.newMail("dmarc@a.test");
      return files.length > 0 ? files : undefined;
    }, 20_000);
    const text = await Deno.readTextFile(file!);
    assert.match(text, /\r\nSubject: Report Domain: a\.test Submitter: mx\.b\.test Report-ID: </);
    const ar = /\r\nAuthentication-Results: mx\.a\.test;\r\n((?:\t[^\r]*\r\n)+)/.exec(text)?.[1];
    assert.ok(ar, "A's Authentication-Results");
    assert.match(ar, /\tdkim=pass header\.d=b\.test /);
    assert.match(ar, /\tspf=pass smtp\.mailfrom=dmarc-noreply@b\.test/);

    const py = await new Deno.Command(DEBIAN_PYTHON, { args: ["-c", READ_REPORT, file!] })
      .output();
    assert.equal(py.code, 0, new TextDecoder().decode(py.stderr));
    const report = JSON.parse(new TextDecoder().decode(py.stdout));
    assert.equal(report.org, "mx.b.test");
    assert.equal(report.email, "dmarc-noreply@b.test");
    assert.equal(report.domain, "a.test");
    assert.equal(report.p, "quarantine");
    assert.match(report.filename, /^mx\.b\.test!a\.test!\d{10}!\d{10}\.xml\.gz$/);
    assert.deepEqual(report.rows, [
      {
        ip: "127.0.0.1",
        count: 2,
        disposition: "none",
        dkim: "fail",
        spf: "pass",
        header_from: "a.test",
        envelope_from: "a.test",
        spf_result: "pass",
      },
      {
        ip: "127.0.0.1",
        count: 3,
        disposition: "quarantine",
        dkim: "fail",
        spf: "fail",
        header_from: "a.test",
        envelope_from: "other.test",
        spf_result: "fail",
      },
    ]);
    // Reported: nothing is sent twice.
    assert.deepEqual(await b.server.reports.sendNow(), []);
  } finally {
    await b.close();
    await a.close();
    await dns.close();
  }
});

Deno.test("a report sent to A's reports.address is read by A itself: postie reports dmarc counts it", async () => {
  const dns = await TestDnsServer.start();
  const pa = await freePort();
  // A owns a.test and reads the reports about it at dmarc-reports@a.test (no account needed).
  const a = await startTestServer({
    dns,
    config: { hostname: "mx.a.test", domains: ["a.test"], listen: { smtp: [`127.0.0.1:${pa}`] } },
    accounts: [],
  });
  const b = await startTestServer({
    dns,
    config: {
      hostname: "mx.b.test",
      domains: ["b.test"],
      outbound: { routes: { "a.test": { host: "127.0.0.1", port: pa, tls: "none" } } },
    },
    accounts: ["bob@b.test"],
  });
  try {
    const txt = (name: string, data: string): ZoneRecord => ({ name, type: "TXT", data });
    dns.setRecords([
      txt("a.test", "v=spf1 ip4:127.0.0.1 -all"),
      txt("_dmarc.a.test", "v=DMARC1; p=reject; rua=mailto:dmarc-reports@a.test"),
      txt("evil.test", "v=spf1 -all"),
    ]);
    const c = await SmtpTestClient.connect(b.port("smtp"));
    await c.reply();
    assert.equal(
      (await sendMail(c, "news@a.test", ["bob@b.test"], "From: <news@a.test>\r\n\r\nx")).code,
      250,
    );
    await c.cmd("RSET");
    // A spoofer: refused by the p=reject policy, and counted in the report.
    assert.equal(
      (await sendMail(c, "x@evil.test", ["bob@b.test"], "From: <ceo@a.test>\r\n\r\nx")).code,
      550,
    );
    c.close();
    const out = await b.server.reports.sendNow();
    assert.deepEqual(out.map((o) => o.sent), [["dmarc-reports@a.test"]]);
    const summary = await waitFor("A read the report", async () => {
      const store = await ReportStore.open(a.dataDir);
      try {
        const s = store.summary({ domain: "a.test" });
        return s.reports > 0 ? s : undefined;
      } finally {
        store.close();
      }
    }, 20_000);
    assert.equal(summary.reports, 1);
    const row = summary.rows.find((r) => r.sourceIp === "127.0.0.1")!;
    assert.equal(row.reporter, "mx.b.test");
    assert.equal(row.messages, 2);
    assert.equal(row.dmarcPass, 1);
  } finally {
    await b.close();
    await a.close();
    await dns.close();
  }
});
