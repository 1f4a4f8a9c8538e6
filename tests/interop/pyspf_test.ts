/**
 * Interop: pyspf (Debian's python3-spf) and our checkHost() evaluate the same sample of the
 * openspf RFC 7208 suite (../shared/conformance/spf/rfc7208-tests.yml) against the same
 * loopback DNS server, and must agree on every result.
 *
 * One python process per scenario gets the scenario's cases as JSON on stdin
 * (fixtures/pyspf_eval.py). That script points whichever DNS library pyspf picked (pydns or
 * dnspython) at 127.0.0.1:PORT and refuses every other destination, and the test checks that
 * pyspf's queries did arrive at the server, so the system resolver is never consulted.
 *
 * Needs /usr/bin/python3 with pyspf: apt-get install python3-spf (which pulls python3-dns and
 * python3-authres). A missing peer fails the test; it never skips. Prints
 * "pyspf-interop: N/M agree".
 *
 * @module
 */
import { DEBIAN_PYTHON } from "../support/requirements.ts";
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { checkHost, type SpfResult } from "../../src/spf/spf.ts";
import { StubResolver } from "../../src/dns/stub_resolver.ts";
import { TestDnsServer } from "../support/dns_server.ts";
import { FIXTURES, run } from "./tools.ts";
import { zoneFrom } from "../support/conformance.ts";

/** Debian's interpreter: a pyenv `python3` on PATH would not see python3-spf. */
const PYTHON = DEBIAN_PYTHON;
const HOW_TO_INSTALL = "apt-get install python3-spf (pulls python3-dns, python3-authres)";
/** Every SAMPLE_EVERY-th suite test, plus the first test of any scenario left out. */
const SAMPLE_EVERY = 4;
/** Per-lookup timeouts: pyspf's (seconds) and ours (ms). The server answers in milliseconds. */
const PYSPF_TIMEOUT_S = 1;
const OUR_TIMEOUT_MS = 500;
const RECEIVER = "mx.receiver.test";
const DEFAULT_EXPLANATION = "DEFAULT";

/**
 * Sampled tests where we and pyspf knowingly differ, for the DNS backend pyspf runs on: what
 * each side says and why, with the RFC 7208 text. The test fails if a listed case stops
 * differing in exactly this way.
 */
const DISAGREEMENTS: Record<
  string,
  { backend: string; ours: SpfResult; pyspf: string; why: string }
> = {
  "a-dash-in-toplabel": {
    backend: "DNSLookup_pydns",
    ours: "pass",
    pyspf: "fail",
    why: "pyspf deviates from the suite (which expects pass). RFC 7208 §7.1: " +
      '"toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) ' +
      'alphanum )", so "a:foo.example.xn--zckzah" is valid; §5.3: "If any address ' +
      'matches, the mechanism matches", and foo.example.xn--zckzah has A 1.2.3.4. ' +
      "python3-dns (pydns 3.2.1) returns answer owner names IDNA-decoded " +
      '("foo.example.テスト"); pyspf 2.0.14 files answers under the owner name and then finds ' +
      'nothing under ("foo.example.xn--zckzah", "A"), so it reaches -all. On the dnspython ' +
      "backend, which keys answers by the queried name, pyspf says pass like us.",
  },
};

interface SuiteTest {
  helo: string;
  host: string;
  mailfrom: string;
  result: SpfResult | SpfResult[];
  explanation?: string;
}

interface Scenario {
  description: string;
  tests: Record<string, SuiteTest>;
  zonedata?: Record<string, unknown[]>;
}

interface Case {
  id: string;
  ip: string;
  sender: string;
  helo: string;
  expected: string[];
}

interface PyspfOutput {
  backend: string;
  results: { id: string; result: string; explanation: string }[];
  violations: string[];
}

async function loadSuite(): Promise<Scenario[]> {
  const url = new URL("../../../shared/conformance/spf/rfc7208-tests.yml", import.meta.url);
  return parseAllDocuments(await Deno.readTextFile(url)).map((d) => d.toJS() as Scenario);
}

/** The deterministic sample: per scenario, its cases in suite order. */
function sample(scenarios: Scenario[]): { scenario: Scenario; cases: Case[] }[] {
  let index = 0;
  return scenarios.map((scenario) => {
    const all = Object.entries(scenario.tests).map(([id, t]) => {
      const sender = t.mailfrom === "" ? `postmaster@${t.helo}` : t.mailfrom;
      const expected = Array.isArray(t.result) ? t.result : [t.result];
      return {
        id,
        ip: t.host,
        sender,
        helo: t.helo,
        expected,
        picked: index++ % SAMPLE_EVERY === 0,
      };
    });
    const picked = all.filter((c) => c.picked);
    const cases = (picked.length > 0 ? picked : all.slice(0, 1)).map(({ picked: _, ...c }) => c);
    return { scenario, cases };
  });
}

/** Run pyspf on `cases` against the DNS server on 127.0.0.1:`port`. */
async function pyspf(port: number, cases: Case[]): Promise<PyspfOutput> {
  try {
    await Deno.stat(PYTHON);
  } catch {
    throw new Error(`pyspf-interop: ${PYTHON} is missing; ${HOW_TO_INSTALL}. Never skipped.`);
  }
  const r = await run(PYTHON, {
    // -I: ignore PYTHON* variables and the user site, so only Debian's packages are seen.
    args: ["-I", `${FIXTURES}pyspf_eval.py`],
    stdin: JSON.stringify({
      port,
      timeout: PYSPF_TIMEOUT_S,
      receiver: RECEIVER,
      default_explanation: DEFAULT_EXPLANATION,
      cases: cases.map(({ id, ip, sender, helo }) => ({ id, ip, sender, helo })),
    }),
    timeoutMs: 20_000 + cases.length * 3_000,
  });
  if (r.code === 3) {
    throw new Error(`pyspf-interop: ${PYTHON} cannot import spf; ${HOW_TO_INSTALL}\n${r.stderr}`);
  }
  if (r.code !== 0) {
    throw new Error(
      `pyspf_eval.py exited with ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
  return JSON.parse(r.stdout) as PyspfOutput;
}

function say(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}

Deno.test("pyspf agrees with checkHost() on a sample of the RFC 7208 suite", async (t) => {
  const scenarios = await loadSuite();
  const plan = sample(scenarios);
  const total = plan.reduce((n, p) => n + p.cases.length, 0);
  assert.ok(total >= 40, `sample of ${total} tests is too small`);
  for (const id of Object.keys(DISAGREEMENTS)) {
    assert.ok(plan.some((p) => p.cases.some((c) => c.id === id)), `${id} is not sampled`);
  }

  let agree = 0;
  let documented = 0;
  const backends = new Set<string>();
  const problems: string[] = [];
  for (const { scenario, cases } of plan) {
    await t.step(`${scenario.description} (${cases.length})`, async () => {
      const dns = await TestDnsServer.start();
      try {
        const { records, faults } = zoneFrom(scenario.zonedata ?? {});
        dns.setRecords(records);
        for (const [name, type] of faults) dns.setFault(name, type, "timeout");
        const resolver = new StubResolver({
          nameservers: [{ host: dns.hostname, port: dns.port }],
          timeoutMs: OUR_TIMEOUT_MS,
          attempts: 1,
        });
        const ours = new Map<string, { result: string; explanation?: string; reason: string }>();
        for (const c of cases) {
          const domain = c.sender.slice(c.sender.lastIndexOf("@") + 1);
          ours.set(
            c.id,
            await checkHost(c.ip, domain, c.sender, {
              resolver,
              helo: c.helo,
              receivingHost: RECEIVER,
              defaultExplanation: DEFAULT_EXPLANATION,
            }),
          );
        }
        const before = dns.queries.length;
        const py = await pyspf(dns.port, cases);
        backends.add(py.backend);
        assert.deepEqual(py.violations, [], "pyspf tried to reach another DNS server");
        assert.ok(dns.queries.length > before, "no query from pyspf reached the test server");
        assert.deepEqual(py.results.map((r) => r.id), cases.map((c) => c.id));

        for (const [i, c] of cases.entries()) {
          const us = ours.get(c.id)!;
          const them = py.results[i]!;
          const listed = DISAGREEMENTS[c.id];
          const known = listed?.backend === py.backend ? listed : undefined;
          const where = `${c.id} (ip ${c.ip}, sender ${c.sender}, helo ${c.helo}; ` +
            `suite expects ${c.expected.join(" or ")})`;
          if (known) {
            documented++;
            if (us.result !== known.ours || them.result !== known.pyspf) {
              problems.push(
                `${where}: documented as ours=${known.ours} pyspf=${known.pyspf}, ` +
                  `now ours=${us.result} pyspf=${them.result}; update DISAGREEMENTS`,
              );
            }
          } else if (us.result !== them.result) {
            problems.push(
              `${where}: ours=${us.result} (${us.reason}), pyspf=${them.result} ` +
                `(${them.explanation})`,
            );
          } else if (us.result === "fail" && us.explanation !== them.explanation) {
            problems.push(
              `${where}: both fail, explanation ours=${JSON.stringify(us.explanation)} ` +
                `pyspf=${JSON.stringify(them.explanation)}`,
            );
          } else agree++;
        }
      } finally {
        await dns.close();
      }
    });
  }

  say(
    `pyspf-interop: ${agree}/${total} agree, ${documented} documented disagreement(s) ` +
      `(pyspf DNS backend: ${[...backends].join(", ")})`,
  );
  assert.deepEqual(problems, []);
  assert.equal(agree + documented, total);
});
