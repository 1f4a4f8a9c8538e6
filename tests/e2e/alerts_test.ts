/**
 * The story end to end: an account's password "leaks", a burst of submissions to external
 * addresses hits the rate limit (451), the rest of its queued mail is held, the alert is in the
 * postmaster's Maildir (once), release works, and a locked account cannot log in. Also the
 * other alerts: password guessing, a blocklisted address (a loopback DNS zone lists our IP),
 * receivers refusing our mail, a full queue, low disk space.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { TestDnsServer } from "../support/dns_server.ts";
import {
  serverCert,
  SmtpTestClient,
  startTestServer,
  TEST_PASSWORD,
  type TestServer,
} from "../support/harness.ts";
import { freePort } from "../support/wait.ts";
import { QueueStore } from "../../src/queue/store.ts";
import { AccountStore } from "../../src/accounts/store.ts";

async function alerts(t: TestServer): Promise<string[]> {
  await t.server.spool.idle();
  const dir = join(t.dataDir, "mail", "example.test", "owner", "new");
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const text = await Deno.readTextFile(join(dir, e.name));
      if (/\r\nSubject: \[postie\] /.test(text)) out.push(text); // alerts, not other mail
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

async function waitFor(
  cond: () => Promise<boolean>,
  ms = 20_000,
  seen: () => Promise<string> = () => Promise.resolve(""),
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out; ${await seen()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function start(config: Record<string, unknown> = {}, dns?: TestDnsServer) {
  return startTestServer({
    ...(dns ? { dns } : {}),
    config: {
      aliases: { "postmaster@example.test": "owner@example.test" },
      auth: { failure_delay_ms: 0 },
      ...config,
    },
    accounts: ["owner@example.test", "mallory@example.test"],
  });
}

async function login(t: TestServer, user: string, password = TEST_PASSWORD) {
  const c = await SmtpTestClient.connect(t.port("submission"));
  await c.reply();
  await c.cmd("EHLO laptop.example");
  await c.starttls(await serverCert(t));
  await c.cmd("EHLO laptop.example");
  const auth = await c.cmd(`AUTH PLAIN ${btoa(`\0${user}\0${password}`)}`);
  return { c, auth };
}

Deno.test("a leaked password: the burst hits the limit, queued mail is held, the owner is told, release works", async () => {
  const t = await start({
    rate_limits: { messages_per_hour: 3 },
    // The receivers are down: what was accepted stays in the queue.
    outbound: {
      routes: { "victims.example": { host: "127.0.0.1", port: await freePort(), tls: "none" } },
    },
  });
  try {
    const { c, auth } = await login(t, "mallory@example.test");
    assert.equal(auth.code, 235);
    const replies: number[] = [];
    for (let i = 0; i < 6; i++) {
      await c.cmd("RSET");
      const m = await c.cmd("MAIL FROM:<mallory@example.test>");
      if (m.code !== 250) {
        replies.push(m.code);
        assert.match(m.raw, /4\.7\.1 Rate limit/);
        continue;
      }
      assert.equal((await c.cmd(`RCPT TO:<victim${i}@victims.example>`)).code, 250);
      assert.equal((await c.cmd("DATA")).code, 354);
      const r = await c.cmd(
        `From: mallory@example.test\r\nSubject: cheap pills ${i}\r\n\r\nbuy\r\n.`,
      );
      replies.push(r.code);
    }
    c.close();
    assert.deepEqual(replies, [250, 250, 250, 451, 451, 451]);
    await waitFor(async () => (await alerts(t)).length > 0);
    await new Promise((r) => setTimeout(r, 200));
    const mails = await alerts(t);
    assert.equal(mails.length, 1, "one alert, not one per refusal");
    const alert = mails[0]!;
    assert.match(
      alert,
      /Subject: \[postie\] mallory@example\.test reached its sending limit; its queued mail is held/,
    );
    assert.match(alert, /submitted 3 message\(s\)/);
    assert.match(alert, /127\.0\.0\.1: 1 login\(s\)/);
    assert.match(alert, /postie queue release --account mallory@example\.test/);
    assert.match(alert, /postie user lock mallory@example\.test/);
    assert.match(alert, /Its 3 message\(s\) still waiting in the outbound queue are held/);

    const q = await QueueStore.open(t.dataDir);
    try {
      const mine = q.list().filter((m) => m.account === "mallory@example.test");
      assert.equal(mine.length, 3);
      assert.ok(mine.every((m) => m.held?.startsWith("rate limit")), "held");
      assert.equal(q.due(new Date(Date.now() + 86400_000)).length, 0, "nothing is due");
      assert.equal(q.release({ account: "mallory@example.test" }), 3);
      assert.equal(q.due(new Date(Date.now() + 1000)).length, 3);
    } finally {
      q.close();
    }

    // postie user lock: the account cannot log in, even with the right password.
    const accounts = await AccountStore.open(t.dataDir);
    accounts.setLocked("mallory@example.test", true);
    accounts.close();
    const locked = await login(t, "mallory@example.test");
    assert.equal(locked.auth.code, 535);
    locked.c.close();
  } finally {
    await t.close();
  }
});

Deno.test("password guessing on an account is alerted once", async () => {
  const t = await start({
    auth: { failure_delay_ms: 0, max_failures_per_account: 3, max_failures_per_ip: 100 },
  });
  try {
    for (let i = 0; i < 5; i++) {
      const { c, auth } = await login(t, "owner@example.test", `wrong ${i}`);
      assert.notEqual(auth.code, 235);
      c.close();
    }
    await waitFor(async () => (await alerts(t)).length > 0);
    const mails = await alerts(t);
    assert.equal(mails.length, 1);
    assert.match(mails[0]!, /Subject: \[postie\] Password guessing on owner@example\.test/);
    assert.match(mails[0]!, /3 failed logins/);
  } finally {
    await t.close();
  }
});

Deno.test("our address on a DNS blocklist is alerted", async () => {
  const dns = await TestDnsServer.start({
    records: [{ name: "2.0.0.127.bl.example", type: "A", data: "127.0.0.2" }],
  });
  const t = await start({
    check: { dnsbl: ["bl.example", "clean.example"] },
    outbound: { source_ipv4: "127.0.0.2" },
  }, dns);
  try {
    await t.server.monitor.checkNow();
    await waitFor(async () => (await alerts(t)).length > 0);
    const mails = await alerts(t);
    assert.equal(mails.length, 1);
    assert.match(
      mails[0]!,
      /Subject: \[postie\] Our address is on a blocklist: DNSBL bl\.example 127\.0\.0\.2/,
    );
    assert.doesNotMatch(mails[0]!, /clean\.example/);
  } finally {
    await t.close();
    await dns.close();
  }
});

Deno.test("receivers refusing our mail, a full queue and low disk space are alerted", async () => {
  const t = await start({ alerts: { queue_size: 1, min_free_mb: 10_000_000, bounce_share: 30 } });
  try {
    const q = await QueueStore.open(t.dataDir);
    for (let i = 0; i < 2; i++) {
      // Held, so that the delivery worker leaves them in the queue while we look.
      const id = await q.enqueue({
        sender: "",
        recipients: [`x${i}@down.example`],
        header: "",
        content: [new TextEncoder().encode("Subject: x\r\n\r\nx\r\n")],
      });
      q.hold({ id }, "test");
    }
    q.close();
    for (let i = 0; i < 8; i++) t.server.monitor.noteReply("permanent");
    for (let i = 0; i < 4; i++) t.server.monitor.noteReply("ok");
    await t.server.monitor.checkNow();
    await waitFor(
      async () => (await alerts(t)).length >= 3,
      20_000,
      async () => (await alerts(t)).map((m) => /\r\nSubject: (.*)\r\n/.exec(m)?.[1]).join(" | "),
    );
    const subjects = (await alerts(t)).map((m) => /\r\nSubject: (.*)\r\n/.exec(m)![1]).sort();
    assert.equal(subjects.length, 3);
    assert.match(subjects[0]!, /^\[postie\] 2 messages wait in the outbound queue$/);
    assert.match(subjects[1]!, /^\[postie\] Only \d+ MB free in /);
    assert.match(subjects[2]!, /^\[postie\] Receivers refuse 67% of our mail$/);
    // Again at once: nothing new within alerts.repeat.
    await t.server.monitor.checkNow();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await alerts(t)).length, 3);
  } finally {
    await t.close();
  }
});
