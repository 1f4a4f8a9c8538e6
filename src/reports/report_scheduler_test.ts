import assert from "node:assert/strict";
import type { Config } from "../config/config.ts";
import { ReportScheduler } from "./report_scheduler.ts";
import { evaluation, fakeResolver, withLog } from "./_testing.ts";
import type { EvaluationLog } from "./evaluation_log.ts";

const HOUR = 3600_000;

function configOf(sendDmarc = true): Pick<Config, "hostname" | "domains" | "reports"> {
  return {
    hostname: "mx.b.test",
    domains: ["b.test"],
    reports: { intervalMs: HOUR, from: "r@b.test", sendDmarc, address: "x@b.test" },
  };
}

/** A scheduler on a settable clock that records the recipients of what it queues. */
function start(log: EvaluationLog, clock: { t: number }, sendDmarc = true) {
  const sent: string[] = [];
  const s = ReportScheduler.start({
    config: configOf(sendDmarc),
    log,
    resolver: fakeResolver({}),
    dkimKeys: new Map(),
    enqueue: (req) => {
      sent.push(...req.recipients);
      return Promise.resolve("id");
    },
    now: () => new Date(clock.t),
    tickMs: 5,
  });
  return { s, sent };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("ReportScheduler sends at the interval boundary, and a restart does not resend", async () => {
  await withLog(async (log) => {
    const t0 = Date.UTC(2025, 0, 2, 10, 30);
    const clock = { t: t0 };
    let { s, sent } = start(log, clock);
    try {
      log.record(evaluation({ time: new Date(t0) }));
      await wait(30);
      assert.deepEqual(sent, [], "nothing before the boundary");
      clock.t = Date.UTC(2025, 0, 2, 11, 0, 1);
      // Recorded after the boundary: the next period's.
      log.record(evaluation({ time: new Date(clock.t) }));
      await wait(50);
      assert.deepEqual(sent, ["dmarc@a.test"]);
      assert.equal(log.pending(new Date(clock.t + 1)).length, 1);
    } finally {
      await s.stop();
    }
    // Restarted in the same period: nothing is sent again.
    ({ s, sent } = start(log, clock));
    try {
      await wait(30);
      assert.deepEqual(sent, []);
    } finally {
      await s.stop();
    }
    // Down across the next boundary: the missed period is sent at start.
    clock.t = Date.UTC(2025, 0, 2, 12, 10);
    ({ s, sent } = start(log, clock));
    try {
      await wait(50);
      assert.deepEqual(sent, ["dmarc@a.test"]);
      assert.deepEqual(log.pending(new Date(clock.t)), []);
    } finally {
      await s.stop();
    }
  });
});

Deno.test("ReportScheduler.sendNow() sends everything so far; send_dmarc: false sends nothing", async () => {
  await withLog(async (log) => {
    const clock = { t: Date.UTC(2025, 0, 2, 10, 30) };
    log.record(evaluation({ time: new Date(clock.t) }));
    const off = start(log, clock, false);
    try {
      assert.deepEqual(await off.s.sendNow(), []);
      assert.deepEqual(off.sent, []);
      assert.equal(log.pending(new Date(clock.t + 1)).length, 1, "still recorded");
    } finally {
      await off.s.stop();
    }
    const on = start(log, clock);
    try {
      const out = await on.s.sendNow();
      assert.deepEqual(out.map((o) => o.sent), [["dmarc@a.test"]]);
      assert.deepEqual(on.sent, ["dmarc@a.test"]);
      assert.deepEqual(await on.s.sendNow(), []);
    } finally {
      await on.s.stop();
    }
  });
});
