import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { answerTo, assertTemporary, okRecords, withDns, withScripted } from "./_testing.ts";
import { reverseName } from "./resolver.ts";
import { StubResolver, systemNameservers } from "./stub_resolver.ts";

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
// Absence and CNAME chains.

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

Deno.test("onTemporary hears of each lookup that failed temporarily, not of answers", async () => {
  const reasons: string[] = [];
  await withDns(async (_dns, resolver) => {
    okRecords(await resolver.lookup("example.test", "A"));
    assert.equal((await resolver.lookup("nothing.test", "A")).kind, "nxdomain");
    assertTemporary(await resolver.lookup("loop1.test", "A"), /CNAME loop/);
  }, { onTemporary: (r) => reasons.push(r) });
  assert.equal(reasons.length, 1, reasons.join());
  assert.match(reasons[0]!, /CNAME loop/);
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
