/**
 * The event log: counting per day and account, zero-filled days, the rejects and accounts
 * tables, search (with LIKE's wildcards taken literally), pruning, and reopening.
 */
import assert from "node:assert/strict";
import { EventLog, likePattern } from "./event_log.ts";

async function withLog(
  fn: (events: EventLog, clock: { now: Date }, dir: string) => void | Promise<void>,
  options: { keepDays?: number; maxEvents?: number } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "postie-events-" });
  const clock = { now: new Date("2026-03-10T12:00:00Z") };
  const events = await EventLog.open(dir, { now: () => clock.now, ...options });
  try {
    await fn(events, clock, dir);
  } finally {
    events.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("EventLog counts received and sent per day, zero-filled, oldest first", async () => {
  await withLog((events) => {
    events.record({ kind: "received", account: "alice@example.test" });
    events.record({ kind: "received", account: "bob@example.test" });
    events.record({ kind: "sent", account: "alice@example.test", to: "x@other.test" });
    events.record({
      kind: "received",
      account: "alice@example.test",
      time: "2026-03-08T23:59:59Z",
    });
    // Another time zone: counted on its UTC day.
    events.record({
      kind: "sent",
      account: "alice@example.test",
      time: "2026-03-09T01:00:00+02:00",
    });
    events.record({ kind: "rejected", reason: "relay_denied" });
    events.record({ kind: "delivered", to: "x@other.test" });
    const days = events.days(4);
    assert.deepEqual(days, [
      { date: "2026-03-07", received: 0, sent: 0 },
      { date: "2026-03-08", received: 1, sent: 1 },
      { date: "2026-03-09", received: 0, sent: 0 },
      { date: "2026-03-10", received: 2, sent: 1 },
    ]);
    assert.deepEqual(events.days(2, "Bob@Example.test"), [
      { date: "2026-03-09", received: 0, sent: 0 },
      { date: "2026-03-10", received: 1, sent: 0 },
    ]);
    assert.equal(events.days(30).length, 30);
    assert.equal(events.days(30)[29]!.date, "2026-03-10");
  });
});

Deno.test("EventLog lists accounts by activity and rejects by count", async () => {
  await withLog((events) => {
    for (let i = 0; i < 3; i++) events.record({ kind: "received", account: "bob@example.test" });
    events.record({ kind: "received", account: "alice@example.test" });
    events.record({ kind: "sent", account: "alice@example.test" });
    events.record({ kind: "sent", account: "carol@example.test", time: "2026-01-01T00:00:00Z" });
    for (let i = 0; i < 2; i++) events.record({ kind: "rejected", reason: "unknown_recipient" });
    events.record({ kind: "rejected", reason: "relay_denied" });
    events.record({ kind: "rejected", reason: "spf_fail", time: "2026-03-01T00:00:00Z" });
    assert.deepEqual(events.accounts(7), [
      { account: "bob@example.test", received: 3, sent: 0 },
      { account: "alice@example.test", received: 1, sent: 1 },
    ]);
    assert.deepEqual(events.rejects(7), [
      { reason: "unknown_recipient", count: 2 },
      { reason: "relay_denied", count: 1 },
    ]);
    assert.deepEqual(events.rejects(30).map((r) => r.reason), [
      "unknown_recipient",
      "relay_denied",
      "spf_fail",
    ]);
  });
});

Deno.test("EventLog.recent is newest first, limited, and searches every field", async () => {
  await withLog((events) => {
    events.record({ kind: "received", account: "alice@example.test", from: "x@far.test" });
    events.record({
      kind: "rejected",
      reason: "relay_denied",
      ip: "192.0.2.9",
      to: "victim@else.test",
      detail: "554 5.7.1 <victim@else.test>: Relay access denied",
    });
    events.record({ kind: "delivered", to: "bob@b.test", queueId: "Q123", detail: "250 ok" });
    const all = events.recent({});
    assert.deepEqual(all.map((e) => e.kind), ["delivered", "rejected", "received"]);
    assert.equal(all[2]!.time, "2026-03-10T12:00:00.000Z");
    assert.deepEqual(all[2], {
      time: "2026-03-10T12:00:00.000Z",
      kind: "received",
      account: "alice@example.test",
      from: "x@far.test",
    });
    assert.deepEqual(events.recent({ limit: 1 }).map((e) => e.kind), ["delivered"]);
    assert.deepEqual(events.recent({ q: "FAR.TEST" }).map((e) => e.kind), ["received"]);
    assert.deepEqual(events.recent({ q: "192.0.2" }).map((e) => e.kind), ["rejected"]);
    assert.deepEqual(events.recent({ q: "q123" }).map((e) => e.kind), ["delivered"]);
    assert.deepEqual(events.recent({ q: "relay_denied" }).map((e) => e.kind), ["rejected"]);
    assert.deepEqual(events.recent({ q: "deliv" }).map((e) => e.kind), ["delivered"]);
    assert.deepEqual(events.recent({ q: "  " }).length, 3);
    assert.deepEqual(events.recent({ q: "nothing-like-this" }), []);
    assert.throws(() => events.recent({ limit: 0 }), /limit must be a positive integer/);
    assert.throws(() => events.recent({ limit: 1.5 }), /limit must be a positive integer/);
  });
});

Deno.test("EventLog search takes % and _ literally", async () => {
  assert.equal(likePattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
  await withLog((events) => {
    events.record({ kind: "rejected", reason: "bad_address", detail: "50% off" });
    events.record({ kind: "rejected", reason: "badxaddress", detail: "500 off" });
    events.record({ kind: "rejected", reason: "other", detail: "back\\slash" });
    assert.deepEqual(events.recent({ q: "50%" }).map((e) => e.detail), ["50% off"]);
    assert.deepEqual(events.recent({ q: "bad_" }).map((e) => e.reason), ["bad_address"]);
    assert.deepEqual(events.recent({ q: "%" }).map((e) => e.detail), ["50% off"]);
    assert.deepEqual(events.recent({ q: "k\\s" }).map((e) => e.detail), ["back\\slash"]);
  });
});

Deno.test("EventLog prunes old events and counts and keeps at most maxEvents", async () => {
  await withLog((events, clock) => {
    events.record({ kind: "received", account: "a@example.test", time: "2026-03-01T00:00:00Z" });
    events.record({ kind: "received", account: "a@example.test", time: "2026-03-06T00:00:00Z" });
    for (let i = 0; i < 5; i++) {
      events.record({ kind: "sent", account: "a@example.test", to: `${i}` });
    }
    events.flush();
    // Pruning waits a minute since the last one (at open); then the 5-day limit applies.
    assert.equal(events.recent({}).length, 7);
    clock.now = new Date(clock.now.getTime() + 61_000);
    events.record({ kind: "sent", account: "a@example.test", to: "5" });
    events.flush();
    const left = events.recent({});
    assert.deepEqual(left.map((e) => e.to), ["5", "4", "3", "2"]);
    assert.equal(events.days(10).find((d) => d.date === "2026-03-01")!.received, 0);
    assert.equal(events.days(10).find((d) => d.date === "2026-03-06")!.received, 1);
    assert.equal(events.prune(), 0);
  }, { keepDays: 5, maxEvents: 4 });
});

Deno.test("EventLog keeps its events across close and open; close writes what waits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-events-" });
  try {
    const a = await EventLog.open(dir);
    a.record({ kind: "rejected", reason: "auth_failed", ip: "192.0.2.1" });
    a.close();
    a.record({ kind: "rejected", reason: "ignored after close" });
    const b = await EventLog.open(dir);
    try {
      assert.deepEqual(b.recent({}).map((e) => e.reason), ["auth_failed"]);
      assert.deepEqual(b.rejects(1), [{ reason: "auth_failed", count: 1 }]);
    } finally {
      b.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventLog options are checked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-events-" });
  try {
    await assert.rejects(EventLog.open(dir, { keepDays: 0 }), /keepDays must be a positive/);
    await assert.rejects(EventLog.open(dir, { maxEvents: -1 }), /maxEvents must be a positive/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
