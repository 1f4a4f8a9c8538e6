import assert from "node:assert/strict";
import { SpfAbort } from "./_context.ts";
import { parseRecord } from "./spf_record.ts";

Deno.test("parseRecord() reads qualifiers, domain specs, CIDR lengths and modifiers", () => {
  const r = parseRecord(
    "v=spf1 ip4:192.0.2.0/24 -a:mail.example.org/28//64 ~mx ?ptr ip6:2001:db8::/32 " +
      "include:_spf.%{d2} exists:%{ir}.x.example -all redirect=other.example exp=why.example " +
      "x-unknown=%{c}",
  );
  assert.deepEqual(
    r.mechanisms.map((m) => [m.kind, m.qualifier, m.domainSpec ?? m.network, m.cidr4, m.cidr6]),
    [
      ["ip4", "pass", "192.0.2.0", 24, 128],
      ["a", "fail", "mail.example.org", 28, 64],
      ["mx", "softfail", undefined, 32, 128],
      ["ptr", "neutral", undefined, 32, 128],
      ["ip6", "pass", "2001:db8::", 32, 32],
      ["include", "pass", "_spf.%{d2}", 32, 128],
      ["exists", "pass", "%{ir}.x.example", 32, 128],
      ["all", "fail", undefined, 32, 128],
    ],
  );
  assert.deepEqual(r.redirect, "other.example");
  assert.deepEqual(r.exp, "why.example");
});

Deno.test("parseRecord() turns every syntax error into a permerror", () => {
  for (
    const text of [
      "v=spf1 redirect=a.example redirect=b.example",
      "v=spf1 ip4:192.0.2.0/33",
      "v=spf1 ip4:192.0.2.300",
      "v=spf1 ip6:2001:db8::/129",
      "v=spf1 a/08",
      "v=spf1 include:",
      "v=spf1 all:x.example",
      "v=spf1 a:%{c}.example",
      "v=spf1 a:x.example.123",
      "v=spf1 exists:%{q}.example",
      "v=spf1 foo:bar.example",
    ]
  ) {
    assert.throws(
      () => parseRecord(text),
      (e) => e instanceof SpfAbort && e.result === "permerror",
      text,
    );
  }
});
