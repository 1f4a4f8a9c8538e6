/**
 * The openspf RFC 7208 test suite (../shared/conformance/spf/rfc7208-tests.yml), run through
 * a real DNS server on loopback and the real stub resolver: every scenario's zonedata becomes a
 * zone, every test a check_host() call. Prints "spf-conformance: P/T passed".
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { checkHost, type SpfResult } from "../../src/spf/spf.ts";
import { StubResolver } from "../../src/dns/stub_resolver.ts";
import { TestDnsServer } from "../support/dns_server.ts";
import { zoneFrom } from "../support/conformance.ts";

interface SuiteTest {
  description?: string;
  spec?: string;
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

/**
 * Tests where we knowingly differ from the suite, each with the RFC text that justifies it.
 * Empty: every test passes as written.
 */
const DEVIATIONS: Record<string, string> = {};

async function loadSuite(name: string): Promise<Scenario[]> {
  const url = new URL(`../../../shared/conformance/spf/${name}`, import.meta.url);
  return parseAllDocuments(await Deno.readTextFile(url)).map((d) => d.toJS() as Scenario);
}

async function runSuite(
  t: Deno.TestContext,
  scenarios: Scenario[],
  deviations: Record<string, string>,
): Promise<{ passed: number; total: number; failures: string[] }> {
  let passed = 0;
  let total = 0;
  const failures: string[] = [];
  for (const scenario of scenarios) {
    const dns = await TestDnsServer.start();
    const { records, faults } = zoneFrom(scenario.zonedata ?? {});
    dns.setRecords(records);
    for (const [name, type] of faults) dns.setFault(name, type, "timeout");
    const resolver = new StubResolver({
      nameservers: [{ host: dns.hostname, port: dns.port }],
      timeoutMs: 150,
      attempts: 1,
    });
    try {
      for (const [id, test] of Object.entries(scenario.tests)) {
        if (id in deviations) continue;
        total++;
        const ok = await t.step(`${scenario.description}: ${id}`, async () => {
          const sender = test.mailfrom === "" ? `postmaster@${test.helo}` : test.mailfrom;
          const domain = sender.slice(sender.lastIndexOf("@") + 1);
          const out = await checkHost(test.host, domain, sender, {
            resolver,
            helo: test.helo,
            receivingHost: "mx.receiver.test",
            defaultExplanation: "DEFAULT",
          });
          const expected = Array.isArray(test.result) ? test.result : [test.result];
          assert.ok(
            expected.includes(out.result),
            `${id} (RFC ${test.spec}): got ${out.result} (${out.reason}), ` +
              `expected ${expected.join(" or ")}`,
          );
          if (test.explanation !== undefined) assert.equal(out.explanation, test.explanation);
        });
        if (ok) passed++;
        else failures.push(id);
      }
    } finally {
      await dns.close();
    }
  }
  return { passed, total, failures };
}

function say(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}

Deno.test("SPF conformance: openspf RFC 7208 suite through the loopback DNS server", async (t) => {
  const r = await runSuite(t, await loadSuite("rfc7208-tests.yml"), DEVIATIONS);
  say(`spf-conformance: ${r.passed}/${r.total} passed`);
  assert.equal(r.total, 203, "the suite has 203 tests");
  assert.deepEqual(r.failures, []);
});

// The older suite lists both answers where RFC 7208 changed a rule, so it needs no deviation
// list either.
Deno.test("SPF conformance: the RFC 4408 suite", async (t) => {
  const r = await runSuite(t, await loadSuite("rfc4408-tests.yml"), {});
  say(`spf-conformance-rfc4408: ${r.passed}/${r.total} passed`);
  assert.equal(r.total, 191, "the suite has 191 tests");
  assert.deepEqual(r.failures, []);
});
