import assert from "node:assert/strict";
import { type DmarcInput, type DmarcOptions, evaluateDmarc } from "./dmarc.ts";
import type { DnsResult, RecordType, RecordTypes, Resolver } from "../dns/resolver.ts";

/** An in-memory resolver: TXT records per name, names that fail, and a log of queries. */
function fakeResolver(
  txt: Record<string, string[]>,
  temporary: string[] = [],
): Resolver & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<RecordTypes[T]>> {
      const key = name.toLowerCase().replace(/\.$/, "");
      queries.push(`${type} ${key}`);
      if (temporary.includes(key)) {
        return Promise.resolve({ kind: "temporary", reason: "SERVFAIL" });
      }
      const found = txt[key];
      if (!found) return Promise.resolve({ kind: "nxdomain" });
      return Promise.resolve({ kind: "ok", records: found as RecordTypes[T][], ttl: 300 });
    },
  };
}

/** A random source that returns `values` in turn and counts its calls. */
function fixedRandom(...values: number[]): (() => number) & { calls: number } {
  const f = Object.assign(() => values[f.calls++ % values.length]!, { calls: 0 });
  return f;
}

function input(fromDomain: string, more: Partial<DmarcInput> = {}): DmarcInput {
  return { fromDomain, spf: null, dkim: [], ...more };
}

const EXAMPLE = { "_dmarc.example.com": ["v=DMARC1; p=reject"] };

async function run(
  txt: Record<string, string[]>,
  inp: DmarcInput,
  opts: Partial<DmarcOptions> = {},
) {
  return await evaluateDmarc(inp, { resolver: fakeResolver(txt), ...opts });
}

Deno.test("evaluateDmarc() passes on an aligned DKIM or SPF pass (RFC 7489 §4.2)", async () => {
  const dkim = await run(
    EXAMPLE,
    input("example.com", {
      dkim: [{ result: "pass", domain: "example.com" }],
    }),
  );
  assert.equal(dkim.result, "pass");
  assert.equal(dkim.alignedBy, "dkim");
  assert.equal(dkim.policy, "reject");
  assert.equal(dkim.disposition, "none");
  assert.equal(dkim.policyDomain, "example.com");
  assert.equal(dkim.pct, 100);
  assert.equal(dkim.record?.p, "reject");

  const spf = await run(
    EXAMPLE,
    input("example.com", {
      spf: { result: "pass", domain: "example.com" },
    }),
  );
  assert.equal(spf.result, "pass");
  assert.equal(spf.alignedBy, "spf");
});

Deno.test("evaluateDmarc() fails when nothing passes or nothing aligned passes", async () => {
  const cases: Partial<DmarcInput>[] = [
    {},
    { spf: { result: "fail", domain: "example.com" } },
    { spf: { result: "softfail", domain: "example.com" } },
    { spf: { result: "neutral", domain: "example.com" } },
    { spf: { result: "pass", domain: "example.net" } },
    { dkim: [{ result: "fail", domain: "example.com" }] },
    { dkim: [{ result: "pass", domain: "example.net" }] },
    { dkim: [{ result: "pass", domain: "com" }] },
    { dkim: [{ result: "pass", domain: "" }] },
  ];
  for (const more of cases) {
    const out = await run(EXAMPLE, input("example.com", more));
    assert.equal(out.result, "fail", JSON.stringify(more));
    assert.equal(out.disposition, "reject");
    assert.equal(out.alignedBy, undefined);
  }
  const out = await run(
    EXAMPLE,
    input("example.com", {
      dkim: [{ result: "pass", domain: "example.net" }],
    }),
  );
  assert.equal(
    out.reason,
    "DKIM d=example.net passes but is not aligned with example.com (adkim=r, aspf=r); " +
      "policy reject from _dmarc.example.com",
  );
});

Deno.test("evaluateDmarc() aligns relaxed by Organizational Domain, strict by name", async (t) => {
  const cases: [string, string, string, boolean][] = [
    // [record modes, From domain, authenticated domain, aligned]
    ["", "example.com", "mail.example.com", true],
    ["", "mail.example.com", "example.com", true],
    ["", "a.example.com", "b.example.com", true],
    ["", "Example.COM", "EXAMPLE.com.", true],
    ["", "example.co.uk", "co.uk", false],
    ["", "a.example.co.uk", "b.example.co.uk", true],
    ["", "a.example.com", "a.example.net", false],
    ["", "a.github.io", "b.github.io", false], // PRIVATE PSL section
    ["; adkim=s; aspf=s", "example.com", "mail.example.com", false],
    ["; adkim=s; aspf=s", "mail.example.com", "example.com", false],
    ["; adkim=s; aspf=s", "Example.COM", "example.com", true],
    ["; adkim=s; aspf=s", "bücher.example", "xn--bcher-kva.example", true],
    ["", "bücher.example", "mail.xn--bcher-kva.example", true],
  ];
  for (const [modes, from, domain, want] of cases) {
    const txt = {
      [`_dmarc.${from.toLowerCase()}`]: [`v=DMARC1; p=reject${modes}`],
      "_dmarc.xn--bcher-kva.example": [`v=DMARC1; p=reject${modes}`],
    };
    await t.step(`${from} vs ${domain}${modes}`, async () => {
      const dkim = await run(txt, input(from, { dkim: [{ result: "pass", domain }] }));
      assert.equal(dkim.result, want ? "pass" : "fail", `DKIM: ${dkim.reason}`);
      const spf = await run(txt, input(from, { spf: { result: "pass", domain } }));
      assert.equal(spf.result, want ? "pass" : "fail", `SPF: ${spf.reason}`);
    });
  }
});

Deno.test("evaluateDmarc() uses adkim for DKIM and aspf for SPF separately", async () => {
  const txt = { "_dmarc.example.com": ["v=DMARC1; p=reject; adkim=s"] };
  const sub = "mail.example.com";
  const dkim = await run(txt, input("example.com", { dkim: [{ result: "pass", domain: sub }] }));
  assert.equal(dkim.result, "fail");
  const spf = await run(txt, input("example.com", { spf: { result: "pass", domain: sub } }));
  assert.equal(spf.result, "pass");
});

Deno.test("evaluateDmarc() prefers DKIM; one aligned signature is enough", async () => {
  const out = await run(
    EXAMPLE,
    input("example.com", {
      spf: { result: "pass", domain: "example.com" },
      dkim: [
        { result: "pass", domain: "other.net" },
        { result: "fail", domain: "example.com" },
        { result: "PASS", domain: "example.com" },
      ],
    }),
  );
  assert.equal(out.result, "pass");
  assert.equal(out.alignedBy, "dkim");
});

Deno.test("evaluateDmarc() falls back to the Organizational Domain (§6.6.3 step 3)", async () => {
  const resolver = fakeResolver({ "_dmarc.example.com": ["v=DMARC1; p=reject; sp=quarantine"] });
  const out = await evaluateDmarc(input("a.b.example.com"), { resolver });
  assert.equal(out.result, "fail");
  assert.equal(out.policy, "quarantine");
  assert.equal(out.disposition, "quarantine");
  assert.equal(out.policyDomain, "example.com");
  // No tree walk: _dmarc.b.example.com is never asked.
  assert.deepEqual(resolver.queries, ["TXT _dmarc.a.b.example.com", "TXT _dmarc.example.com"]);
});

Deno.test("evaluateDmarc() applies sp= only to subdomains via the org record (§6.3)", async () => {
  const txt = {
    "_dmarc.example.com": ["v=DMARC1; p=none; sp=reject"],
    "_dmarc.own.example.com": ["v=DMARC1; p=quarantine; sp=none"],
  };
  // The Organizational Domain's own mail: p.
  assert.equal((await run(txt, input("example.com"))).policy, "none");
  // A subdomain without a record: sp of the org record.
  assert.equal((await run(txt, input("mail.example.com"))).policy, "reject");
  // A subdomain with its own record: its p, never its sp.
  const own = await run(txt, input("own.example.com"));
  assert.equal(own.policy, "quarantine");
  assert.equal(own.policyDomain, "own.example.com");
  // Without sp=, p applies to subdomains.
  const noSp = await run(EXAMPLE, input("mail.example.com"));
  assert.equal(noSp.policy, "reject");
});

Deno.test("evaluateDmarc() gives none without exactly one DMARC record (§6.6.3)", async () => {
  const resolver = fakeResolver({
    "_dmarc.mail.example.com": ["v=DMARC1; p=none", "v=DMARC1; p=reject"],
    "_dmarc.example.com": ["v=DMARC1; p=reject"],
  });
  const multiple = await evaluateDmarc(input("mail.example.com"), { resolver });
  assert.equal(multiple.result, "none");
  assert.equal(multiple.disposition, "none");
  assert.equal(multiple.policy, undefined);
  assert.equal(multiple.reason, "2 DMARC records at _dmarc.mail.example.com");
  // Step 5 ends discovery: several records do not send us to the Organizational Domain.
  assert.deepEqual(resolver.queries, ["TXT _dmarc.mail.example.com"]);

  const nothing = await run({}, input("mail.example.com"));
  assert.equal(nothing.result, "none");
  assert.equal(nothing.reason, "no DMARC record at _dmarc.mail.example.com or _dmarc.example.com");

  const other = await run({ "_dmarc.example.com": ["v=spf1 -all", "hello"] }, input("example.com"));
  assert.equal(other.result, "none");
  assert.equal(other.reason, "no DMARC record at _dmarc.example.com");
});

Deno.test("evaluateDmarc() has no fallback for a From domain that is a suffix", async () => {
  const resolver = fakeResolver({});
  const out = await evaluateDmarc(input("co.uk"), { resolver });
  assert.equal(out.result, "none");
  assert.deepEqual(resolver.queries, ["TXT _dmarc.co.uk"]);
});

Deno.test("evaluateDmarc() handles a missing or invalid p= as §6.6.3 step 6 says", async () => {
  const rua = "rua=mailto:dmarc@example.com";
  for (
    const rec of [
      `v=DMARC1; ${rua}`,
      `v=DMARC1; p=bogus; ${rua}`,
      `v=DMARC1; p=reject; sp=x; ${rua}`,
    ]
  ) {
    const out = await run({ "_dmarc.example.com": [rec] }, input("mail.example.com"));
    assert.equal(out.result, "fail", rec);
    assert.equal(out.policy, "none", rec);
    assert.equal(out.disposition, "none", rec);
    assert.match(out.reason, /treated as p=none/);
  }
  for (const rec of ["v=DMARC1", "v=DMARC1; p=bogus", "v=DMARC1; p=reject; sp=x; rua=bad"]) {
    const out = await run({ "_dmarc.example.com": [rec] }, input("example.com"));
    assert.equal(out.result, "none", rec);
    assert.equal(out.policyDomain, undefined, rec);
  }
});

Deno.test("evaluateDmarc() gives temperror when a _dmarc lookup fails temporarily", async () => {
  const atFrom = fakeResolver(EXAMPLE, ["_dmarc.mail.example.com"]);
  const out = await evaluateDmarc(input("mail.example.com"), { resolver: atFrom });
  assert.equal(out.result, "temperror");
  assert.equal(out.disposition, "none");
  assert.equal(out.policy, undefined);
  assert.equal(out.reason, "DNS lookup of _dmarc.mail.example.com TXT failed: SERVFAIL");
  // A failed lookup is not an empty set: no fallback to the Organizational Domain.
  assert.deepEqual(atFrom.queries, ["TXT _dmarc.mail.example.com"]);

  const atOrg = fakeResolver({}, ["_dmarc.example.com"]);
  const org = await evaluateDmarc(input("mail.example.com"), { resolver: atOrg });
  assert.equal(org.result, "temperror");
  assert.deepEqual(atOrg.queries, ["TXT _dmarc.mail.example.com", "TXT _dmarc.example.com"]);
});

Deno.test("evaluateDmarc() gives permerror for a From domain that is not a domain", async () => {
  for (const from of ["", ".", "[192.0.2.1]", "a..b", "exa mple.com"]) {
    const resolver = fakeResolver(EXAMPLE);
    const out = await evaluateDmarc(input(from), { resolver });
    assert.equal(out.result, "permerror", from);
    assert.equal(out.disposition, "none");
    assert.deepEqual(resolver.queries, []);
  }
});

Deno.test("evaluateDmarc() queries U-label From domains as A-labels (§6.6.1)", async () => {
  const resolver = fakeResolver({ "_dmarc.xn--85x722f.xn--fiqs8s": ["v=DMARC1; p=reject"] });
  const out = await evaluateDmarc(
    input("www.食狮.中国", {
      dkim: [{ result: "pass", domain: "食狮.中国" }],
    }),
    { resolver },
  );
  assert.equal(out.result, "pass");
  assert.equal(out.policyDomain, "xn--85x722f.xn--fiqs8s");
  assert.deepEqual(resolver.queries, [
    "TXT _dmarc.www.xn--85x722f.xn--fiqs8s",
    "TXT _dmarc.xn--85x722f.xn--fiqs8s",
  ]);
});

Deno.test("evaluateDmarc() samples failing mail with pct= (§6.6.4)", async (t) => {
  const cases: [string, number, string, boolean][] = [
    // [record, random value, disposition, sampled out]
    ["p=reject; pct=50", 0.49, "reject", false],
    ["p=reject; pct=50", 0.5, "quarantine", true],
    ["p=quarantine; pct=50", 0.3, "quarantine", false],
    ["p=quarantine; pct=50", 0.99, "none", true],
    ["p=reject; pct=1", 0, "reject", false],
    ["p=reject; pct=1", 0.01, "quarantine", true],
    ["p=reject; pct=99", 0.989, "reject", false],
    ["p=reject; pct=99", 0.99, "quarantine", true],
  ];
  for (const [rec, value, disposition, sampledOut] of cases) {
    await t.step(`${rec} with random ${value}`, async () => {
      const random = fixedRandom(value);
      const out = await run({ "_dmarc.example.com": [`v=DMARC1; ${rec}`] }, input("example.com"), {
        random,
      });
      assert.equal(out.result, "fail");
      assert.equal(out.disposition, disposition);
      assert.equal(out.sampledOut, sampledOut ? true : undefined);
      assert.equal(random.calls, 1);
    });
  }
});

Deno.test("evaluateDmarc() decides pct=0, pct=100, p=none without random()", async () => {
  const cases: [string, string][] = [
    ["p=reject; pct=0", "quarantine"],
    ["p=quarantine; pct=0", "none"],
    ["p=reject; pct=100", "reject"],
    ["p=quarantine", "quarantine"],
    ["p=none; pct=50", "none"],
  ];
  for (const [rec, disposition] of cases) {
    const random = fixedRandom(0.5);
    const out = await run({ "_dmarc.example.com": [`v=DMARC1; ${rec}`] }, input("example.com"), {
      random,
    });
    assert.equal(out.disposition, disposition, rec);
    assert.equal(random.calls, 0, rec);
  }
  // A message that passes is never sampled either.
  const random = fixedRandom(0.99);
  const pass = await run(
    { "_dmarc.example.com": ["v=DMARC1; p=reject; pct=10"] },
    input(
      "example.com",
      { dkim: [{ result: "pass", domain: "example.com" }] },
    ),
    { random },
  );
  assert.equal(pass.disposition, "none");
  assert.equal(random.calls, 0);
});

Deno.test("evaluateDmarc() applies the same pct share over many messages", async () => {
  let state = 1;
  const lcg = () => (state = (state * 48271) % 0x7fffffff) / 0x7fffffff;
  const resolver = fakeResolver({ "_dmarc.example.com": ["v=DMARC1; p=reject; pct=30"] });
  let rejected = 0;
  for (let i = 0; i < 2000; i++) {
    const out = await evaluateDmarc(input("example.com"), { resolver, random: lcg });
    if (out.disposition === "reject") rejected++;
    else assert.equal(out.disposition, "quarantine");
  }
  assert.ok(rejected > 500 && rejected < 700, `rejected ${rejected} of 2000`);
});
