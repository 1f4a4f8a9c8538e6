/**
 * DMARC conformance (../shared/conformance/dmarc/):
 *
 * - the Public Suffix List test vectors (`psl/tests.txt`, the same cases as `psl/test_psl.txt`)
 *   against the Organizational Domain code (RFC 7489 §3.2), printing
 *   "psl-conformance: P/T passed";
 * - the 35 RFC 7489 policy cases of `cases.json`, each run through a real DNS server on
 *   loopback and the real stub resolver, printing "dmarc-conformance: P/T passed".
 *
 * @module
 */
import assert from "node:assert/strict";
import { evaluateDmarc, organizationalDomain, registrableDomain } from "../../src/dmarc/dmarc.ts";
import { StubResolver } from "../../src/dns/stub_resolver.ts";
import { TestDnsServer, type ZoneRecord } from "../support/dns_server.ts";

const DATA = new URL("../../../shared/conformance/dmarc/", import.meta.url);

interface Case {
  id: string;
  description: string;
  from_domain: string;
  /** TXT records by owner name, or "TIMEOUT" for a name whose lookups time out. */
  dns: Record<string, string[] | "TIMEOUT">;
  spf: { result: string; domain: string } | null;
  dkim: { result: string; domain: string }[];
  expect: {
    result: string;
    policy: string | null;
    disposition: string | null;
    policy_domain: string | null;
  };
  rfc7489: string;
}

/**
 * Cases where we knowingly differ from cases.json, each with the RFC text that justifies it.
 * Empty: every case passes as written.
 */
const DEVIATIONS: Record<string, string> = {};

/** The two-column vectors of tests.txt: `<input> <expected>`, "null" for none. */
function parseTestsTxt(text: string): [string | null, string | null][] {
  const out: [string | null, string | null][] = [];
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("//")) continue;
    const [input, expected] = trimmed.split(/\s+/) as [string, string];
    out.push([input === "null" ? null : input, expected === "null" ? null : expected]);
  }
  return out;
}

/** The `checkPublicSuffix('a', 'b');` lines of test_psl.txt. */
function parseTestPsl(text: string): [string | null, string | null][] {
  const arg = (s: string) => s === "null" ? null : s.slice(1, -1);
  return [...text.matchAll(/^checkPublicSuffix\(([^,]+), ([^)]+)\);/gm)].map((m) => [
    arg(m[1]!),
    arg(m[2]!),
  ]);
}

function say(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}

Deno.test("PSL conformance: the publicsuffix.org test vectors", async (t) => {
  const vectors = parseTestsTxt(await Deno.readTextFile(new URL("psl/tests.txt", DATA)));
  const js = parseTestPsl(await Deno.readTextFile(new URL("psl/test_psl.txt", DATA)));
  assert.deepEqual(js, vectors, "tests.txt and test_psl.txt hold the same cases");
  let passed = 0;
  const failures: string[] = [];
  for (const [input, expected] of vectors) {
    const ok = await t.step(`${input} -> ${expected}`, () => {
      // A null input has no registrable domain; the function takes strings only.
      assert.equal(input === null ? null : registrableDomain(input), expected);
    });
    if (ok) passed++;
    else failures.push(String(input));
  }
  say(`psl-conformance: ${passed}/${vectors.length} passed`);
  assert.equal(vectors.length, 78, "78 active vectors");
  assert.deepEqual(failures, []);
});

Deno.test("PSL conformance: tldts agrees with the PSL snapshot's rules", () => {
  // Not a pass/fail vector set: the list embedded in tldts is newer than the snapshot, and
  // rules come and go. With tldts 7.6.0 every ICANN rule agrees, and 20 PRIVATE rules of the
  // snapshot are missing from tldts (presumably removed upstream since 2026-08-19). So the
  // package carries essentially the same list. A plain rule R must be the public suffix of
  // "x.R"; "*.R" must make "x.y.R" registrable; "!R" must make R registrable.
  const text = Deno.readTextFileSync(new URL("psl/public_suffix_list.dat", DATA));
  const counts = { ICANN: { agree: 0, total: 0 }, PRIVATE: { agree: 0, total: 0 } };
  let section: keyof typeof counts = "ICANN";
  const differ: string[] = [];
  for (const raw of text.split("\n")) {
    if (raw.includes("===BEGIN PRIVATE DOMAINS===")) section = "PRIVATE";
    const rule = raw.trim().split(/\s/)[0] ?? "";
    if (rule === "" || rule.startsWith("//")) continue;
    let ok: boolean;
    if (rule.startsWith("!")) {
      ok = registrableDomain(rule.slice(1)) !== null;
    } else if (rule.startsWith("*.")) {
      ok = organizationalDomain(`x.y.${rule.slice(2)}`) === `x.y.${rule.slice(2)}`;
    } else {
      ok = registrableDomain(rule) === null && organizationalDomain(`x.${rule}`) === `x.${rule}`;
    }
    counts[section].total++;
    if (ok) counts[section].agree++;
    else differ.push(rule);
  }
  const { ICANN: icann, PRIVATE: priv } = counts;
  say(
    `psl-snapshot-agreement: ICANN ${icann.agree}/${icann.total}, ` +
      `PRIVATE ${priv.agree}/${priv.total} rules; differ: ${differ.join(" ")}`,
  );
  assert.ok(icann.agree / icann.total > 0.995, "ICANN rules agree");
  assert.ok(priv.agree / priv.total > 0.98, "PRIVATE rules agree");
});

/** The zone of a case: TXT records, and names whose lookups time out. */
function zoneOf(dns: Case["dns"]): { records: ZoneRecord[]; timeouts: string[] } {
  const records: ZoneRecord[] = [];
  const timeouts: string[] = [];
  for (const [name, value] of Object.entries(dns)) {
    if (value === "TIMEOUT") timeouts.push(name);
    else for (const data of value) records.push({ name, type: "TXT", data });
  }
  return { records, timeouts };
}

Deno.test("DMARC conformance: the RFC 7489 cases through the loopback DNS server", async (t) => {
  const { cases } = JSON.parse(await Deno.readTextFile(new URL("cases.json", DATA))) as {
    cases: Case[];
  };
  let passed = 0;
  let total = 0;
  const failures: string[] = [];
  for (const c of cases) {
    if (c.id in DEVIATIONS) continue;
    total++;
    const dns = await TestDnsServer.start();
    try {
      const { records, timeouts } = zoneOf(c.dns);
      dns.setRecords(records);
      for (const name of timeouts) dns.setFault(name, "TXT", "timeout");
      const resolver = new StubResolver({
        nameservers: [{ host: dns.hostname, port: dns.port }],
        timeoutMs: 200,
        attempts: 1,
      });
      const ok = await t.step(`${c.id}: ${c.description}`, async () => {
        const out = await evaluateDmarc({ fromDomain: c.from_domain, spf: c.spf, dkim: c.dkim }, {
          resolver,
          // pct sampling is only tested at 0 and 100, where it is deterministic; a source
          // that would select every message shows that pct=0 never calls it.
          random: () => 0,
        });
        const got = {
          result: out.result,
          policy: out.policy ?? null,
          // cases.json writes null where DMARC does not apply; our disposition is then "none".
          disposition: out.result === "pass" || out.result === "fail" ? out.disposition : null,
          policy_domain: out.policyDomain ?? null,
        };
        assert.deepEqual(got, c.expect, `${c.id} (RFC 7489 ${c.rfc7489}): ${out.reason}`);
        if (got.disposition === null) assert.equal(out.disposition, "none");
        // RFC 7489 §6.6.3: only _dmarc.<From domain> and _dmarc.<Organizational Domain>.
        const from = c.from_domain.toLowerCase();
        const allowed = [`_dmarc.${from}`, `_dmarc.${organizationalDomain(from)}`];
        for (const q of dns.queries) {
          assert.ok(allowed.includes(q.name.toLowerCase()), `unexpected query ${q.name}`);
        }
      });
      if (ok) passed++;
      else failures.push(c.id);
    } finally {
      await dns.close();
    }
  }
  say(`dmarc-conformance: ${passed}/${total} passed`);
  assert.equal(cases.length, 35, "cases.json has 35 cases");
  assert.deepEqual(failures, []);
});
