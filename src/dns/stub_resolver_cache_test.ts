import assert from "node:assert/strict";
// @ts-types="@types/dns-packet"
import type { Answer } from "dns-packet";
import { answerTo, okRecords, withDns, withScripted } from "./_testing.ts";

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

Deno.test("cache: a second lookup is answered without a query, until the TTL runs out", async () => {
  const clock = manualClock();
  await withDns(async (dns, resolver) => {
    await resolver.lookup("example.test", "A");
    assert.equal(dns.queries.length, 1);
    clock.advance(59_000);
    const cached = await resolver.lookup("EXAMPLE.test.", "A");
    assert.equal(cached.kind === "ok" && cached.ttl, 1, "the TTL left");
    assert.equal(dns.queries.length, 1);
    clock.advance(1_000);
    await resolver.lookup("example.test", "A");
    assert.equal(dns.queries.length, 2, "expired after 60 s");
  }, { now: clock.now });
});

Deno.test("cache: callers may edit results without touching the cache", async () => {
  await withDns(async (_dns, resolver) => {
    const first = okRecords(await resolver.lookup("example.test", "MX"));
    first.sort((x, y) => y.preference - x.preference);
    first.push({ preference: 1, exchange: "evil.test" });
    const [mx] = first;
    if (mx) mx.exchange = "changed";
    const again = okRecords(await resolver.lookup("example.test", "MX"));
    assert.deepEqual(again.map((m) => m.exchange).toSorted(), [
      "mx1.example.test",
      "mx2.example.test",
    ]);
  });
});

Deno.test("cache: negative answers for 60 s without SOA; TTL 0 is not cached", async () => {
  const clock = manualClock();
  await withDns(async (dns, resolver) => {
    await resolver.lookup("nope.test", "A");
    await resolver.lookup("example.test", "TLSA");
    clock.advance(59_999);
    assert.deepEqual(await resolver.lookup("nope.test", "A"), { kind: "nxdomain" });
    assert.deepEqual(await resolver.lookup("example.test", "TLSA"), { kind: "nodata" });
    assert.equal(dns.queries.length, 2);
    clock.advance(1);
    await resolver.lookup("nope.test", "A");
    assert.equal(dns.queries.length, 3);

    await resolver.lookup("zero.test", "A");
    await resolver.lookup("zero.test", "A");
    assert.equal(dns.queries.length, 5);
  }, { now: clock.now });
});

Deno.test("cache: negative TTL from the SOA in the authority section (RFC 2308)", async () => {
  const clock = manualClock();
  let queries = 0;
  const soa = (ttl: number, minimum: number): Answer => ({
    name: "test",
    type: "SOA",
    ttl,
    data: { mname: "ns.test", rname: "hostmaster.test", minimum },
  });
  await withScripted((query, reply) => {
    queries++;
    const q = query.questions?.[0];
    const authorities = q?.name === "short.test"
      ? [soa(300, 5)]
      : q?.name === "soa-ttl.test"
      ? [soa(7, 300)]
      : [soa(86400, 86400)];
    reply(answerTo(query, [], { flags: 3, authorities }));
  }, async (resolver) => {
    for (const name of ["short.test", "soa-ttl.test", "capped.test"]) {
      assert.deepEqual(await resolver.lookup(name, "A"), { kind: "nxdomain" });
    }
    assert.equal(queries, 3);
    clock.advance(4_999);
    for (const name of ["short.test", "soa-ttl.test", "capped.test"]) {
      await resolver.lookup(name, "A");
    }
    assert.equal(queries, 3);
    clock.advance(1);
    await resolver.lookup("short.test", "A");
    assert.equal(queries, 4, "MINIMUM 5 s");
    clock.advance(2_000);
    await resolver.lookup("soa-ttl.test", "A");
    assert.equal(queries, 5, "the SOA's own TTL of 7 s");
    clock.advance(3600_000 - 7_000 - 1);
    await resolver.lookup("capped.test", "A");
    assert.equal(queries, 5);
    clock.advance(1);
    await resolver.lookup("capped.test", "A");
    assert.equal(queries, 6, "capped at an hour");
  }, { now: clock.now });
});

Deno.test("cache: a TTL with the top bit set counts as zero (RFC 2181 §8)", async () => {
  let queries = 0;
  await withScripted((query, reply) => {
    queries++;
    reply(answerTo(query, [{ name: "huge.test", type: "A", ttl: 0x80000000, data: "192.0.2.3" }]));
  }, async (resolver) => {
    assert.deepEqual(await resolver.lookup("huge.test", "A"), {
      kind: "ok",
      records: ["192.0.2.3"],
      ttl: 0,
    });
    await resolver.lookup("huge.test", "A");
    assert.equal(queries, 2);
  });
});

Deno.test("cache: least recently used entries are evicted beyond cacheSize", async () => {
  await withDns(async (dns, resolver) => {
    const count = () => dns.queries.length;
    await resolver.lookup("a.test", "A");
    await resolver.lookup("b.test", "A");
    await resolver.lookup("a.test", "A"); // hit: a is now the most recent
    assert.equal(count(), 2);
    await resolver.lookup("c.test", "A"); // evicts b
    await resolver.lookup("a.test", "A");
    assert.equal(count(), 3);
    await resolver.lookup("b.test", "A");
    assert.equal(count(), 4, "b was evicted");
    assert.deepEqual(dns.queries.map((q) => q.name), ["a.test", "b.test", "c.test", "b.test"]);
  }, { cacheSize: 2 });
});

Deno.test("cache: cacheSize 0 disables it", async () => {
  await withDns(async (dns, resolver) => {
    await resolver.lookup("a.test", "A");
    await resolver.lookup("a.test", "A");
    assert.equal(dns.queries.length, 2);
  }, { cacheSize: 0 });
});

Deno.test("cache: temporary failures are never cached", async () => {
  await withDns(async (dns, resolver) => {
    dns.setFault("example.test", "A", "servfail");
    assert.equal((await resolver.lookup("example.test", "A")).kind, "temporary");
    assert.equal((await resolver.lookup("example.test", "A")).kind, "temporary");
    assert.equal(dns.queries.length, 2);
    dns.setFault("example.test", "A", null);
    assert.equal((await resolver.lookup("example.test", "A")).kind, "ok");
    assert.equal(dns.queries.length, 3);
  }, { attempts: 1 });
});

Deno.test("concurrent lookups of one name share a query", async () => {
  await withDns(async (dns, resolver) => {
    const results = await Promise.all([
      resolver.lookup("example.test", "MX"),
      resolver.lookup("Example.Test.", "MX"),
      resolver.lookup("example.test", "MX"),
    ]);
    assert.ok(results.every((r) => r.kind === "ok" && r.records.length === 2));
    assert.equal(dns.queries.length, 1);
  });
});
