/**
 * Submission (RFC 6409) with AUTH (RFC 4954): who may authenticate, as whom they may send,
 * how fast, and where the mail goes.
 */
import assert from "node:assert/strict";
import { QueueStore } from "../../src/queue/store.ts";
import {
  serverCert,
  SmtpTestClient,
  startTestServer,
  TEST_PASSWORD,
  type TestServer,
} from "../support/harness.ts";

const b64 = (s: string) => btoa(s);
const plain = (user: string, pw: string) => b64(`\0${user}\0${pw}`);

/** Outbound mail stays queued: its MX is loopback port 1, where nothing listens. */
const KEEP_QUEUED = { outbound: { port: 1 }, queue: { retry_initial: "1h", delay_warning: "0" } };
const ELSEWHERE = [
  {
    name: "elsewhere.example",
    type: "MX" as const,
    data: { preference: 10, exchange: "mx.elsewhere.example" },
  },
  { name: "mx.elsewhere.example", type: "A" as const, data: "127.0.0.1" },
];

const BASE = {
  aliases: {
    "sales@example.test": "alice@example.test",
    "team@example.test": ["alice@example.test", "bob@example.test"],
  },
  auth: { failure_delay_ms: 0 },
  limits: { max_errors: 100 },
};

async function withServer(
  config: Record<string, unknown>,
  fn: (t: TestServer) => Promise<void>,
  dataDir?: string,
): Promise<void> {
  const t = await startTestServer({
    config: { ...BASE, ...config },
    accounts: ["alice@example.test", "bob@example.test"],
    ...(dataDir ? { dataDir } : {}),
  });
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

/** Connect to submission, STARTTLS, EHLO; optionally log in. */
async function submit(t: TestServer, user?: string): Promise<SmtpTestClient> {
  const c = await SmtpTestClient.connect(t.port("submission"));
  await c.reply();
  await c.cmd("EHLO laptop.example.net");
  assert.equal((await c.starttls(await serverCert(t))).code, 220);
  await c.cmd("EHLO laptop.example.net");
  if (user) assert.equal((await c.cmd(`AUTH PLAIN ${plain(user, TEST_PASSWORD)}`)).code, 235);
  return c;
}

function first(r: { raw: string }): string {
  return r.raw.split("\r\n")[0]!;
}

Deno.test("AUTH is offered only over TLS on the submission listeners, never on port 25", async () => {
  await withServer({}, async (t) => {
    const mx = await SmtpTestClient.connect(t.port("smtp"));
    await mx.reply();
    const e = await mx.cmd("EHLO x.example");
    assert.ok(!e.lines.some((l) => l.startsWith("AUTH")));
    assert.match(
      first(await mx.cmd(`AUTH PLAIN ${plain("alice@example.test", TEST_PASSWORD)}`)),
      /^502 /,
    );
    assert.match(first(await mx.cmd("MAIL FROM:<alice@example.test>")), /^250 /);
    assert.match(first(await mx.cmd("RCPT TO:<someone@elsewhere.example>")), /^554 5\.7\.1 /);
    mx.close();

    const c = await SmtpTestClient.connect(t.port("submission"));
    await c.reply();
    const before = await c.cmd("EHLO laptop.example.net");
    assert.ok(!before.lines.some((l) => l.startsWith("AUTH")), "no AUTH before STARTTLS");
    assert.match(
      first(await c.cmd(`AUTH PLAIN ${plain("alice@example.test", TEST_PASSWORD)}`)),
      /^538 5\.7\.11 /,
    );
    assert.match(first(await c.cmd("MAIL FROM:<alice@example.test>")), /^530 5\.7\.0 /);
    await c.starttls(await serverCert(t));
    const after = await c.cmd("EHLO laptop.example.net");
    assert.ok(after.lines.includes("AUTH PLAIN LOGIN"));
    c.close();
  });
});

Deno.test("AUTH refuses bad credentials and malformed exchanges with the RFC 4954 codes", async (tt) => {
  await withServer({ auth: { failure_delay_ms: 0, max_failures_per_ip: 100 } }, async (t) => {
    const c = await submit(t);
    const cases: [string, string[], RegExp][] = [
      ["wrong password", [`AUTH PLAIN ${plain("alice@example.test", "wrong")}`], /^535 5\.7\.8 /],
      ["unknown user", [`AUTH PLAIN ${plain("nobody@example.test", "x")}`], /^535 5\.7\.8 /],
      ["empty credentials", ["AUTH PLAIN AAA="], /^535 5\.7\.8 /],
      ["malformed base64", ["AUTH PLAIN !!!notbase64"], /^501 5\.5\.2 /],
      ["PLAIN without NULs", [`AUTH PLAIN ${b64("alice")}`], /^501 5\.5\.2 /],
      ["cancelled", ["AUTH LOGIN", "*"], /^501 5\.7\.0 /],
      ["unknown mechanism", ["AUTH CRAM-MD5"], /^504 5\.5\.4 /],
      ["other authzid", [
        `AUTH PLAIN ${b64(`bob@example.test\0alice@example.test\0${TEST_PASSWORD}`)}`,
      ], /^535 /],
      ["overlong line", ["AUTH PLAIN", "A".repeat(5000)], /^500 5\.5\.6 /],
    ];
    for (const [name, lines, want] of cases) {
      await tt.step(name, async () => {
        let r;
        for (const l of lines) r = await c.cmd(l);
        assert.match(first(r!), want);
        assert.equal((await c.cmd("NOOP")).code, 250, "the session is back to commands");
      });
    }
    await tt.step("AUTH LOGIN and PLAIN without initial response succeed", async () => {
      const d = await submit(t);
      assert.equal((await d.cmd("AUTH LOGIN")).raw, "334 VXNlcm5hbWU6\r\n");
      assert.equal((await d.cmd(b64("Alice@Example.TEST"))).raw, "334 UGFzc3dvcmQ6\r\n");
      assert.match(first(await d.cmd(b64(TEST_PASSWORD))), /^235 2\.7\.0 /);
      assert.match(first(await d.cmd("AUTH PLAIN")), /^503 5\.5\.1 /, "already authenticated");
      d.close();
      const e = await submit(t);
      assert.equal((await e.cmd("AUTH PLAIN")).code, 334);
      assert.match(first(await e.cmd(plain("bob@example.test", TEST_PASSWORD))), /^235 /);
      e.close();
    });
    c.close();
  });
});

Deno.test("AUTH locks an IP out after the threshold, even for the right password", async () => {
  await withServer({ auth: { failure_delay_ms: 0, max_failures_per_ip: 3 } }, async (t) => {
    const c = await submit(t);
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await c.cmd(`AUTH PLAIN ${plain("alice@example.test", "guess" + i)}`)).code,
        535,
      );
    }
    assert.match(
      first(await c.cmd(`AUTH PLAIN ${plain("alice@example.test", TEST_PASSWORD)}`)),
      /^454 4\.7\.0 /,
    );
    const again = await c.cmd(`AUTH PLAIN ${plain("alice@example.test", TEST_PASSWORD)}`);
    assert.match(first(again), /^421 4\.7\.0 /);
    assert.ok(await c.closedByServer());
    c.close();
    const d = await submit(t);
    assert.match(
      first(await d.cmd(`AUTH PLAIN ${plain("bob@example.test", TEST_PASSWORD)}`)),
      /^454 /,
    );
    d.close();
  });
});

Deno.test("failed AUTH is answered after a growing delay", async () => {
  await withServer({ auth: { failure_delay_ms: 150, max_failures_per_ip: 10 } }, async (t) => {
    const c = await submit(t);
    const times = [];
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      await c.cmd(`AUTH PLAIN ${plain("alice@example.test", "nope")}`);
      times.push(performance.now() - start);
    }
    // 150, 300, 600 ms (plus the scrypt time): each at least its delay.
    assert.ok(times[0]! >= 150 && times[1]! >= 300 && times[2]! >= 600, String(times));
    c.close();
  });
});

Deno.test("a user sends only as their own addresses (553 5.7.1 otherwise)", async (tt) => {
  await withServer({
    submission: { allowed_senders: { "alice@example.test": ["@alice-family.example"] } },
  }, async (t) => {
    const c = await submit(t, "alice@example.test");
    const mailFrom: [string, number][] = [
      ["alice@example.test", 250],
      ["ALICE@example.test", 250],
      ["alice+news@example.test", 250],
      ["sales@example.test", 250],
      ["mum@alice-family.example", 250],
      ["", 250],
      ["bob@example.test", 553],
      ["team@example.test", 250],
      ["boss@elsewhere.example", 553],
      ["bob+x@example.test", 553],
    ];
    for (const [from, code] of mailFrom) {
      await tt.step(`MAIL FROM:<${from}> -> ${code}`, async () => {
        const r = await c.cmd(`MAIL FROM:<${from}>`);
        assert.equal(r.code, code, r.raw);
        if (code === 553) assert.match(first(r), /^553 5\.7\.1 /);
        await c.cmd("RSET");
      });
    }
    const data = async (fromHeader: string) => {
      await c.cmd("MAIL FROM:<alice@example.test>");
      await c.cmd("RCPT TO:<bob@example.test>");
      await c.cmd("DATA");
      await c.send(`${fromHeader}Subject: s\r\n\r\nbody\r\n.\r\n`);
      return await c.reply();
    };
    await tt.step("From: of another user is refused at the end of DATA", async () => {
      const r = await data("From: Bob <bob@example.test>\r\n");
      assert.match(first(r), /^553 5\.7\.1 From: address <bob@example\.test>/);
    });
    await tt.step("From: with a second, foreign address is refused", async () => {
      assert.equal(
        (await data('From: alice@example.test, "x, y" <bob@example.test>\r\n')).code,
        553,
      );
    });
    await tt.step("missing From: is refused", async () => {
      assert.match(first(await data("")), /^550 5\.6\.0 /);
    });
    await tt.step("From: an alias, with a display name and a comment, is accepted", async () => {
      assert.equal((await data('From: "Sales, Inc." <sales@example.test> (shop)\r\n')).code, 250);
    });
    assert.equal((await t.newMail("bob@example.test")).length, 1, "only the accepted one");
    c.close();
  });
});

Deno.test("submitted mail: local copies delivered, remote recipients queued, headers fixed up", async () => {
  await withServer(KEEP_QUEUED, async (t) => {
    t.dns.setRecords(ELSEWHERE);
    const c = await submit(t, "alice@example.test");
    await c.cmd("MAIL FROM:<alice@example.test>");
    assert.equal((await c.cmd("RCPT TO:<bob@example.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<friend@elsewhere.example>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<other@[127.0.0.1]>")).code, 250);
    await c.cmd("DATA");
    await c.send("From: Alice <alice@example.test>\r\nSubject: hello\r\n\r\nhi\r\n.\r\n");
    assert.equal((await c.reply()).code, 250);
    c.close();
    const [file] = await t.newMail("bob@example.test");
    const text = await Deno.readTextFile(file!);
    assert.match(text, /\r\nReceived: by mx\.example\.test \(postie\) with ESMTPSA id /);
    assert.doesNotMatch(text, /127\.0\.0\.1|laptop\.example\.net/, "the client's IP stays private");
    assert.match(text, /\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} /);
    assert.match(text, /\r\nMessage-ID: <[0-9a-f]{16}\.\w+@mx\.example\.test>\r\n/);
    await t.server.spool.idle(); // accepted mail reaches the queue through the spool
    const q = await QueueStore.open(t.dataDir);
    try {
      const list = q.list();
      assert.equal(list.length, 1);
      assert.equal(list[0]!.sender, "alice@example.test");
      assert.equal(list[0]!.account, "alice@example.test");
      assert.deepEqual(list[0]!.recipients.map((r) => [r.address, r.status]), [
        ["friend@elsewhere.example", "queued"],
        ["other@[127.0.0.1]", "queued"],
      ]);
      const body = await Deno.readTextFile(q.bodyPath(list[0]!.id));
      assert.match(body, /Subject: hello\r\n\r\nhi\r\n$/);
      assert.match(body, /^Received: by mx\.example\.test/);
    } finally {
      q.close();
    }
  });
});

Deno.test("rate limits: 451 4.7.1 past the hourly messages, counters survive a restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "postie-rate-" });
  try {
    const config = { rate_limits: { messages_per_hour: 2, recipients_per_day: 3 } };
    const send = async (c: SmtpTestClient, rcpts: string[]) => {
      const m = await c.cmd("MAIL FROM:<alice@example.test>");
      if (m.code !== 250) return m;
      for (const r of rcpts) {
        const x = await c.cmd(`RCPT TO:<${r}>`);
        if (x.code !== 250) {
          await c.cmd("RSET");
          return x;
        }
      }
      await c.cmd("DATA");
      await c.send("From: alice@example.test\r\nSubject: r\r\n\r\nx\r\n.\r\n");
      return await c.reply();
    };
    await withServer(config, async (t) => {
      const c = await submit(t, "alice@example.test");
      assert.equal((await send(c, ["bob@example.test"])).code, 250);
      assert.equal((await send(c, ["x@elsewhere.example"])).code, 250);
      assert.match(first(await send(c, ["bob@example.test"])), /^451 4\.7\.1 /);
      c.close();
    }, dataDir);
    await withServer(config, async (t) => {
      const c = await submit(t, "alice@example.test");
      assert.match(first(await send(c, ["bob@example.test"])), /^451 4\.7\.1 /, "after restart");
      c.close();
      // Bob has his own budget; a message with more recipients than a day allows is 550.
      const d = await submit(t, "bob@example.test");
      await d.cmd("MAIL FROM:<bob@example.test>");
      for (const r of ["a@x.example", "b@x.example", "c@x.example"]) {
        assert.equal((await d.cmd(`RCPT TO:<${r}>`)).code, 250);
      }
      assert.match(first(await d.cmd("RCPT TO:<d@x.example>")), /^550 5\.7\.1 /);
      d.close();
    }, dataDir);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("implicit TLS (465): AUTH and submission work", async () => {
  await withServer({}, async (t) => {
    const c = await SmtpTestClient.connectTls(t.port("submissions"), await serverCert(t));
    await c.reply();
    const e = await c.cmd("EHLO laptop.example.net");
    assert.ok(e.lines.includes("AUTH PLAIN LOGIN"));
    assert.ok(!e.lines.includes("STARTTLS"));
    assert.equal((await c.cmd(`AUTH PLAIN ${plain("bob@example.test", TEST_PASSWORD)}`)).code, 235);
    assert.equal((await c.cmd("MAIL FROM:<bob@example.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<alice@example.test>")).code, 250);
    c.close();
  });
});

Deno.test("relay.trusted_networks lets a listed network relay without AUTH; SPF is skipped", async () => {
  await withServer({ relay: { trusted_networks: ["127.0.0.0/8"] }, ...KEEP_QUEUED }, async (t) => {
    t.dns.setRecords(ELSEWHERE);
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    await c.cmd("EHLO app.example.net");
    assert.equal((await c.cmd("MAIL FROM:<app@example.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<customer@elsewhere.example>")).code, 250);
    await c.cmd("DATA");
    await c.send("Subject: receipt\r\n\r\nthanks\r\n.\r\n");
    assert.equal((await c.reply()).code, 250);
    c.close();
    await t.server.spool.idle(); // accepted mail reaches the queue through the spool
    const q = await QueueStore.open(t.dataDir);
    try {
      assert.equal(q.list().length, 1);
    } finally {
      q.close();
    }
  });
});
