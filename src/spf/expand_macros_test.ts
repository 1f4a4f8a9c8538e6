import assert from "node:assert/strict";
import { fakeResolver } from "./_testing.ts";
import { expandForTest } from "./expand_macros.ts";

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
