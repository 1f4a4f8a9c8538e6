/**
 * Interop: forwarding with SRS through real peers, on loopback with one shared DNS server.
 *
 * - postie A (a.test, the account alice@a.test) signs what alice submits and sends from
 *   127.0.0.2; a.test publishes `v=spf1 ip4:127.0.0.2 -all`, its DKIM keys and DMARC p=reject.
 * - postie B (b.test) forwards: the aliases me@b.test → me@c.test and nobody@b.test →
 *   nobody@c.test; it sends from 127.0.0.3; b.test publishes `v=spf1 ip4:127.0.0.3 -all` and
 *   its DKIM keys.
 * - A private Postfix (postfix/postfix.ts) on 127.0.0.1 is the MX of c.test with one virtual
 *   Maildir, me@c.test: it answers 550 for nobody@c.test at RCPT.
 *
 * Every MTA listens on the same port of its own loopback address, so all of them find each
 * other by MX (outbound.port is one number). What is proven, with the receiving side's tools:
 *
 * 1. A copy reaches me@c.test with an SRS0 Return-Path at b.test that B reverses to
 *    alice@a.test; pyspf (Debian's python3-spf) gives that sender `pass` from 127.0.0.3 and
 *    the original sender `fail` (why SRS is needed); dkimpy (python3-dkim) verifies alice's
 *    a.test signatures and B's b.test signatures on the delivered file; `Delivered-To:
 *    me@b.test` is there and the message is unchanged below the trace fields.
 * 2. Postfix refuses the target: B's DSN goes to the SRS address, is reversed and arrives in
 *    alice's Maildir at A as a multipart/report naming nobody@c.test with a 5.x.x status.
 * 3. With `forwarding.srs: false` (B reloaded with that config) the copy keeps alice@a.test
 *    as its Return-Path and pyspf says `fail` at the destination: the README's warning holds.
 *
 * Needs root (Postfix), postfix, openssl, /usr/bin/python3 with python3-spf and python3-dkim;
 * a missing one fails the test, it never skips.
 *
 * Run: deno test --allow-net --allow-read --allow-write --allow-env --allow-run \
 *        --allow-sys=hostname,statfs tests/interop/forward_interop_test.ts
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadDomainKeys } from "../../src/dkim/mod.ts";
import { Srs } from "../../src/forward/srs.ts";
import { loadSrsSecrets } from "../../src/forward/srs_secrets.ts";
import { QueueStore } from "../../src/queue/store.ts";
import {
  serverCert,
  SmtpTestClient,
  startTestServer,
  TEST_PASSWORD,
  type TestServer,
} from "../support/harness.ts";
import { TestDnsServer, type ZoneRecord } from "../support/dns_server.ts";
import { DEBIAN_PYTHON } from "../support/requirements.ts";
import { waitFor } from "../support/wait.ts";
import { type PostfixStopReport, type RunningPostfix, startPostfix } from "./postfix/postfix.ts";
import { FIXTURES, run } from "./tools.ts";

const A_IP = "127.0.0.2";
const B_IP = "127.0.0.3";
const POSTFIX_IP = "127.0.0.1";
const B_HELO = "mx.b.test";

/** Body lines; one starts with a dot, so dot-stuffing is exercised on every hop. */
const BODY = ["Forward me, please.", ".a line that starts with a dot", "", "Thanks."];

function uniqueSubject(what: string): string {
  return `forward interop ${what} ${crypto.randomUUID()}`;
}

function submittedHeader(to: string, subject: string): string {
  return `From: Alice <alice@a.test>\r\nTo: <${to}>\r\nSubject: ${subject}\r\n`;
}

/** alice@a.test submits one message to A (STARTTLS, AUTH PLAIN). */
async function submitAsAlice(a: TestServer, to: string, subject: string): Promise<void> {
  const client = await SmtpTestClient.connect(a.port("submission"));
  const expect = async (line: string | null, code: number) => {
    const r = line === null ? await client.reply() : await client.cmd(line);
    assert.equal(r.code, code, `${line ?? "greeting"}: ${r.raw}`);
  };
  try {
    await expect(null, 220);
    await expect("EHLO laptop.a.test", 250);
    assert.equal((await client.starttls(await serverCert(a), "mx.a.test")).code, 220);
    await expect("EHLO laptop.a.test", 250);
    await expect(`AUTH PLAIN ${btoa(`\0alice@a.test\0${TEST_PASSWORD}`)}`, 235);
    await expect("MAIL FROM:<alice@a.test>", 250);
    await expect(`RCPT TO:<${to}>`, 250);
    await expect("DATA", 354);
    const stuffed = BODY.map((l) => (l.startsWith(".") ? "." : "") + l).join("\r\n");
    await client.send(`${submittedHeader(to, subject)}\r\n${stuffed}\r\n.\r\n`);
    await expect(null, 250);
    await expect("QUIT", 221);
  } finally {
    client.close();
  }
}

/** Messages in postie's outbound queue, once the spool has handed everything over. */
async function queued(t: TestServer): Promise<number> {
  await t.server.spool.idle();
  const q = await QueueStore.open(t.dataDir);
  try {
    return q.list().length;
  } finally {
    q.close();
  }
}

/** The one new file in a Postfix Maildir whose text includes `needle`. */
async function postfixMail(pf: RunningPostfix, address: string, needle: string) {
  return await waitFor(`a message with ${needle} for ${address} at Postfix`, async () => {
    for (const f of await pf.newMail(address)) {
      const text = await Deno.readTextFile(f);
      if (text.includes(needle)) return { file: f, text };
    }
    return undefined;
  }, 20_000).catch(async (e) => {
    throw new Error(`${(e as Error).message}\n${await pf.log()}`);
  });
}

/** The header block of a message (LF or CRLF), unfolded, as [name, value] pairs in order. */
function headerFields(text: string): [string, string][] {
  const head = text.split(/\r?\n\r?\n/, 1)[0]!.replace(/\r?\n[ \t]/g, " ");
  return head.split(/\r?\n/).map((l) => {
    const i = l.indexOf(":");
    return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
  });
}

/** The zone a.test and b.test publish (SPF, DKIM, DMARC), and the MX of every domain. */
async function publish(dns: TestDnsServer, a: TestServer, b: TestServer): Promise<Zone> {
  const dkim: Record<string, string> = {};
  for (const [t, domain] of [[a, "a.test"], [b, "b.test"]] as const) {
    for (const k of await loadDomainKeys(t.dataDir, domain)) {
      dkim[`${k.selector}._domainkey.${domain}`] = k.dnsRecord;
    }
  }
  const mx = (domain: string, ip: string): ZoneRecord[] => [
    { name: domain, type: "MX", data: { preference: 10, exchange: `mx.${domain}` } },
    { name: `mx.${domain}`, type: "A", data: ip },
  ];
  dns.setRecords([
    ...mx("a.test", A_IP),
    ...mx("b.test", B_IP),
    ...mx("c.test", POSTFIX_IP),
    { name: "a.test", type: "TXT", data: `v=spf1 ip4:${A_IP} -all` },
    { name: "b.test", type: "TXT", data: `v=spf1 ip4:${B_IP} -all` },
    { name: "_dmarc.a.test", type: "TXT", data: "v=DMARC1; p=reject" },
    ...Object.entries(dkim).map(([name, data]) => ({ name, type: "TXT" as const, data })),
  ]);
  return { dkim };
}

interface Zone {
  /** The published DKIM key records by owner name. */
  dkim: Record<string, string>;
}

/** pyspf's verdict for mail from `ip` with `sender` and `helo`, through the test DNS server. */
async function pyspf(
  dns: TestDnsServer,
  cases: { id: string; ip: string; sender: string; helo: string }[],
): Promise<Record<string, string>> {
  const r = await run(DEBIAN_PYTHON, {
    // -I: only Debian's packages (python3-spf), no PYTHON* variables, no user site.
    args: ["-I", `${FIXTURES}pyspf_eval.py`],
    stdin: JSON.stringify({
      port: dns.port,
      timeout: 1,
      receiver: "mx.c.test",
      default_explanation: "DEFAULT",
      cases,
    }),
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, `pyspf_eval.py (python3-spf): ${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout) as {
    results: { id: string; result: string; explanation: string }[];
    violations: string[];
  };
  assert.deepEqual(out.violations, [], "pyspf asked nothing but the test DNS server");
  return Object.fromEntries(out.results.map((x) => [x.id, x.result]));
}

/** dkimpy's verdict on each DKIM-Signature of `message`, in order, with its d= tag. */
async function dkimpy(message: string, zone: Zone): Promise<{ d: string; ok: boolean }[]> {
  const bytes = new TextEncoder().encode(message);
  const r = await run(DEBIAN_PYTHON, {
    args: ["-I", `${FIXTURES}dkimpy_tool.py`],
    stdin: JSON.stringify({
      jobs: [{ op: "verify", message: btoa(String.fromCharCode(...bytes)), dns: zone.dkim }],
    }),
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, `dkimpy_tool.py (python3-dkim): ${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout) as { out: { results: { ok: boolean; error: string }[] }[] };
  const results = out.out[0]!.results;
  const domains = headerFields(message).filter(([n]) => n === "dkim-signature").map(([, v]) =>
    /(?:^|;)\s*d=([^;\s]+)/.exec(v)?.[1] ?? "?"
  );
  assert.equal(results.length, domains.length, JSON.stringify(results));
  for (const [i, x] of results.entries()) assert.ok(x.ok, `signature d=${domains[i]}: ${x.error}`);
  return results.map((x, i) => ({ d: domains[i]!, ok: x.ok }));
}

/** The Postfix log must show no trouble and no lookup of any name. */
function assertCleanPostfixLog(log: string): void {
  assert.doesNotMatch(log, /\b(warning|error|fatal|panic):/, log);
  assert.doesNotMatch(log, /not found|lookup|name service|resolv|getaddrinfo/i, log);
}

function assertPostfixGone(report: PostfixStopReport | undefined): void {
  assert.ok(report, "Postfix was stopped");
  assert.equal(report.code, 0, "postfix stop succeeded");
  assert.deepEqual(report.survivors, [], "no Postfix process outlives the test");
  assert.equal(report.listening, false, "Postfix's listener is closed");
  assert.ok(report.dirRemoved, "Postfix's directory was removed");
}

Deno.test("forwarding with SRS through postie B to Postfix: SPF, DKIM, bounces, srs off", async (t) => {
  let dns: TestDnsServer | undefined;
  let postfix: RunningPostfix | undefined;
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  let bDir: string | undefined;
  let report: PostfixStopReport | undefined;
  const errors: unknown[] = [];
  try {
    dns = await TestDnsServer.start();
    postfix = await startPostfix({ hostname: "mx.c.test", mailboxes: ["me@c.test"] });
    const port = postfix.port;
    const common = {
      outbound: { port },
      queue: { retry_initial: "1s", retry_max: "1s" },
      auth: { failure_delay_ms: 0 },
    };
    a = await startTestServer({
      dns,
      config: {
        ...common,
        hostname: "mx.a.test",
        domains: ["a.test"],
        outbound: { port, source_ipv4: A_IP },
        listen: { smtp: [`${A_IP}:${port}`], imap: [], imaps: [], submissions: [] },
      },
      accounts: ["alice@a.test"],
    });
    bDir = await Deno.makeTempDir({ prefix: "postie-forwarder-" });
    const startB = (srs: boolean) =>
      startTestServer({
        dns,
        dataDir: bDir,
        config: {
          ...common,
          hostname: B_HELO,
          domains: ["b.test"],
          aliases: { "me@b.test": "me@c.test", "nobody@b.test": "nobody@c.test" },
          outbound: { port, source_ipv4: B_IP },
          forwarding: { srs },
          listen: {
            smtp: [`${B_IP}:${port}`],
            submission: [],
            submissions: [],
            imap: [],
            imaps: [],
          },
        },
        accounts: [],
      });
    b = await startB(true);
    const zone = await publish(dns, a, b);
    const pf = postfix;
    const [aa, d] = [a, dns];
    let bb = b;

    await t.step("1. the copy at Postfix: SRS sender, SPF pass, both DKIM signatures", async () => {
      const subject = uniqueSubject("srs");
      await submitAsAlice(aa, "me@b.test", subject);
      const { text } = await postfixMail(pf, "me@c.test", subject);
      const fields = headerFields(text);

      // Postfix's own trace first: the envelope as it saw it, B connecting from 127.0.0.3.
      const returnPath = /^Return-Path: <([^>]*)>\n/.exec(text)?.[1];
      assert.ok(returnPath, text);
      const srs = /^(SRS0=[^=]{4}=[A-Z2-7]{2}=a\.test=alice)@b\.test$/i.exec(returnPath);
      assert.ok(srs, `Return-Path ${returnPath} is an SRS0 address at b.test`);
      assert.match(
        text,
        new RegExp(
          "^Return-Path: <[^>]+>\\nX-Original-To: me@c\\.test\\nDelivered-To: me@c\\.test\\n" +
            `Received: from mx\\.b\\.test \\(unknown \\[127\\.0\\.0\\.3\\]\\)\\n`,
        ),
      );
      // B's secret reverses it to alice.
      const rev = new Srs({ secrets: await loadSrsSecrets(bb.dataDir), domain: "b.test" })
        .reverse(srs[1]!);
      assert.deepEqual(rev, { ok: true, address: "alice@a.test" });

      // Right below Postfix's trace: B's Delivered-To, B's trace (A came from 127.0.0.2 and
      // passed SPF, DKIM and DMARC there), B's signature, then the message as A sent it.
      const afterPostfix = fields.findIndex(([n]) => n === "received") + 1;
      assert.deepEqual(fields[afterPostfix], ["delivered-to", "me@b.test"], text);
      const bReceived = fields.find(([n, v]) => n === "received" && /by mx\.b\.test/.test(v));
      assert.match(bReceived?.[1] ?? "", /^from mx\.a\.test \(\[127\.0\.0\.2\]\)/, text);
      const ar = fields.find(([n, v]) => n === "authentication-results" && /^mx\.b\.test/.test(v));
      assert.match(ar?.[1] ?? "", /spf=pass smtp\.mailfrom=alice@a\.test/, text);
      assert.match(ar?.[1] ?? "", /dmarc=pass/, text);

      // SPF at the destination: the SRS sender passes from B's address, alice would not.
      const spf = await pyspf(d, [
        { id: "srs", ip: B_IP, sender: returnPath, helo: B_HELO },
        { id: "original", ip: B_IP, sender: "alice@a.test", helo: B_HELO },
      ]);
      assert.deepEqual(spf, { srs: "pass", original: "fail" });

      // DKIM at the destination: B's two signatures (d=b.test) above alice's two (d=a.test).
      const sigs = await dkimpy(text, zone);
      assert.deepEqual(sigs.map((s) => s.d), ["b.test", "b.test", "a.test", "a.test"]);

      // The message below the trace fields is what alice sent (LF: Postfix stores lines so).
      for (const line of submittedHeader("me@b.test", subject).split("\r\n")) {
        if (line !== "") assert.ok(text.includes(`\n${line}\n`), `header line ${line}`);
      }
      assert.ok(text.endsWith(`\n\n${BODY.join("\n")}\n`), text);
      assert.equal((await pf.newMail("me@c.test")).length, 1, "exactly one copy");
      await waitFor("B's queue to empty", async () => (await queued(bb)) === 0 || undefined);
    });

    await t.step(
      "2. Postfix refuses the target: the DSN comes back to alice through SRS",
      async () => {
        const subject = uniqueSubject("bounce");
        await submitAsAlice(aa, "nobody@b.test", subject);
        const dsn = await waitFor("the DSN in alice's Maildir at A", async () => {
          for (const f of await aa.newMail("alice@a.test")) {
            const text = await Deno.readTextFile(f);
            if (text.includes(subject)) return text;
          }
          return undefined;
        }, 20_000).catch(async (e) => {
          throw new Error(`${(e as Error).message}\n${await pf.log()}`);
        });
        assert.match(dsn, /^Return-Path: <>\r\nDelivered-To: alice@a\.test\r\n/);
        // B wrote it (its HELO and address in A's trace) and sent it to alice, not to SRS0.
        assert.match(dsn, /\r\nReceived: from mx\.b\.test \(\[127\.0\.0\.3\]\)\r\n/);
        assert.match(dsn, /From: Mail Delivery System <MAILER-DAEMON@mx\.b\.test>/);
        assert.match(dsn, /To: <?alice@a\.test>?\r\n/);
        assert.match(dsn, /Content-Type: multipart\/report; report-type=delivery-status/);
        assert.match(dsn, /Final-Recipient: rfc822; ?nobody@c\.test/);
        assert.match(dsn, /Action: failed/);
        assert.match(dsn, /Status: 5\.\d{1,3}\.\d{1,3}/);
        assert.match(dsn, /Diagnostic-Code: smtp; ?550 5\.1\.1 <nobody@c\.test>/);
        // What Postfix refused: B's copy, from the SRS address (so the bounce was B's to undo).
        assert.match(
          await pf.log(),
          new RegExp(
            "NOQUEUE: reject: RCPT from unknown\\[127\\.0\\.0\\.3\\]: 550 5\\.1\\.1 " +
              "<nobody@c\\.test>: [^;]*; from=<SRS0=[^=]{4}=[A-Z2-7]{2}=a\\.test=alice@b\\.test> " +
              "to=<nobody@c\\.test> proto=ESMTP helo=<mx\\.b\\.test>",
            "i",
          ),
        );
        assert.deepEqual(await pf.newMail("me@c.test").then((f) => f.length), 1, "no new copy");
        await waitFor("B's queue to empty", async () => (await queued(bb)) === 0 || undefined);
        await waitFor("A's queue to empty", async () => (await queued(aa)) === 0 || undefined);
      },
    );

    await t.step("3. forwarding.srs: false: the original sender, and SPF fails", async () => {
      // A restart with the changed config: it also ends A's cached connection to B, whose
      // session would keep the old config (a reload applies to new sessions only).
      const old = bb;
      b = undefined;
      await old.close();
      b = bb = await startB(false);
      assert.equal(bb.config.forwarding.srs, false);
      const subject = uniqueSubject("no srs");
      await submitAsAlice(aa, "me@b.test", subject);
      const { text } = await postfixMail(pf, "me@c.test", subject);
      assert.match(text, /^Return-Path: <alice@a\.test>\nX-Original-To: me@c\.test\n/);
      assert.match(text, /\nReceived: from mx\.b\.test \(unknown \[127\.0\.0\.3\]\)\n/);
      assert.match(text, /\nDelivered-To: me@b\.test\n/);
      const spf = await pyspf(d, [{ id: "x", ip: B_IP, sender: "alice@a.test", helo: B_HELO }]);
      assert.deepEqual(spf, { x: "fail" });
      // DKIM still verifies: only the envelope differs.
      const sigs = await dkimpy(text, zone);
      assert.deepEqual(sigs.map((s) => s.d), ["b.test", "b.test", "a.test", "a.test"]);
      await waitFor("B's queue to empty", async () => (await queued(bb)) === 0 || undefined);
    });

    const log = await pf.log();
    assertCleanPostfixLog(log);
    assert.match(log, /connect from unknown\[127\.0\.0\.3\]/);
    assert.doesNotMatch(log, /connect from unknown\[127\.0\.0\.2\]/, "A never talks to Postfix");
    assert.deepEqual(await pf.queue(), [], "Postfix's queue is empty");
  } finally {
    if (postfix) report = await postfix.stop().catch((e) => (errors.push(e), undefined));
    for (const s of [a, b]) await s?.close().catch((e) => errors.push(e));
    await dns?.close().catch((e) => errors.push(e));
    if (bDir) await Deno.remove(bDir, { recursive: true }).catch((e) => errors.push(e));
  }
  if (errors.length > 0) throw errors[0];
  assertPostfixGone(report);
});
