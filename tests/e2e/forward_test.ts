/**
 * Forwarding between postie instances in this process (one shared loopback DNS server): SRS
 * addresses at RCPT (valid, upper-cased, forged, expired, with a sender that is not null),
 * DMARC-failing mail not forwarded, the per-target limit, a forwarding loop between two
 * servers that stops with one 5.4.6 bounce to the original sender, and `postie user forward`.
 * SPF and DKIM at a real destination (Postfix) are in tests/interop/forward_interop_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { TestDnsServer } from "../support/dns_server.ts";
import { sendMail, SmtpTestClient, startTestServer, type TestServer } from "../support/harness.ts";
import { freePort } from "../support/wait.ts";
import { runPostie } from "../support/postie_process.ts";
import { Srs } from "../../src/forward/srs.ts";
import { loadSrsSecrets } from "../../src/forward/srs_secrets.ts";
import { QueueStore } from "../../src/queue/store.ts";
import { AccountStore } from "../../src/accounts/store.ts";

async function waitUntil(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function files(t: TestServer, who: string, folder = ""): Promise<string[]> {
  await t.server.spool.idle();
  const [local, domain] = who.split("@") as [string, string];
  const dir = join(t.dataDir, "mail", domain, local, folder ? `.${folder}` : "", "new");
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(await Deno.readTextFile(join(dir, e.name)));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

async function queued(t: TestServer): Promise<number> {
  await t.server.spool.idle();
  const q = await QueueStore.open(t.dataDir);
  try {
    return q.list().length;
  } finally {
    q.close();
  }
}

/** A route to another in-process instance's smtp port, without TLS (loopback tests). */
function route(port: number) {
  return { host: "127.0.0.1", port, tls: "none" };
}

Deno.test("SRS addresses at RCPT: valid and upper-cased ones take bounces; forged, expired and non-bounce mail is refused", async () => {
  const b = await startTestServer({
    config: { hostname: "mx.b.test", domains: ["b.test"] },
    accounts: ["bob@b.test"],
  });
  try {
    const secrets = await loadSrsSecrets(b.dataDir);
    const srs = new Srs({ secrets, domain: "b.test" });
    const good = srs.forward("joe@orig.test");
    assert.match(good, /^SRS0=[^=]{4}=[A-Z2-7]{2}=orig\.test=joe@b\.test$/);
    const old = new Srs({
      secrets,
      domain: "b.test",
      now: () => new Date(Date.now() - 30 * 86400_000),
    }).forward("joe@orig.test");
    const local = good.slice(0, good.indexOf("@"));
    const hash = local.split("=")[1]!;
    const forged = good.replace(`=${hash}=`, `=${hash === "AAAA" ? "BBBB" : "AAAA"}=`);
    const c = await SmtpTestClient.connect(b.port("smtp"));
    try {
      await c.reply();
      await c.cmd("EHLO bounce.example");
      const rcpt = async (from: string, to: string) => {
        await c.cmd("RSET");
        assert.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250);
        return await c.cmd(`RCPT TO:<${to}>`);
      };
      assert.equal((await rcpt("", good)).code, 250);
      assert.equal((await rcpt("", good.toUpperCase().replace("@B.TEST", "@b.test"))).code, 250);
      assert.equal((await rcpt("", good.toLowerCase())).code, 250);
      const f = await rcpt("", forged);
      assert.equal(f.code, 550);
      assert.match(f.raw, /5\.1\.1/);
      const e = await rcpt("", old);
      assert.equal(e.code, 550, "expired");
      const n = await rcpt("spammer@evil.test", good);
      assert.equal(n.code, 550, "only bounces");
      assert.match(n.raw, /5\.1\.1 .*only bounces/);
    } finally {
      c.close();
    }
  } finally {
    await b.close();
  }
});

Deno.test("DMARC-failing mail is not forwarded: 550 for a pure forward, Junk for a forward that keeps a copy", async () => {
  const b = await startTestServer({
    config: {
      hostname: "mx.b.test",
      domains: ["b.test"],
      aliases: { "fwd@b.test": "someone@c.test" },
    },
    accounts: ["keep@b.test"],
  });
  try {
    const store = await AccountStore.open(b.dataDir);
    store.setForward("keep@b.test", "keep@c.test", true);
    store.close();
    b.dns.setRecords([
      { name: "_dmarc.q.test", type: "TXT", data: "v=DMARC1; p=quarantine" },
      { name: "q.test", type: "TXT", data: "v=spf1 -all" },
    ]);
    const c = await SmtpTestClient.connect(b.port("smtp"));
    await c.reply();
    const spoofed = "From: Boss <boss@q.test>\r\nSubject: spoofed\r\n\r\nx";
    const pure = await sendMail(c, "boss@q.test", ["fwd@b.test"], spoofed);
    assert.equal(pure.code, 550, pure.raw);
    assert.match(pure.raw, /5\.7\.1 Not forwarded: .*DMARC policy of q\.test/);
    await c.cmd("RSET");
    const kept = await sendMail(c, "boss@q.test", ["keep@b.test"], spoofed);
    assert.equal(kept.code, 250, kept.raw);
    c.close();
    assert.equal((await files(b, "keep@b.test", "Junk")).length, 1);
    assert.equal(await queued(b), 0, "nothing forwarded");
  } finally {
    await b.close();
  }
});

Deno.test("forwarding.max_per_hour: the next message to the same target gets 451 4.7.1", async () => {
  const b = await startTestServer({
    config: {
      hostname: "mx.b.test",
      domains: ["b.test"],
      aliases: { "fwd@b.test": "someone@c.test" },
      forwarding: { max_per_hour: 2 },
      // Nothing listens there: the copies stay queued.
      outbound: { routes: { "c.test": route(await freePort()) } },
    },
  });
  try {
    const c = await SmtpTestClient.connect(b.port("smtp"));
    await c.reply();
    for (const n of [1, 2]) {
      const r = await sendMail(c, "x@a.test", ["fwd@b.test"], `Subject: ${n}\r\n\r\nx`);
      assert.equal(r.code, 250, r.raw);
      await c.cmd("RSET");
    }
    await c.cmd("MAIL FROM:<x@a.test>");
    const third = await c.cmd("RCPT TO:<fwd@b.test>");
    assert.equal(third.code, 451);
    assert.match(third.raw, /4\.7\.1 .*Forwarding rate limit/);
    c.close();
    assert.equal(await queued(b), 2);
  } finally {
    await b.close();
  }
});

Deno.test("a forwarding loop between two servers stops: one 5.4.6 bounce reaches the original sender", async () => {
  const dns = await TestDnsServer.start();
  const [pa, pb, pc] = [await freePort(), await freePort(), await freePort()];
  const routes = {
    "a.test": route(pa),
    "b.test": route(pb),
    "c.test": route(pc),
  };
  const common = { queue: { retry_initial: "1s", retry_max: "1s" }, outbound: { routes } };
  const a = await startTestServer({
    dns,
    config: {
      hostname: "mx.a.test",
      domains: ["a.test"],
      listen: { smtp: [`127.0.0.1:${pa}`] },
      ...common,
    },
    accounts: ["x@a.test"],
  });
  const b = await startTestServer({
    dns,
    config: {
      hostname: "mx.b.test",
      domains: ["b.test"],
      listen: { smtp: [`127.0.0.1:${pb}`] },
      aliases: { "loop@b.test": "loop@c.test" },
      ...common,
    },
    accounts: [],
  });
  const c = await startTestServer({
    dns,
    config: {
      hostname: "mx.c.test",
      domains: ["c.test"],
      listen: { smtp: [`127.0.0.1:${pc}`] },
      aliases: { "loop@c.test": "loop@b.test" },
      ...common,
    },
    accounts: [],
  });
  try {
    const client = await SmtpTestClient.connect(pb);
    await client.reply();
    const r = await sendMail(
      client,
      "x@a.test",
      ["loop@b.test"],
      "From: <x@a.test>\r\nSubject: round and round\r\n\r\nx",
    );
    assert.equal(r.code, 250, r.raw);
    client.close();
    // B -> C -> B: B finds its own Delivered-To and refuses with 554 5.4.6; C bounces to the
    // SRS sender, which goes back through B's SRS address to x@a.test.
    await waitUntil(async () => (await files(a, "x@a.test")).length > 0, 30_000, "the DSN");
    await waitUntil(
      async () => (await queued(b)) === 0 && (await queued(c)) === 0,
      20_000,
      "empty queues",
    );
    await new Promise((r) => setTimeout(r, 1500));
    const dsns = await files(a, "x@a.test");
    assert.equal(dsns.length, 1, "exactly one bounce");
    assert.match(dsns[0]!, /multipart\/report/);
    assert.match(dsns[0]!, /Status: 5\.4\.6/);
    assert.match(dsns[0]!, /round and round/);
    assert.equal(await queued(a), 0);
  } finally {
    await c.close();
    await b.close();
    await a.close();
    await dns.close();
  }
});

Deno.test("postie user forward: set, list, off; relay tricks and local targets refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-forward-cli-" });
  try {
    const configPath = join(dir, "postie.yaml");
    await Deno.writeTextFile(
      configPath,
      `hostname: mx.a.test\ndata_dir: ${join(dir, "data")}\ndomains: [a.test]\n`,
    );
    const cli = (...args: string[]) => runPostie([...args, "--config", configPath]);
    assert.equal((await cli("user", "add", "alice@a.test")).code, 0);
    const set = await cli("user", "forward", "alice@a.test", "Alice@Gmail.Example", "--keep-copy");
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /alice@a\.test forwards to Alice@gmail\.example and keeps a copy/);
    assert.match(
      (await cli("user", "list")).stdout,
      /alice@a\.test -> Alice@gmail\.example \(keeps a copy\)/,
    );
    for (
      const bad of ["x%y@elsewhere.example", "h!x@elsewhere.example", '"a b"@elsewhere.example']
    ) {
      const r = await cli("user", "forward", "alice@a.test", bad);
      assert.equal(r.code, 2, bad);
      assert.match(r.stderr, /plain address|not an address/);
    }
    const local = await cli("user", "forward", "alice@a.test", "bob@a.test");
    assert.equal(local.code, 2);
    assert.match(local.stderr, /use an alias/);
    const off = await cli("user", "forward", "alice@a.test", "--off");
    assert.match(off.stdout, /no longer forwards/);
    assert.doesNotMatch((await cli("user", "list")).stdout, /->/);
    const none = await cli("user", "forward", "nobody@a.test", "x@elsewhere.example");
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /No account/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
