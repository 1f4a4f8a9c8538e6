import assert from "node:assert/strict";
import { validateConfig } from "../config/config.ts";
import { StubResolver } from "../dns/stub_resolver.ts";
import { TestDnsServer, type ZoneRecord } from "../../tests/support/dns_server.ts";
import { parseZone } from "../../tests/support/zone.ts";
import { checkDomain } from "./check.ts";
import { formatZone, recommendedRecords } from "./records.ts";

const config = validateConfig(
  {
    hostname: "mx.example.test",
    domains: ["example.test"],
    outbound: { source_ipv4: "127.0.0.1", source_ipv6: "::1" },
  },
  "(test)",
  "/tmp",
);

const keys = [
  { selector: "rsa2026a", dnsRecord: "v=DKIM1; k=rsa; p=" + "A".repeat(300) + "QAB" },
  {
    selector: "ed2026a",
    dnsRecord: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
  },
];

async function run(records: ZoneRecord[], extra?: (dns: TestDnsServer) => void) {
  const dns = await TestDnsServer.start();
  try {
    dns.setRecords(records);
    extra?.(dns);
    const resolver = new StubResolver({
      nameservers: [{ host: dns.hostname, port: dns.port }],
      timeoutMs: 300,
      attempts: 1,
    });
    return await checkDomain(config, "example.test", { resolver, keys, dnsbl: ["dnsbl.test"] });
  } finally {
    await dns.close();
  }
}

const zoneText = formatZone(recommendedRecords(config, "example.test", keys));
const ZONE = parseZone(zoneText);

function notOk(items: { what: string; status: string }[]): string[] {
  return items.filter((i) => i.status !== "OK").map((i) => `${i.status} ${i.what}`);
}

Deno.test("postie dns output pasted into a zone makes postie check report all OK", async () => {
  assert.match(zoneText, /^; Mail for example\.test is delivered/m);
  assert.match(zoneText, /^example\.test\. 3600 IN MX 10 mx\.example\.test\.$/m);
  assert.match(
    zoneText,
    /^example\.test\. 3600 IN TXT "v=spf1 ip4:127\.0\.0\.1 ip6:::1 mx -all"$/m,
  );
  assert.match(zoneText, /^_dmarc\.example\.test\. 3600 IN TXT "v=DMARC1; p=quarantine;/m);
  assert.match(zoneText, /^1\.0\.0\.127\.in-addr\.arpa\. 3600 IN PTR mx\.example\.test\.$/m);
  // A long DKIM key is split into 255-octet strings.
  assert.match(zoneText, /^rsa2026a\._domainkey\.example\.test\. 3600 IN TXT "[^"]{255}" "/m);
  const items = await run(ZONE);
  assert.deepEqual(notOk(items), []);
  assert.ok(items.some((i) => i.what === "DNSBL dnsbl.test 127.0.0.1"));
  assert.ok(items.some((i) => i.what === "PTR ::1"));
});

Deno.test("postie check reports exactly the record that is broken", async (t) => {
  const without = (pred: (r: ZoneRecord) => boolean) => ZONE.filter((r) => !pred(r));
  const replace = (pred: (r: ZoneRecord) => boolean, r: ZoneRecord) => [...without(pred), r];
  const cases: [string, ZoneRecord[], string[], ((d: TestDnsServer) => void)?][] = [
    ["no MX", without((r) => r.type === "MX"), ["MISSING MX"]],
    [
      "MX elsewhere",
      replace((r) => r.type === "MX", {
        name: "example.test",
        type: "MX",
        data: { preference: 10, exchange: "mail.other.test" },
      }),
      ["WRONG MX"],
    ],
    ["no SPF", without((r) => r.type === "TXT" && r.name === "example.test"), ["MISSING SPF"]],
    [
      "SPF without our address",
      replace((r) => r.type === "TXT" && r.name === "example.test", {
        name: "example.test",
        type: "TXT",
        data: "v=spf1 ip4:192.0.2.1 -all",
      }),
      ["WRONG SPF"],
    ],
    [
      "SPF +all",
      replace((r) => r.type === "TXT" && r.name === "example.test", {
        name: "example.test",
        type: "TXT",
        data: "v=spf1 +all",
      }),
      ["WRONG SPF"],
    ],
    ["no DKIM key", without((r) => r.name.startsWith("ed2026a.")), ["MISSING DKIM ed2026a"]],
    [
      "another DKIM key",
      replace((r) => r.name.startsWith("ed2026a."), {
        name: "ed2026a._domainkey.example.test",
        type: "TXT",
        data: "v=DKIM1; k=ed25519; p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      }),
      ["WRONG DKIM ed2026a"],
    ],
    ["no DMARC", without((r) => r.name === "_dmarc.example.test"), ["MISSING DMARC"]],
    [
      "bad DMARC",
      replace((r) => r.name === "_dmarc.example.test", {
        name: "_dmarc.example.test",
        type: "TXT",
        data: "v=DMARC1; p=maybe",
      }),
      ["WRONG DMARC"],
    ],
    [
      "PTR elsewhere",
      replace((r) => r.type === "PTR" && r.name.endsWith("in-addr.arpa"), {
        name: "1.0.0.127.in-addr.arpa",
        type: "PTR",
        data: "host-127-0-0-1.vps.example",
      }),
      ["WRONG PTR 127.0.0.1"],
    ],
    [
      "listed on a DNSBL",
      [...ZONE, { name: "1.0.0.127.dnsbl.test", type: "A", data: "127.0.0.2" }],
      ["WRONG DNSBL dnsbl.test 127.0.0.1"],
    ],
    [
      "DNS failure is an error, not an absence",
      ZONE,
      ["ERROR DMARC"],
      (d) => d.setFault("_dmarc.example.test", "TXT", "servfail"),
    ],
  ];
  for (const [name, zone, want, extra] of cases) {
    await t.step(name, async () => {
      assert.deepEqual(notOk(await run(zone, extra)), want);
    });
  }
});
