import assert from "node:assert/strict";
import { okRecords, withDns } from "./_testing.ts";
import { DenoResolver } from "./deno_resolver.ts";

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
