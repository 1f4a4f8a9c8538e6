import assert from "node:assert/strict";
import { checkHost, expandForTest, inCidr } from "./spf.ts";
import type { DnsResult, RecordType, RecordTypes, Resolver } from "../dns/resolver.ts";

/** An in-memory resolver: records per "type name", plus names that fail temporarily. */
function fakeResolver(
  records: Record<string, unknown[]>,
  temporary: string[] = [],
): Resolver & { count: number } {
  const r = {
    count: 0,
    lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<RecordTypes[T]>> {
      r.count++;
      const key = `${type} ${name.toLowerCase().replace(/\.$/, "")}`;
      if (temporary.includes(key)) return Promise.resolve({ kind: "temporary", reason: "test" });
      const found = records[key];
      if (found) {
        return Promise.resolve({ kind: "ok", records: found as RecordTypes[T][], ttl: 60 });
      }
      const exists = Object.keys(records).some((k) => k.endsWith(` ${name.toLowerCase()}`));
      return Promise.resolve(exists ? { kind: "nodata" } : { kind: "nxdomain" });
    },
  };
  return r;
}

Deno.test("SPF macro expansion matches the RFC 7208 §7.4 examples", async (t) => {
  const opts = { resolver: fakeResolver({}), helo: "mx.example.org" };
  const v4 = {
    ip: "192.0.2.3",
    sender: "strong-bad@email.example.com",
    domain: "email.example.com",
  };
  const cases: [string, string][] = [
    ["%{s}", "strong-bad@email.example.com"],
    ["%{o}", "email.example.com"],
    ["%{d}", "email.example.com"],
    ["%{d4}", "email.example.com"],
    ["%{d3}", "email.example.com"],
    ["%{d2}", "example.com"],
    ["%{d1}", "com"],
    ["%{dr}", "com.example.email"],
    ["%{d2r}", "example.email"],
    ["%{l}", "strong-bad"],
    ["%{l-}", "strong.bad"],
    ["%{lr}", "strong-bad"],
    ["%{lr-}", "bad.strong"],
    ["%{l1r-}", "strong"],
    ["%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"],
    ["%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"],
    ["%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"],
    ["%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"],
    ["%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"],
    ["%%%_%-", "% %20"],
    ["%{S}", "strong-bad%40email.example.com"],
  ];
  for (const [macro, want] of cases) {
    await t.step(macro, async () => {
      assert.equal(await expandForTest(macro, v4, opts), want);
    });
  }
  await t.step("IPv6 %{ir}.%{v}._spf.%{d2}", async () => {
    assert.equal(
      await expandForTest("%{ir}.%{v}._spf.%{d2}", { ...v4, ip: "2001:db8::cb01" }, opts),
      "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com",
    );
  });
  await t.step("%{c} %{r} %{t} only in explanations", async () => {
    await assert.rejects(expandForTest("%{c}", v4, opts));
    const now = () => new Date(1_700_000_000_000);
    assert.equal(
      await expandForTest("%{c} %{r} %{t}", { ...v4, exp: true }, {
        ...opts,
        receivingHost: "mx.us",
        now,
      }),
      "192.0.2.3 mx.us 1700000000",
    );
  });
});

Deno.test("inCidr() compares IPv4 and IPv6 prefixes, never across families", () => {
  assert.ok(inCidr("192.0.2.130", "192.0.2.128", 25));
  assert.ok(!inCidr("192.0.2.127", "192.0.2.128", 25));
  assert.ok(inCidr("2001:db8::1", "2001:db8::", 32));
  assert.ok(!inCidr("2001:db9::1", "2001:db8::", 32));
  assert.ok(inCidr("10.0.0.1", "192.0.2.1", 0));
  assert.ok(!inCidr("192.0.2.1", "::", 0));
});

Deno.test("checkHost() gives pass, fail with explanation, softfail, neutral and none", async () => {
  const resolver = fakeResolver({
    "TXT example.org": ["v=spf1 ip4:192.0.2.0/24 a:mail.example.org -all exp=why.example.org"],
    "TXT why.example.org": ["%{i} is not one of %{d}'s servers"],
    "A mail.example.org": ["198.51.100.7"],
    "TXT soft.example": ["v=spf1 ~all"],
    "TXT neutral.example": ["v=spf1 ?all"],
    "TXT nospf.example": ["some other text"],
  });
  const opts = { resolver, helo: "client.example.net" };
  const pass = await checkHost("192.0.2.9", "example.org", "a@example.org", opts);
  assert.equal(pass.result, "pass");
  assert.equal(
    (await checkHost("198.51.100.7", "example.org", "a@example.org", opts)).result,
    "pass",
  );
  const fail = await checkHost("203.0.113.5", "example.org", "a@example.org", opts);
  assert.equal(fail.result, "fail");
  assert.equal(fail.explanation, "203.0.113.5 is not one of example.org's servers");
  assert.equal(
    (await checkHost("203.0.113.5", "soft.example", "a@soft.example", opts)).result,
    "softfail",
  );
  assert.equal(
    (await checkHost("203.0.113.5", "neutral.example", "a@neutral.example", opts)).result,
    "neutral",
  );
  assert.equal(
    (await checkHost("203.0.113.5", "nospf.example", "a@nospf.example", opts)).result,
    "none",
  );
  assert.equal(
    (await checkHost("203.0.113.5", "missing.example", "a@missing.example", opts)).result,
    "none",
  );
});

Deno.test("checkHost() reports DNS trouble as temperror, never as an absence", async () => {
  const resolver = fakeResolver(
    { "TXT example.org": ["v=spf1 a:broken.example.org -all"] },
    ["TXT down.example", "A broken.example.org"],
  );
  const opts = { resolver, helo: "h.example" };
  assert.equal(
    (await checkHost("192.0.2.1", "down.example", "a@down.example", opts)).result,
    "temperror",
  );
  assert.equal(
    (await checkHost("192.0.2.1", "example.org", "a@example.org", opts)).result,
    "temperror",
  );
});

Deno.test("checkHost() enforces the RFC 7208 §4.6.4 limits", async () => {
  const records: Record<string, unknown[]> = {
    "TXT many.example": [
      "v=spf1 " + Array.from({ length: 11 }, (_, i) => `include:i${i}.example`).join(" ") + " -all",
    ],
    "TXT void.example": ["v=spf1 a:n1.example a:n2.example a:n3.example -all"],
  };
  for (let i = 0; i < 11; i++) records[`TXT i${i}.example`] = ["v=spf1 -all"];
  const opts = { resolver: fakeResolver(records), helo: "h.example" };
  assert.equal(
    (await checkHost("192.0.2.1", "many.example", "a@many.example", opts)).result,
    "permerror",
  );
  assert.equal(
    (await checkHost("192.0.2.1", "void.example", "a@void.example", opts)).result,
    "permerror",
  );
});
