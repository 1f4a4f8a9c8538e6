import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import dgram from "node:dgram";
// @ts-types="@types/dns-packet"
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer } from "dns-packet";
import { TestDnsServer, type ZoneRecord } from "../../tests/support/dns_server.ts";
import { DenoResolver } from "./deno_resolver.ts";
import { type DnsResult, reverseName } from "./resolver.ts";
import { StubResolver, type StubResolverOptions, systemNameservers } from "./stub_resolver.ts";

const BIG = "x".repeat(300) + "y".repeat(1700);

const ZONE: ZoneRecord[] = [
  { name: "example.test", type: "A", data: "192.0.2.1" },
  { name: "example.test", type: "A", data: "192.0.2.2", ttl: 60 },
  { name: "example.test", type: "AAAA", data: "2001:db8::1" },
  { name: "example.test", type: "MX", data: { preference: 10, exchange: "MX1.Example.TEST." } },
  { name: "example.test", type: "MX", data: { preference: 20, exchange: "mx2.example.test" } },
  { name: "example.test", type: "TXT", data: ["v=spf1 ", "ip4:192.0.2.0/24", " -all"] },
  { name: "example.test", type: "TXT", data: "second record" },
  { name: "nullmx.test", type: "MX", data: { preference: 0, exchange: "." } },
  { name: "long.test", type: "TXT", data: "a".repeat(300) },
  { name: "big.test", type: "TXT", data: BIG },
  { name: "utf8.test", type: "TXT", data: "é".repeat(200) },
  { name: reverseName("192.0.2.1"), type: "PTR", data: "Host.Example.TEST." },
  { name: "mx1.example.test", type: "A", data: "192.0.2.25", ttl: 30 },
  { name: "alias.test", type: "CNAME", data: "mid.test", ttl: 120 },
  { name: "mid.test", type: "CNAME", data: "MX1.Example.Test.", ttl: 90 },
  { name: "dangling.test", type: "CNAME", data: "gone.example.test" },
  { name: "to-nodata.test", type: "CNAME", data: "mx1.example.test" },
  { name: "loop1.test", type: "CNAME", data: "loop2.test" },
  { name: "loop2.test", type: "CNAME", data: "loop1.test" },
  { name: "zero.test", type: "A", data: "192.0.2.9", ttl: 0 },
  { name: "a.test", type: "A", data: "192.0.2.10" },
  { name: "b.test", type: "A", data: "192.0.2.11" },
  { name: "c.test", type: "A", data: "192.0.2.12" },
];

type Options = Omit<StubResolverOptions, "nameservers">;

/** Runs `fn` with a fresh TestDnsServer holding ZONE and a StubResolver pointed at it. */
async function withDns(
  fn: (dns: TestDnsServer, resolver: StubResolver) => Promise<void>,
  options: Options = {},
): Promise<void> {
  const dns = await TestDnsServer.start({ records: ZONE });
  try {
    const nameservers = [{ host: dns.hostname, port: dns.port }];
    await fn(dns, new StubResolver({ timeoutMs: 1000, ...options, nameservers }));
  } finally {
    await dns.close();
  }
}

function okRecords<T>(result: DnsResult<T>): T[] {
  assert.equal(result.kind, "ok", JSON.stringify(result));
  return result.kind === "ok" ? result.records : [];
}

function assertTemporary(result: DnsResult<unknown>, pattern: RegExp): void {
  assert.equal(result.kind, "temporary", JSON.stringify(result));
  if (result.kind === "temporary") assert.match(result.reason, pattern);
}

/** A free loopback UDP port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", () => resolve()));
  const port = sock.address().port;
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------
// Record types.

Deno.test("A and AAAA", async () => {
  await withDns(async (_dns, resolver) => {
    const a = await resolver.lookup("example.test", "A");
    assert.deepEqual(okRecords(a).toSorted(), ["192.0.2.1", "192.0.2.2"]);
    assert.equal(a.kind === "ok" && a.ttl, 60, "the smallest TTL of the records");
    assert.deepEqual(okRecords(await resolver.lookup("example.test", "AAAA")), ["2001:db8::1"]);
  });
});

Deno.test("MX exchanges are lower-cased without trailing dot; null MX is empty", async () => {
  await withDns(async (_dns, resolver) => {
    const mx = okRecords(await resolver.lookup("example.test", "MX"));
    assert.deepEqual(mx.toSorted((x, y) => x.preference - y.preference), [
      { preference: 10, exchange: "mx1.example.test" },
      { preference: 20, exchange: "mx2.example.test" },
    ]);
    assert.deepEqual(okRecords(await resolver.lookup("nullmx.test", "MX")), [
      { preference: 0, exchange: "" },
    ]);
  });
});

Deno.test("TXT character-strings are joined with no separator, one string per record", async () => {
  await withDns(async (dns, resolver) => {
    const txt = okRecords(await resolver.lookup("example.test", "TXT"));
    assert.deepEqual(txt.toSorted(), ["second record", "v=spf1 ip4:192.0.2.0/24 -all"]);
    // 300 bytes: two character-strings (255 + 45), small enough for UDP.
    assert.deepEqual(okRecords(await resolver.lookup("long.test", "TXT")), ["a".repeat(300)]);
    // UTF-8 split by the server at 255 bytes, in the middle of a character, is rejoined.
    assert.deepEqual(okRecords(await resolver.lookup("utf8.test", "TXT")), ["é".repeat(200)]);
    assert.deepEqual(dns.queries.map((q) => q.transport), ["udp", "udp", "udp"]);
  });
});

Deno.test("TXT bytes that are not UTF-8 stay visible as non-ASCII", async () => {
  await withScripted((query, reply) => {
    const q = query.questions?.[0];
    if (!q) return;
    reply(answerTo(query, [{
      name: q.name,
      type: "TXT",
      ttl: 60,
      class: "IN",
      data: q.name === "bom.test"
        ? [Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("v=spf1")]
        : [Buffer.from([0x76, 0x3d, 0xff, 0x20]), Buffer.from("ok")],
    }]));
  }, async (resolver) => {
    const [txt] = okRecords(await resolver.lookup("bad.test", "TXT"));
    assert.equal(txt, "v=\ufffd ok");
    assert.ok([...(txt ?? "")].some((c) => c.charCodeAt(0) > 0x7f));
    // A leading byte-order mark is kept, not silently dropped.
    assert.deepEqual(okRecords(await resolver.lookup("bom.test", "TXT")), ["\ufeffv=spf1"]);
  });
});

Deno.test("a record too big for 1232 bytes is fetched over TCP", async () => {
  await withDns(async (dns, resolver) => {
    assert.deepEqual(okRecords(await resolver.lookup("big.test", "TXT")), [BIG]);
    assert.deepEqual(dns.queries, [
      { name: "big.test", type: "TXT", transport: "udp" },
      { name: "big.test", type: "TXT", transport: "tcp" },
    ]);
  });
});

Deno.test("a truncated UDP reply is retried over TCP on the same server", async () => {
  await withDns(async (dns, resolver) => {
    dns.setFault("example.test", "TXT", "truncate");
    const txt = okRecords(await resolver.lookup("example.test", "TXT"));
    assert.equal(txt.length, 2);
    assert.deepEqual(dns.queries.map((q) => q.transport), ["udp", "tcp"]);
  });
});

Deno.test("PTR and CNAME targets are lower-cased without trailing dot", async () => {
  await withDns(async (_dns, resolver) => {
    const ptr = await resolver.lookup(reverseName("192.0.2.1"), "PTR");
    assert.deepEqual(okRecords(ptr), ["host.example.test"]);
    // Asking for CNAME returns the CNAME itself, not its target's records.
    assert.deepEqual(okRecords(await resolver.lookup("alias.test", "CNAME")), ["mid.test"]);
  });
});

Deno.test("TLSA records come back as raw RDATA", async () => {
  const cert = new Uint8Array(32).map((_, i) => i);
  await withScripted((query, reply) => {
    reply(answerTo(query, [{
      name: "_25._tcp.mx.test",
      type: "TLSA",
      ttl: 60,
      class: "IN",
      data: { usage: 3, selector: 1, matchingType: 1, certificate: Buffer.from(cert) },
    }]));
  }, async (resolver) => {
    const [rdata] = okRecords(await resolver.lookup("_25._tcp.mx.test", "TLSA"));
    assert.deepEqual(rdata, new Uint8Array([3, 1, 1, ...cert]));
  });
});

// ---------------------------------------------------------------------------------------
// Absence and failure.

Deno.test("NODATA and NXDOMAIN are told apart", async () => {
  await withDns(async (_dns, resolver) => {
    assert.deepEqual(await resolver.lookup("mx1.example.test", "MX"), { kind: "nodata" });
    assert.deepEqual(await resolver.lookup("nope.example.test", "MX"), { kind: "nxdomain" });
    // An empty non-terminal exists (RFC 8020).
    assert.deepEqual(await resolver.lookup(reverseName("192.0.2.9"), "PTR"), {
      kind: "nxdomain",
    });
    assert.deepEqual(await resolver.lookup("2.0.192.in-addr.arpa", "PTR"), { kind: "nodata" });
  });
});

Deno.test("CNAME chains are followed to their end", async () => {
  await withDns(async (dns, resolver) => {
    const a = await resolver.lookup("ALIAS.test", "A");
    assert.deepEqual(a, { kind: "ok", records: ["192.0.2.25"], ttl: 30 });
    // The chain's CNAMEs bound the TTL too.
    const cached = await resolver.lookup("alias.test", "A");
    assert.equal(cached.kind === "ok" && cached.ttl, 30);
    // The target has no MX: NODATA, asking once more for the target to be sure.
    assert.deepEqual(await resolver.lookup("to-nodata.test", "MX"), { kind: "nodata" });
    // RFC 6604: NXDOMAIN for the end of the chain.
    assert.deepEqual(await resolver.lookup("dangling.test", "A"), { kind: "nxdomain" });
    assert.deepEqual(dns.queries.map((q) => `${q.name} ${q.type}`), [
      "alias.test A",
      "to-nodata.test MX",
      "mx1.example.test MX",
      "dangling.test A",
    ]);
  });
});

Deno.test("a CNAME chain leaving the answer is followed with another query", async () => {
  // An authoritative server answers only the CNAME it owns, with NOERROR.
  const asked: string[] = [];
  await withScripted((query, reply) => {
    const q = query.questions?.[0];
    if (!q) return;
    asked.push(`${q.name} ${q.type}`);
    if (q.name === "out.test") {
      reply(answerTo(query, [{ name: q.name, type: "CNAME", ttl: 50, data: "Far.Test." }]));
    } else if (q.name === "far.test") {
      reply(answerTo(query, [{ name: q.name, type: "A", ttl: 70, data: "198.51.100.7" }]));
    }
  }, async (resolver) => {
    assert.deepEqual(await resolver.lookup("out.test", "A"), {
      kind: "ok",
      records: ["198.51.100.7"],
      ttl: 50,
    });
    assert.deepEqual(asked, ["out.test A", "far.test A"]);
  });
});

Deno.test("CNAME loops and over-long chains are temporary failures", async () => {
  await withDns(async (_dns, resolver) => {
    assertTemporary(await resolver.lookup("loop1.test", "A"), /CNAME loop/);
  });
  // Each query answers only one hop: c0 -> c1 -> c2 -> ...
  let count = 0;
  await withScripted((query, reply) => {
    const q = query.questions?.[0];
    if (!q) return;
    count++;
    const n = Number(q.name.slice(1, q.name.indexOf(".")));
    reply(answerTo(query, [{ name: q.name, type: "CNAME", ttl: 60, data: `c${n + 1}.test` }]));
  }, async (resolver) => {
    assertTemporary(await resolver.lookup("c0.test", "A"), /too long/);
    assert.equal(count, 9, "the first query and eight follow-ups");
  });
  // A loop across follow-up queries ends too.
  await withScripted((query, reply) => {
    const q = query.questions?.[0];
    if (!q) return;
    const data = q.name === "x.test" ? "y.test" : "x.test";
    reply(answerTo(query, [{ name: q.name, type: "CNAME", ttl: 60, data }]));
  }, async (resolver) => {
    assertTemporary(await resolver.lookup("x.test", "A"), /CNAME loop at x\.test/);
  });
});

Deno.test("SERVFAIL and REFUSED are temporary", async () => {
  await withDns(async (dns, resolver) => {
    dns.setFault("example.test", "A", "servfail");
    dns.setFault("example.test", "MX", "refused");
    assertTemporary(await resolver.lookup("example.test", "A"), /SERVFAIL/);
    assertTemporary(await resolver.lookup("example.test", "MX"), /REFUSED/);
    // Two rounds over the one server.
    assert.equal(dns.queries.length, 4);
  }, { attempts: 2 });
});

Deno.test("a timeout is temporary, after about timeoutMs * attempts", async () => {
  await withDns(async (dns, resolver) => {
    dns.setFault("example.test", "*", "timeout");
    const started = performance.now();
    assertTemporary(await resolver.lookup("example.test", "A"), /timeout/);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 390 && elapsed < 1000, `took ${elapsed} ms`);
    assert.equal(dns.queries.length, 2);
  }, { timeoutMs: 200, attempts: 2 });
});

Deno.test("the next server is asked when one times out, fails or is closed", async () => {
  const first = await TestDnsServer.start({ records: ZONE });
  const second = await TestDnsServer.start({ records: ZONE });
  try {
    first.setFault("example.test", "*", "timeout");
    const resolver = new StubResolver({
      nameservers: [first, second].map((s) => ({ host: s.hostname, port: s.port })),
      timeoutMs: 200,
      cacheSize: 0,
    });
    const started = performance.now();
    assert.equal(okRecords(await resolver.lookup("example.test", "A")).length, 2);
    assert.ok(performance.now() - started >= 190);
    assert.equal(first.queries.length, 1);
    assert.equal(second.queries.length, 1);

    first.setFault("example.test", "*", "servfail");
    assert.equal(okRecords(await resolver.lookup("example.test", "A")).length, 2);
    assert.equal(second.queries.length, 2);

    const closed = new StubResolver({
      nameservers: [{ host: "127.0.0.1", port: await closedPort() }, {
        host: "127.0.0.1",
        port: second.port,
      }],
      timeoutMs: 200,
    });
    assert.equal(okRecords(await closed.lookup("example.test", "MX")).length, 2);
  } finally {
    await first.close();
    await second.close();
  }
});

Deno.test("a reply with the wrong ID is ignored and the right one accepted", async () => {
  await withDns(async (dns, resolver) => {
    dns.setFault("example.test", "A", "badid");
    const started = performance.now();
    assert.equal(okRecords(await resolver.lookup("example.test", "A")).length, 2);
    assert.ok(performance.now() - started >= 45, "waited for the second reply");
    assert.equal(dns.queries.length, 1);
  });
});

Deno.test("replies from another port or for another question are ignored", async () => {
  const forged: Answer = { name: "example.test", type: "A", ttl: 60, data: "203.0.113.66" };
  const real: Answer = { name: "example.test", type: "A", ttl: 60, data: "192.0.2.1" };
  await withScripted((query, reply, replyFromOtherPort) => {
    const q = query.questions?.[0];
    if (!q) return;
    replyFromOtherPort(answerTo(query, [forged]));
    reply(answerTo(query, [forged], { questions: [{ ...q, name: "other.test" }] }));
    reply(answerTo(query, [forged], { questions: [{ ...q, type: "AAAA" }] }));
    reply(answerTo(query, [forged], { questions: [{ ...q, class: "CH" }] }));
    reply(answerTo(query, [forged], { questions: [] }));
    reply(answerTo(query, [forged], { type: "query" }));
    reply(Buffer.from([0, 1, 2]));
    // The question name echoed in another case is still ours (RFC 4343).
    reply(answerTo(query, [real], { questions: [{ ...q, name: "EXAMPLE.test" }] }));
  }, async (resolver) => {
    assert.deepEqual(okRecords(await resolver.lookup("example.test", "A")), ["192.0.2.1"]);
  });
});

Deno.test("queries carry RD, a random ID and EDNS0 with 1232 bytes", async () => {
  const seen: DecodedPacket[] = [];
  await withScripted((query, reply) => {
    seen.push(query);
    reply(answerTo(query, []));
  }, async (resolver) => {
    for (const name of ["a.test", "b.test", "c.test", "d.test"]) {
      assert.deepEqual(await resolver.lookup(name, "A"), { kind: "nodata" });
    }
  });
  for (const query of seen) {
    assert.equal(query.flag_rd, true);
    const opt = query.additionals?.find((a): a is OptAnswer => a.type === "OPT");
    assert.equal(opt?.udpPayloadSize, 1232);
    assert.equal(opt?.ednsVersion, 0);
  }
  assert.ok(new Set(seen.map((q) => q.id)).size > 1, "IDs vary");
});

Deno.test("FORMERR without OPT: asked again without EDNS (RFC 6891 §7)", async () => {
  const withOpt: boolean[] = [];
  await withScripted((query, reply) => {
    const hasOpt = (query.additionals ?? []).some((a) => a.type === "OPT");
    withOpt.push(hasOpt);
    if (hasOpt) reply(answerTo(query, [], { flags: 1 }));
    else reply(answerTo(query, [{ name: "old.test", type: "A", ttl: 5, data: "192.0.2.5" }]));
  }, async (resolver) => {
    assert.deepEqual(okRecords(await resolver.lookup("old.test", "A")), ["192.0.2.5"]);
  });
  assert.deepEqual(withOpt, [true, false]);
});

// ---------------------------------------------------------------------------------------
// Names.

Deno.test("names: trailing dot and case do not matter", async () => {
  await withDns(async (dns, resolver) => {
    const one = await resolver.lookup("Example.TEST.", "AAAA");
    const two = await resolver.lookup("example.test", "AAAA");
    assert.deepEqual(okRecords(one), ["2001:db8::1"]);
    assert.deepEqual(two, one);
    assert.equal(dns.queries.length, 1, "the second lookup is served by the cache");
  });
});

Deno.test("invalid names never go on the wire", async () => {
  await withDns(async (dns, resolver) => {
    const invalid = [
      "",
      "a..test",
      ".test",
      "test..",
      "x".repeat(64) + ".test",
      Array(64).fill("abc").join("."), // 255 octets
      "é".repeat(32) + ".test", // 64 octets in UTF-8
    ];
    for (const name of invalid) {
      assert.deepEqual(await resolver.lookup(name, "A"), { kind: "nxdomain" }, name);
    }
    assert.deepEqual(dns.queries, []);
    // The longest valid name: 253 octets.
    const longest = Array(63).fill("abc").join(".") + ".a";
    assert.equal(longest.length, 253);
    assert.deepEqual(await resolver.lookup(longest + ".", "A"), { kind: "nxdomain" });
    assert.equal(dns.queries.length, 1);
  });
});

// ---------------------------------------------------------------------------------------
// Cache.

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

// ---------------------------------------------------------------------------------------
// Configuration.

Deno.test("systemNameservers parses resolv.conf", async () => {
  const path = await Deno.makeTempFile({ suffix: ".conf" });
  try {
    await Deno.writeTextFile(
      path,
      [
        "# generated",
        "; another comment",
        "search example.test",
        "nameserver 192.0.2.53 # inline comment",
        "nameserver\t2001:db8::53",
        "  nameserver fe80::1%eth0",
        "nameserver not-an-address",
        "nameserver 300.1.1.1",
        "#nameserver 192.0.2.99",
        "options ndots:1",
        "",
      ].join("\n"),
    );
    assert.deepEqual(await systemNameservers(path), [
      { host: "192.0.2.53", port: 53 },
      { host: "2001:db8::53", port: 53 },
      { host: "fe80::1", port: 53 },
    ]);
    await Deno.writeTextFile(path, "search example.test\n");
    assert.deepEqual(await systemNameservers(path), [{ host: "127.0.0.1", port: 53 }]);
  } finally {
    await Deno.remove(path);
  }
  assert.deepEqual(await systemNameservers(path), [{ host: "127.0.0.1", port: 53 }]);
});

Deno.test("the constructor rejects unusable configuration", () => {
  assert.throws(() => new StubResolver({ nameservers: [] }), TypeError);
  assert.throws(
    () => new StubResolver({ nameservers: [{ host: "dns.example", port: 53 }] }),
    TypeError,
  );
  assert.throws(() => new StubResolver({ nameservers: [{ host: "::1", port: 0 }] }), TypeError);
});

Deno.test("an IPv6 name server works", async () => {
  let dns: TestDnsServer;
  try {
    dns = await TestDnsServer.start({ hostname: "::1", records: ZONE });
  } catch {
    return; // No IPv6 loopback here.
  }
  try {
    const resolver = new StubResolver({ nameservers: [{ host: "::1", port: dns.port }] });
    assert.equal(okRecords(await resolver.lookup("example.test", "A")).length, 2);
    assert.equal(okRecords(await resolver.lookup("big.test", "TXT"))[0], BIG);
  } finally {
    await dns.close();
  }
});

// ---------------------------------------------------------------------------------------
// DenoResolver.

Deno.test("DenoResolver: records found, and every absence or SERVFAIL is nxdomain", async () => {
  await withDns(async (dns) => {
    const resolver = new DenoResolver({ nameservers: [{ host: dns.hostname, port: dns.port }] });
    const a = await resolver.lookup("example.test", "A");
    assert.deepEqual(okRecords(a).toSorted(), ["192.0.2.1", "192.0.2.2"]);
    const mx = okRecords(await resolver.lookup("Example.Test", "MX"));
    assert.deepEqual(mx.map((m) => m.exchange).toSorted(), [
      "mx1.example.test",
      "mx2.example.test",
    ]);
    assert.deepEqual(okRecords(await resolver.lookup("example.test", "TXT")).toSorted(), [
      "second record",
      "v=spf1 ip4:192.0.2.0/24 -all",
    ]);
    assert.deepEqual(await resolver.lookup("nope.example.test", "A"), { kind: "nxdomain" });
    // The documented caveat, measured: NODATA and SERVFAIL look the same as NXDOMAIN.
    assert.deepEqual(await resolver.lookup("mx1.example.test", "MX"), { kind: "nxdomain" });
    dns.setFault("example.test", "AAAA", "servfail");
    assert.deepEqual(await resolver.lookup("example.test", "AAAA"), { kind: "nxdomain" });
    assert.deepEqual(await resolver.lookup("a..test", "A"), { kind: "nxdomain" });
  });
});

// ---------------------------------------------------------------------------------------
// A scripted UDP server, for replies TestDnsServer cannot send.

type Reply = (packet: Uint8Array) => void;

/**
 * Runs `fn` with a resolver pointed at a UDP server that calls `handle` for each query.
 * `reply` answers from the server's address; `replyFromOtherPort` from another socket.
 */
async function withScripted(
  handle: (query: DecodedPacket, reply: Reply, replyFromOtherPort: Reply) => void,
  fn: (resolver: StubResolver) => Promise<void>,
  options: Options = {},
): Promise<void> {
  const bind = async () => {
    const sock = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", () => resolve()));
    return sock;
  };
  const server = await bind();
  const rogue = await bind();
  server.on("message", (msg: Buffer, peer: dgram.RemoteInfo) => {
    const send = (sock: dgram.Socket) => (packet: Uint8Array) =>
      sock.send(packet, peer.port, peer.address);
    handle(dnsPacket.decode(msg), send(server), send(rogue));
  });
  try {
    const nameservers = [{ host: "127.0.0.1", port: server.address().port }];
    await fn(new StubResolver({ timeoutMs: 500, attempts: 1, ...options, nameservers }));
  } finally {
    for (const sock of [server, rogue]) {
      await new Promise<void>((resolve) => sock.close(() => resolve()));
    }
  }
}

/** A reply to `query` with `answers`, RCODE 0 unless `flags` says otherwise. */
function answerTo(
  query: DecodedPacket,
  answers: Answer[],
  overrides: Partial<Parameters<typeof dnsPacket.encode>[0]> = {},
): Buffer {
  return dnsPacket.encode({
    type: "response",
    id: query.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: query.questions,
    answers,
    ...overrides,
  });
}
