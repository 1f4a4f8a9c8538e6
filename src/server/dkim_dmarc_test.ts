/**
 * The DMARC evaluation a session records for aggregate reports: identifiers, aligned
 * verdicts, the policy record, and the disposition actually applied.
 */
import assert from "node:assert/strict";
import type { DnsResult, RecordType, RecordTypes, Resolver } from "../dns/resolver.ts";
import type { DmarcEvaluation } from "../reports/evaluation_log.ts";
import { data, openTransaction, setup } from "./_testing.ts";

const TXT: Record<string, string> = {
  "example.org": "v=spf1 ip4:192.0.2.7 -all",
  "_dmarc.example.org": "v=DMARC1; p=reject; adkim=s; rua=mailto:r@example.org!10m",
  "_dmarc.bank.test": "v=DMARC1; p=quarantine; sp=none; pct=100",
  "_dmarc.strict.test": "v=DMARC1; p=reject",
};

const resolver: Resolver = {
  lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<RecordTypes[T]>> {
    const t = type === "TXT" ? TXT[name] : undefined;
    if (t === undefined) return Promise.resolve({ kind: "nxdomain" });
    return Promise.resolve({ kind: "ok", records: [t] as RecordTypes[T][], ttl: 60 });
  },
};

async function evaluate(from: string, configDoc: Record<string, unknown> = {}) {
  const recorded: DmarcEvaluation[] = [];
  const { session, delivered } = setup(
    { resolver, dmarcLog: { record: (e) => recorded.push(e) } },
    configDoc,
  );
  await openTransaction(session, { from: "news@example.org" });
  const r = await data(session, `From: <x@${from}>\r\nSubject: t\r\n\r\nx\r\n.\r\n`);
  return { recorded, r, delivered };
}

Deno.test("recordEvaluation: an aligned SPF pass is recorded with the policy record", async () => {
  const { recorded, r } = await evaluate("example.org");
  assert.equal(r.code, 250);
  assert.deepEqual(recorded, [{
    time: new Date(Date.UTC(2026, 10, 29, 12, 0, 0)),
    sourceIp: "192.0.2.7",
    headerFrom: "example.org",
    envelopeFrom: "example.org",
    policyDomain: "example.org",
    policy: { p: "reject", sp: "reject", pct: 100, adkim: "s", aspf: "r" },
    rua: [{ uri: "mailto:r@example.org", maxSize: 10 * 2 ** 20 }],
    disposition: "none",
    dkimAligned: "fail",
    spfAligned: "pass",
    dkim: [],
    spf: { domain: "example.org", scope: "mfrom", result: "pass" },
  }]);
});

Deno.test("recordEvaluation: a failing message gets the disposition applied, local_policy when ours differs", async () => {
  const q = await evaluate("bank.test");
  assert.equal(q.r.code, 250);
  assert.equal(q.recorded.length, 1);
  const e = q.recorded[0]!;
  assert.deepEqual(
    [e.policyDomain, e.headerFrom, e.disposition, e.override, e.spfAligned, e.rua],
    ["bank.test", "bank.test", "quarantine", undefined, "fail", []],
  );
  assert.deepEqual(e.policy, { p: "quarantine", sp: "none", pct: 100, adkim: "r", aspf: "r" });
  const m = await evaluate("bank.test", { dmarc: { mode: "monitor" } });
  assert.deepEqual([m.recorded[0]!.disposition, m.recorded[0]!.override], ["none", "local_policy"]);
  const rej = await evaluate("strict.test");
  assert.equal(rej.r.code, 550);
  assert.deepEqual(rej.delivered, []);
  assert.equal(rej.recorded[0]!.disposition, "reject");
  // No DMARC record: nothing to report.
  assert.deepEqual((await evaluate("plain.test")).recorded, []);
});
