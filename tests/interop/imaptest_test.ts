/**
 * Dovecot's imaptest against postie's IMAP server: the scripted compliance suite (71 groups in
 * `../shared/tools/imaptest/tests/`), over implicit TLS (993's listener), as a throw-away
 * account (the scripts delete and create mailboxes). No group may fail and none may be skipped.
 * Then the stress mode: 10 clients log in, select, fetch, store, expunge and append at random on
 * one mailbox for 30 s while imaptest checks what each of them must see; it must report no
 * error.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startTestServer, TEST_PASSWORD, type TestServer } from "../support/harness.ts";
import { syntheticMbox } from "./imap.ts";
import { run } from "./tools.ts";

const TOOLS = fileURLToPath(new URL("../../../shared/tools/imaptest/", import.meta.url));
const ACCOUNT = "imaptest@example.test";

/** The summary imaptest prints after the scripted groups. */
interface ScriptSummary {
  groups: number;
  failed: number;
  skipped: number;
  baseFailed: number;
  extensionFailed: number;
}

function parseSummary(out: string): ScriptSummary | null {
  const g = /(\d+) test groups: (\d+) failed, (\d+) skipped/.exec(out);
  const b = /base protocol: (\d+)\/\d+ individual commands failed/.exec(out);
  const e = /extensions: (\d+)\/\d+ individual commands failed/.exec(out);
  if (!g || !b || !e) return null;
  return {
    groups: Number(g[1]),
    failed: Number(g[2]),
    skipped: Number(g[3]),
    baseFailed: Number(b[1]),
    extensionFailed: Number(e[1]),
  };
}

async function imaptest(t: TestServer, args: string[], timeoutMs: number) {
  return await run(`${TOOLS}run.sh`, {
    args: [
      "host=127.0.0.1",
      `port=${t.port("imaps")}`,
      "ssl=any-cert",
      `user=${ACCOUNT}`,
      `pass=${TEST_PASSWORD}`,
      ...args,
    ],
    timeoutMs,
  });
}

Deno.test({
  name: "imaptest: every scripted compliance group passes against postie (IMAPS)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await startTestServer({ accounts: [ACCOUNT] });
    try {
      const r = await imaptest(t, [`test=${TOOLS}tests/`], 600_000);
      const summary = parseSummary(r.stdout);
      assert.ok(summary, `no imaptest summary:\n${r.stdout.slice(-4000)}\n${r.stderr}`);
      assert.equal(summary.groups, 71);
      assert.equal(summary.skipped, 0, "groups skipped for a capability postie does not offer");
      assert.equal(summary.failed, 0, r.stdout.slice(-8000));
      assert.equal(summary.baseFailed + summary.extensionFailed, 0, r.stdout.slice(-8000));
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "imaptest stress: 10 clients for 30 s report no protocol error",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await startTestServer({ accounts: [ACCOUNT] });
    const mbox = await Deno.makeTempFile({ suffix: ".mbox" });
    try {
      await Deno.writeTextFile(mbox, syntheticMbox(300, ACCOUNT));
      const r = await imaptest(t, [`mbox=${mbox}`, "clients=10", "secs=30"], 120_000);
      const errors = (r.stdout + r.stderr).split("\n").filter((l) => /error/i.test(l));
      assert.deepEqual(errors, [], r.stdout.slice(-4000));
      // The totals count what was done: logins, selects, fetches and appends must have happened.
      const totals = r.stdout.slice(r.stdout.lastIndexOf("Totals:"));
      const header = /Logi\s+List\s+Stat\s+Sele\s+Fetc\s+Fet2\s+Stor\s+Dele\s+Expu\s+Appe\s+Logo/;
      assert.match(totals, header, r.stdout.slice(-4000));
      const counts = totals.trim().split("\n").at(-1)!.trim().split(/\s+/).map(Number);
      assert.equal(counts.length, 11, totals);
      for (const [i, name] of ["login", "select", "fetch", "append"].entries()) {
        const n = counts[[0, 3, 4, 9][i]!]!;
        assert.ok(n > 10, `only ${n} ${name} commands in 30 s:\n${totals}`);
      }
    } finally {
      await Deno.remove(mbox);
      await t.close();
    }
  },
});
