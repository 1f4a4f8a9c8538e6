import assert from "node:assert/strict";
import { join } from "node:path";
import { EvaluationLog, RETENTION_MS } from "./evaluation_log.ts";
import { evaluation, withLog } from "./_testing.ts";

Deno.test("EvaluationLog: pending() returns what record() stored, grouped per policy domain", async () => {
  await withLog(async (log, dir) => {
    const t = new Date("2025-01-02T00:00:00Z");
    const first = evaluation({ time: t, headerFrom: "A.Test", override: "sampled_out" });
    log.record(first);
    log.record(evaluation({ time: new Date(t.getTime() + 1000), policyDomain: "b.test" }));
    log.record(
      evaluation({
        time: new Date(t.getTime() + 2000),
        rua: [{ uri: "mailto:new@a.test", maxSize: 1024 }],
        policy: { p: "none", sp: "none", pct: 50, adkim: "s", aspf: "s" },
        spf: { domain: "helo.a.test", scope: "helo", result: "softfail" },
      }),
    );
    // Later than `until`: not pending yet.
    log.record(evaluation({ time: new Date(t.getTime() + 5000) }));
    const p = log.pending(new Date(t.getTime() + 5000));
    assert.deepEqual(p.map((r) => [r.policyDomain, r.evaluations.length]), [["a.test", 2], [
      "b.test",
      1,
    ]]);
    const a = p[0]!;
    assert.deepEqual(a.begin, t);
    assert.deepEqual(a.evaluations[0], { ...first, headerFrom: "a.test" });
    assert.deepEqual(a.evaluations[1]!.spf, {
      domain: "helo.a.test",
      scope: "helo",
      result: "softfail",
    });
    // The newest evaluation's record is what the domain publishes now.
    assert.deepEqual(a.rua, [{ uri: "mailto:new@a.test", maxSize: 1024 }]);
    assert.equal(a.policy.pct, 50);
    assert.ok((await Deno.stat(join(dir, "dmarc-evaluations.db"))).isFile);
  });
});

Deno.test("EvaluationLog: markReported() deletes one domain's reported rows; prune() drops old ones", async () => {
  await withLog((log) => {
    const now = new Date("2025-03-01T00:00:00Z");
    log.record(evaluation({ time: new Date(now.getTime() - 10_000) }));
    log.record(evaluation({ time: new Date(now.getTime() + 10_000) }));
    log.record(evaluation({ time: new Date(now.getTime() - 10_000), policyDomain: "b.test" }));
    log.record(
      evaluation({ time: new Date(now.getTime() - RETENTION_MS - 1), policyDomain: "c.test" }),
    );
    log.markReported("A.TEST", now);
    const later = new Date(now.getTime() + 60_000);
    assert.deepEqual(
      log.pending(later).map((r) => [r.policyDomain, r.evaluations.length]),
      [["a.test", 1], ["b.test", 1], ["c.test", 1]],
    );
    assert.equal(log.prune(now), 1);
    assert.deepEqual(log.pending(later).map((r) => r.policyDomain), ["a.test", "b.test"]);
    return Promise.resolve();
  });
});

Deno.test("EvaluationLog: rows and state survive reopening", async () => {
  await withLog(async (log, dir) => {
    log.record(evaluation());
    log.setState("k", "1");
    log.setState("k", "2");
    const again = await EvaluationLog.open(dir);
    try {
      assert.equal(again.getState("k"), "2");
      assert.equal(again.getState("other"), undefined);
      assert.equal(again.pending(new Date("2030-01-01")).length, 1);
    } finally {
      again.close();
    }
  });
});
