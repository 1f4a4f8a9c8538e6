import assert from "node:assert/strict";
// @ts-types="@types/dns-packet"
import type { DecodedPacket, OptAnswer } from "dns-packet";
import { TestDnsServer } from "../../tests/support/dns_server.ts";
import {
  answerTo,
  assertTemporary,
  BIG,
  closedPort,
  okRecords,
  withDns,
  withScripted,
  ZONE,
} from "./_testing.ts";
import { StubResolver } from "./stub_resolver.ts";

// ---------------------------------------------------------------------------------------
// TCP fallback.

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

// ---------------------------------------------------------------------------------------
// Failures, timeouts and the next server.

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
// EDNS0.

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
