import assert from "node:assert/strict";
import { resolveDestination } from "./route.ts";
import { StubResolver } from "../dns/stub_resolver.ts";
import { TestDnsServer } from "../../tests/support/dns_server.ts";

async function withDns(
  fn: (r: StubResolver, dns: TestDnsServer) => Promise<void>,
): Promise<void> {
  const dns = await TestDnsServer.start();
  try {
    await fn(
      new StubResolver({
        nameservers: [{ host: dns.hostname, port: dns.port }],
        timeoutMs: 200,
        attempts: 1,
      }),
      dns,
    );
  } finally {
    await dns.close();
  }
}

Deno.test("resolveDestination() orders MX by preference, IPv6 first, shuffles equals", async () => {
  await withDns(async (r, dns) => {
    dns.setRecords([
      { name: "b.example", type: "MX", data: { preference: 20, exchange: "backup.b.example" } },
      { name: "b.example", type: "MX", data: { preference: 10, exchange: "mx1.b.example" } },
      { name: "b.example", type: "MX", data: { preference: 10, exchange: "mx2.b.example" } },
      { name: "mx1.b.example", type: "A", data: "192.0.2.1" },
      { name: "mx1.b.example", type: "AAAA", data: "2001:db8::1" },
      { name: "mx2.b.example", type: "A", data: "192.0.2.2" },
      { name: "backup.b.example", type: "A", data: "192.0.2.3" },
    ]);
    const first = await resolveDestination(r, "b.example", () => 0.99);
    const second = await resolveDestination(r, "b.example", () => 0);
    assert.ok(first.kind === "ok" && second.kind === "ok");
    assert.deepEqual(first.hops.at(-1), { name: "backup.b.example", addresses: ["192.0.2.3"] });
    const names = new Set([first.hops[0]!.name, second.hops[0]!.name]);
    assert.deepEqual(names, new Set(["mx1.b.example", "mx2.b.example"]), "both orders happen");
    const mx1 = first.hops.find((h) => h.name === "mx1.b.example")!;
    assert.deepEqual(mx1.addresses, ["2001:db8::1", "192.0.2.1"]);
  });
});

Deno.test("resolveDestination() handles implicit MX, null MX, NXDOMAIN, SERVFAIL, literals", async () => {
  await withDns(async (r, dns) => {
    dns.setRecords([
      { name: "implicit.example", type: "A", data: "192.0.2.9" },
      { name: "null.example", type: "MX", data: { preference: 0, exchange: "." } },
      { name: "noaddr.example", type: "MX", data: { preference: 10, exchange: "nowhere.example" } },
      { name: "down.example", type: "A", data: "192.0.2.10" },
    ]);
    dns.setFault("down.example", "MX", "servfail");
    assert.deepEqual(await resolveDestination(r, "implicit.example"), {
      kind: "ok",
      hops: [{ name: "implicit.example", addresses: ["192.0.2.9"] }],
    });
    const nul = await resolveDestination(r, "null.example");
    assert.ok(nul.kind === "permanent" && nul.status === "5.1.10", JSON.stringify(nul));
    const nx = await resolveDestination(r, "missing.example");
    assert.ok(nx.kind === "permanent" && nx.status === "5.1.2");
    const none = await resolveDestination(r, "noaddr.example");
    assert.ok(none.kind === "permanent" && none.status === "5.4.4");
    assert.equal((await resolveDestination(r, "down.example")).kind, "temporary");
    assert.deepEqual(await resolveDestination(r, "[192.0.2.7]"), {
      kind: "ok",
      hops: [{ name: "192.0.2.7", addresses: ["192.0.2.7"] }],
    });
    assert.deepEqual(await resolveDestination(r, "[ipv6:2001:db8::7]"), {
      kind: "ok",
      hops: [{ name: "2001:db8::7", addresses: ["2001:db8::7"] }],
    });
  });
});
