import assert from "node:assert/strict";
import { join } from "node:path";
import { ingestReport, rejectedReportsDir } from "./report_inbox.ts";
import { ReportStore } from "./report_store.ts";
import { gzip, gzipOfZeros, reportMail, reportXml } from "./_inbox_testing.ts";

const enc = new TextEncoder();

Deno.test("ingestReport() stores a report once and keeps hostile mail aside with its reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = reportMail(await gzip(enc.encode(reportXml({ id: "ok-1" }))));
    const now = new Date("2026-01-02T03:04:05.678Z");
    assert.deepEqual(await ingestReport(dir, good, now), {
      outcome: "stored",
      orgName: "Reporter Inc",
      reportId: "ok-1",
      domain: "example.com",
      records: 1,
    });
    assert.equal((await ingestReport(dir, good, now)).outcome, "duplicate");

    const hostile: [Uint8Array, RegExp][] = [
      [reportMail(await gzipOfZeros(64 << 20)), /gzip: larger than/],
      [
        reportMail(enc.encode(reportXml({ prolog: '<!DOCTYPE x [<!ENTITY a "b">]>' })), {
          type: "text/xml",
        }),
        /DOCTYPE is not allowed/,
      ],
      [reportMail(enc.encode("<feedback><oops></feedback>"), { type: "text/xml" }), /malformed/],
      [reportMail(enc.encode(reportXml({ records: [{ ip: "1.2.3", count: 1 }] }))), /no IP/],
      [enc.encode("From: x@y.example\r\nSubject: hi\r\n\r\nJust a note.\r\n"), /no report/],
    ];
    for (const [mail, why] of hostile) {
      const r = await ingestReport(dir, mail, now);
      assert.equal(r.outcome, "rejected");
      if (r.outcome !== "rejected") continue;
      assert.match(r.reason, why);
      assert.ok(r.file.startsWith(rejectedReportsDir(dir) + "/20260102T030405Z-"), r.file);
      assert.deepEqual(await Deno.readFile(r.file), mail);
      const reason = await Deno.readTextFile(r.file.replace(/\.eml$/, ".reason"));
      assert.equal(reason, r.reason + "\n");
    }
    const kept = [...Deno.readDirSync(rejectedReportsDir(dir))].map((e) => e.name);
    assert.equal(kept.length, 2 * hostile.length);

    const other = reportMail(enc.encode(reportXml({ id: "x", domain: "not-ours.example" })));
    const r = await ingestReport(dir, other, { now, domains: ["example.com"] });
    assert.equal(r.outcome, "rejected");
    assert.match((r as { reason: string }).reason, /about not-ours.example, not one of our/);

    const store = await ReportStore.open(dir);
    assert.equal(store.summary().reports, 1);
    store.close();
    await Deno.stat(join(dir, "dmarc-reports.db"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
