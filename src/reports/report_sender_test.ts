import assert from "node:assert/strict";
import { generateKey, verifyMessage } from "../dkim/mod.ts";
import type { Config } from "../config/config.ts";
import {
  base64Lines,
  type Enqueue,
  mailtoAddresses,
  reportMessage,
  sendReports,
  verifyExternalDestination,
} from "./report_sender.ts";
import { buildReport } from "./aggregate_report.ts";
import type { EvaluationLog } from "./evaluation_log.ts";
import { evaluation, fakeResolver, gunzip, withLog } from "./_testing.ts";
import type { Resolver } from "../dns/resolver.ts";

const config: Pick<Config, "hostname" | "domains" | "reports"> = {
  hostname: "mx.b.test",
  domains: ["b.test"],
  reports: {
    intervalMs: 86400_000,
    from: "dmarc-noreply@b.test",
    sendDmarc: true,
    address: "dmarc-reports@b.test",
  },
};

interface Sent {
  sender: string;
  recipients: string[];
  header: string;
  text: string;
}

function capture(): { enqueue: Enqueue; sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    enqueue: (req) => {
      const text = req.content.map((c) => new TextDecoder().decode(c)).join("");
      sent.push({ sender: req.sender, recipients: req.recipients, header: req.header, text });
      return Promise.resolve(`q${sent.length}`);
    },
  };
}

const until = new Date("2025-01-03T00:00:00Z");

function send(log: EvaluationLog, resolver: Resolver, enqueue: Enqueue) {
  return sendReports({ config, log, resolver, dkimKeys: new Map(), enqueue, until });
}

Deno.test("verifyExternalDestination(): same organization, authorized, not authorized, temporary (RFC 7489 §7.1)", async () => {
  const asked: string[] = [];
  const resolver = fakeResolver(
    {
      "a.test._report._dmarc.reports.test": ["v=DMARC1"],
      "c.test._report._dmarc.reports.test": ["v=spf1 -all", "v=DMARC1x"],
      "e.test._report._dmarc.reports.test": ["something", "V=DMARC1; rua=mailto:x@reports.test"],
    },
    ["d.test._report._dmarc.reports.test"],
    asked,
  );
  assert.equal(await verifyExternalDestination("sub.a.test", "a.test", resolver), "authorized");
  assert.deepEqual(asked, [], "no lookup inside one organization");
  assert.equal(await verifyExternalDestination("a.test", "Reports.test", resolver), "authorized");
  assert.deepEqual(asked, ["a.test._report._dmarc.reports.test TXT"]);
  assert.equal(await verifyExternalDestination("e.test", "reports.test", resolver), "authorized");
  assert.equal(await verifyExternalDestination("c.test", "reports.test", resolver), "unauthorized");
  assert.equal(await verifyExternalDestination("b.test", "reports.test", resolver), "unauthorized");
  assert.equal(await verifyExternalDestination("d.test", "reports.test", resolver), "temporary");
});

Deno.test("mailtoAddresses() decodes mailto: URIs and refuses others", () => {
  assert.deepEqual(mailtoAddresses("mailto:dmarc@a.test"), ["dmarc@a.test"]);
  assert.deepEqual(mailtoAddresses("MAILTO:d%2Bx@A.test?subject=hi"), ["d+x@a.test"]);
  assert.deepEqual(mailtoAddresses("mailto:a@a.test,b@b.test"), ["a@a.test", "b@b.test"]);
  for (const bad of ["https://a.test/r", "mailto:", "mailto:nobody", "mailto:a@[127.0.0.1]"]) {
    assert.equal(mailtoAddresses(bad), null, bad);
  }
});

Deno.test("base64Lines() keeps lines at 76 characters or less", () => {
  const data = crypto.getRandomValues(new Uint8Array(1000));
  const text = base64Lines(data);
  const lines = text.split("\r\n");
  assert.ok(lines.every((l) => l.length <= 76));
  assert.equal(lines[0]!.length, 76);
  assert.deepEqual(Uint8Array.from(atob(lines.join("")), (c) => c.charCodeAt(0)), data);
});

Deno.test("reportMessage(): the §7.2.1.1 subject and a multipart/mixed with the gzip attachment", async () => {
  const e = evaluation();
  const report = await buildReport(
    { policyDomain: "a.test", policy: e.policy, rua: e.rua, begin: e.time, evaluations: [e] },
    { hostname: "mx.b.test", email: "r@b.test", end: until, reportId: "123.abc" },
  );
  const text = reportMessage({
    report,
    policyDomain: "a.test",
    hostname: "mx.b.test",
    from: "r@b.test",
    to: "dmarc@a.test",
    date: until,
  });
  assert.match(
    text,
    /\r\nSubject: Report Domain: a\.test Submitter: mx\.b\.test Report-ID: <123\.abc@mx\.b\.test>\r\n/,
  );
  assert.match(
    text,
    /^From: <r@b\.test>\r\nTo: <dmarc@a\.test>\r\nDate: Fri, 03 Jan 2025 00:00:00 \+0000\r\n/,
  );
  assert.match(text, /\r\nMessage-ID: <123\.abc@mx\.b\.test>\r\n/);
  const boundary = /boundary="([^"]+)"/.exec(text)![1]!;
  const parts = text.split(`--${boundary}`);
  assert.equal(parts.length, 4);
  assert.equal(parts[3], "--\r\n");
  assert.match(parts[1]!, /^\r\nContent-Type: text\/plain; charset=us-ascii\r\n/);
  const att = parts[2]!;
  const name = "mx.b.test!a.test!1735787045!1735862400.xml.gz";
  assert.equal(report.fileName, name);
  assert.ok(att.includes(`\r\nContent-Type: application/gzip; name="${name}"\r\n`));
  assert.ok(att.includes(`\r\nContent-Disposition: attachment; filename="${name}"\r\n`));
  const b64 = att.slice(att.indexOf("\r\n\r\n") + 4).trim();
  assert.ok(b64.split("\r\n").every((l) => l.length <= 76 && /^[A-Za-z0-9+/=]+$/.test(l)));
  const gz = Uint8Array.from(atob(b64.replace(/\r\n/g, "")), (c) => c.charCodeAt(0));
  assert.equal(await gunzip(gz), report.xml);
  assert.doesNotMatch(text, /[^\r]\n/, "CRLF only");
});

Deno.test("sendReports(): one signed mail per authorized destination; the evaluations are then gone", async () => {
  await withLog(async (log) => {
    log.record(evaluation());
    log.record(evaluation({ sourceIp: "192.0.2.9", disposition: "reject", dkimAligned: "fail" }));
    log.record(evaluation({
      policyDomain: "c.test",
      headerFrom: "c.test",
      rua: [
        { uri: "mailto:agg@reports.test" },
        { uri: "mailto:nope@elsewhere.test" },
        { uri: "https://c.test/dmarc" },
      ],
    }));
    const key = await generateKey("ed25519-sha256");
    const selector = "s1";
    const resolver = fakeResolver({
      "c.test._report._dmarc.reports.test": ["v=DMARC1;"],
      "s1._domainkey.b.test": [key.dnsRecord],
    });
    const { enqueue, sent } = capture();
    const out = await sendReports({
      config,
      log,
      resolver,
      dkimKeys: new Map([["b.test", [{ ...key, selector }]]]),
      enqueue,
      until,
    });
    assert.deepEqual(out.map((o) => [o.policyDomain, o.sent, o.deferred]), [
      ["a.test", ["dmarc@a.test"], false],
      ["c.test", ["agg@reports.test"], false],
    ]);
    assert.deepEqual(out[1]!.skipped.map((s) => s.uri), [
      "mailto:nope@elsewhere.test",
      "https://c.test/dmarc",
    ]);
    assert.equal(sent.length, 2);
    assert.equal(sent[0]!.sender, "dmarc-noreply@b.test");
    assert.deepEqual(sent[0]!.recipients, ["dmarc@a.test"]);
    const dkim = await verifyMessage(new TextEncoder().encode(sent[0]!.header + sent[0]!.text), {
      resolver,
    });
    assert.deepEqual(dkim.map((d) => [d.domain, d.result]), [["b.test", "pass"]]);
    assert.match(sent[0]!.text, /Subject: Report Domain: a\.test Submitter: mx\.b\.test/);
    assert.deepEqual(log.pending(new Date("2030-01-01")), []);
  });
});

Deno.test("sendReports(): a temporary DNS failure keeps the evaluations for the next run", async () => {
  await withLog(async (log) => {
    log.record(evaluation({ rua: [{ uri: "mailto:r@reports.test" }] }));
    const { enqueue, sent } = capture();
    const failing = fakeResolver({}, ["a.test._report._dmarc.reports.test"]);
    const out = await send(log, failing, enqueue);
    assert.equal(out[0]!.deferred, true);
    assert.equal(sent.length, 0);
    assert.equal(log.pending(until).length, 1);
    const ok = fakeResolver({ "a.test._report._dmarc.reports.test": ["v=DMARC1"] });
    assert.deepEqual((await send(log, ok, enqueue))[0]!.sent, ["r@reports.test"]);
    assert.equal(sent.length, 1);
    assert.equal(log.pending(until).length, 0);
  });
});

Deno.test("sendReports(): the !size limit skips a destination the gzip is larger than (RFC 7489 §6.2)", async () => {
  await withLog(async (log) => {
    // Many different source IPs: a gzip of a few kilobytes.
    for (let i = 0; i < 200; i++) {
      log.record(evaluation({
        sourceIp: `10.${i}.${(i * 7) % 256}.${(i * 13) % 256}`,
        rua: [
          { uri: "mailto:small@a.test", maxSize: 1024 },
          { uri: "mailto:big@a.test", maxSize: 1024 * 1024 },
        ],
      }));
    }
    const { enqueue, sent } = capture();
    const [out] = await send(log, fakeResolver({}), enqueue);
    assert.deepEqual(out!.sent, ["big@a.test"]);
    assert.equal(out!.skipped.length, 1);
    assert.match(out!.skipped[0]!.reason, /over !limit/);
    assert.deepEqual(sent.map((s) => s.recipients[0]), ["big@a.test"]);
  });
});

Deno.test("sendReports(): never about our own domains, and nothing without a mailto destination", async () => {
  await withLog(async (log) => {
    log.record(evaluation({ policyDomain: "b.test", rua: [{ uri: "mailto:x@b.test" }] }));
    log.record(evaluation({ policyDomain: "c.test", rua: [] }));
    const { enqueue, sent } = capture();
    const out = await send(log, fakeResolver({}), enqueue);
    assert.deepEqual(out.map((o) => [o.policyDomain, o.sent.length, o.deferred]), [
      ["b.test", 0, false],
      ["c.test", 0, false],
    ]);
    assert.equal(sent.length, 0);
    assert.deepEqual(log.pending(until), []);
  });
});
