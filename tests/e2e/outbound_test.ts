/**
 * Outbound delivery between two postie instances on loopback: A (a.test) delivers through
 * its queue to B (b.test), found by MX in a loopback DNS zone. Failures end in a retry or a
 * DSN, never in silence.
 */
import assert from "node:assert/strict";
import { QueueStore } from "../../src/queue/store.ts";
import { startTestServer, submitMessage, type TestServer } from "../support/harness.ts";
import type { ZoneRecord } from "../support/dns_server.ts";
import { waitFor } from "../support/wait.ts";

function startB(port = 0, dataDir?: string): Promise<TestServer> {
  return startTestServer({
    config: {
      hostname: "mx.b.test",
      domains: ["b.test"],
      listen: { smtp: [`127.0.0.1:${port}`], submission: [], submissions: [], imap: [], imaps: [] },
    },
    accounts: ["bob@b.test"],
    ...(dataDir ? { dataDir } : {}),
  });
}

function startA(bPort: number): Promise<TestServer> {
  return startTestServer({
    config: {
      hostname: "mx.a.test",
      domains: ["a.test"],
      outbound: { port: bPort },
      queue: { retry_initial: "1s", retry_max: "1s" },
      auth: { failure_delay_ms: 0 },
    },
    accounts: ["alice@a.test"],
  });
}

const ZONE: ZoneRecord[] = [
  { name: "b.test", type: "MX", data: { preference: 10, exchange: "mx.b.test" } },
  { name: "mx.b.test", type: "A", data: "127.0.0.1" },
  { name: "nowhere.test", type: "MX", data: { preference: 10, exchange: "gone.nowhere.test" } },
  { name: "nullmx.test", type: "MX", data: { preference: 0, exchange: "." } },
  { name: "down.test", type: "A", data: "127.0.0.1" },
];

/** Submit one message from alice@a.test through A's submission port. */
function submit(a: TestServer, to: string[], subject: string): Promise<void> {
  return submitMessage(a, { account: "alice@a.test", from: "Alice <alice@a.test>", to, subject });
}

async function find(t: TestServer, who: string, needle: string): Promise<string | undefined> {
  for (const f of await t.newMail(who)) {
    const text = await Deno.readTextFile(f);
    if (text.includes(needle)) return text;
  }
  return undefined;
}

async function queueOf(t: TestServer) {
  await t.server.spool.idle(); // accepted mail reaches the queue through the spool
  return await QueueStore.open(t.dataDir).then((q) => {
    try {
      return q.list();
    } finally {
      q.close();
    }
  });
}

Deno.test("A delivers to B by MX; the message arrives in B's Maildir and leaves A's queue", async () => {
  const b = await startB();
  const a = await startA(b.port("smtp"));
  a.dns.setRecords(ZONE);
  try {
    await submit(a, ["bob@b.test"], "A to B");
    const text = await waitFor("delivery to B", () => find(b, "bob@b.test", "Subject: A to B"));
    assert.match(text, /Received: from mx\.a\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.b\.test/);
    assert.match(text, /with ESMTPS id/, "A used STARTTLS");
    assert.match(text, /Received: by mx\.a\.test \(postie\) with ESMTPSA id/);
    await waitFor("A's queue to empty", async () => (await queueOf(a)).length === 0 || undefined);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("B down: A retries and delivers once B is back", async () => {
  const b1 = await startB();
  const port = b1.port("smtp");
  const bDir = await Deno.makeTempDir({ prefix: "postie-b-" });
  await b1.close();
  const a = await startA(port);
  a.dns.setRecords(ZONE);
  let b2: TestServer | undefined;
  try {
    await submit(a, ["bob@b.test"], "retry me");
    const deferred = await waitFor("a deferred attempt", async () => {
      const q = await queueOf(a);
      const r = q[0]?.recipients[0];
      return r && r.attempts >= 1 && r.status === "queued" ? r : undefined;
    });
    assert.match(deferred.lastError ?? "", /127\.0\.0\.1/);
    b2 = await startB(port, bDir);
    await waitFor("delivery after B returns", () => find(b2!, "bob@b.test", "Subject: retry me"));
    await waitFor("A's queue to empty", async () => (await queueOf(a)).length === 0 || undefined);
  } finally {
    await a.close();
    await b2?.close();
    await Deno.remove(bDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("B answers 550: the sender gets a DSN in the Maildir, the good recipient is delivered", async () => {
  const b = await startB();
  const a = await startA(b.port("smtp"));
  a.dns.setRecords(ZONE);
  try {
    await submit(a, ["bob@b.test", "nobody@b.test"], "partly bad");
    await waitFor("bob's copy", () => find(b, "bob@b.test", "Subject: partly bad"));
    const dsn = await waitFor("the DSN", () => find(a, "alice@a.test", "Final-Recipient"));
    assert.match(dsn, /^Return-Path: <>\r\n/);
    assert.match(dsn, /From: Mail Delivery System <MAILER-DAEMON@mx\.a\.test>/);
    assert.match(dsn, /Content-Type: multipart\/report; report-type=delivery-status/);
    assert.match(dsn, /Final-Recipient: rfc822; ?nobody@b\.test/);
    assert.match(dsn, /Action: failed/);
    assert.match(dsn, /Status: 5\.1\.1/);
    assert.match(dsn, /Diagnostic-Code: smtp; ?550 5\.1\.1/);
    assert.match(dsn, /Subject: partly bad/, "the original header is returned");
    assert.doesNotMatch(dsn, /Final-Recipient: rfc822; ?bob@b\.test/);
    await waitFor("A's queue to empty", async () => (await queueOf(a)).length === 0 || undefined);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("MX nowhere, null MX and NXDOMAIN bounce at once; SERVFAIL is retried", async () => {
  const a = await startA(1);
  a.dns.setRecords(ZONE);
  a.dns.setFault("down.test", "MX", "servfail");
  try {
    const cases: [string, string][] = [
      ["x@nowhere.test", "5.4.4"],
      ["x@nullmx.test", "5.1.10"],
      ["x@nxdomain.test", "5.1.2"],
    ];
    for (const [rcpt, status] of cases) {
      await submit(a, [rcpt], `bounce ${rcpt}`);
      const dsn = await waitFor(
        `DSN for ${rcpt}`,
        () =>
          find(a, "alice@a.test", `Final-Recipient: rfc822; ${rcpt}`) ??
            find(a, "alice@a.test", `Final-Recipient: rfc822;${rcpt}`),
      );
      assert.match(dsn, new RegExp(`Status: ${status.replaceAll(".", "\\.")}`));
    }
    await submit(a, ["x@down.test"], "servfail");
    const r = await waitFor("a deferred attempt", async () => {
      const m = (await queueOf(a)).find((m) => m.recipients[0]?.address === "x@down.test");
      return m && m.recipients[0]!.attempts >= 1 ? m.recipients[0] : undefined;
    });
    assert.equal(r.status, "queued");
    assert.match(r.lastError ?? "", /MX lookup/);
    assert.equal(await find(a, "alice@a.test", "x@down.test"), undefined, "no DSN for a retry");
  } finally {
    await a.close();
  }
});

Deno.test("a delay warning reaches the sender once; the message stays queued", async () => {
  const a = await startTestServer({
    config: {
      hostname: "mx.a.test",
      domains: ["a.test"],
      outbound: { port: 1 },
      queue: { retry_initial: "1s", retry_max: "1s", delay_warning: "1s" },
      auth: { failure_delay_ms: 0 },
    },
    accounts: ["alice@a.test"],
  });
  a.dns.setRecords(ZONE);
  try {
    await submit(a, ["bob@b.test"], "slow one");
    const dsn = await waitFor(
      "the delay warning",
      () => find(a, "alice@a.test", "Action: delayed"),
    );
    assert.match(dsn, /Subject: Delayed Mail/);
    assert.match(dsn, /Final-Recipient: rfc822; ?bob@b\.test/);
    assert.match(dsn, /Will-Retry-Until: /);
    await new Promise((r) => setTimeout(r, 2500));
    const warnings = [];
    for (const f of await a.newMail("alice@a.test")) {
      if ((await Deno.readTextFile(f)).includes("Action: delayed")) warnings.push(f);
    }
    assert.equal(warnings.length, 1, "warned once");
    const q = await queueOf(a);
    assert.equal(q[0]?.recipients[0]?.status, "queued");
  } finally {
    await a.close();
  }
});

Deno.test("IPv6 first: an MX host with AAAA and A is reached over IPv6", async () => {
  const b = await startTestServer({
    config: {
      hostname: "mx.b.test",
      domains: ["b.test"],
      listen: { smtp: ["[::1]:0"], submission: [], submissions: [], imap: [], imaps: [] },
    },
    accounts: ["bob@b.test"],
  });
  const a = await startA(b.port("smtp"));
  a.dns.setRecords([
    { name: "b.test", type: "MX", data: { preference: 10, exchange: "mx.b.test" } },
    { name: "mx.b.test", type: "AAAA", data: "::1" },
    // Nothing listens there: were IPv4 tried first, the attempt would fail.
    { name: "mx.b.test", type: "A", data: "127.0.0.254" },
  ]);
  try {
    await submit(a, ["bob@b.test"], "over v6");
    const text = await waitFor("delivery over IPv6", () => find(b, "bob@b.test", "over v6"));
    assert.match(text, /Received: from mx\.a\.test \(\[IPv6:::1\]\)/);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("outbound.smarthost routes all mail through one relay, ignoring MX", async () => {
  const b = await startB();
  const a = await startTestServer({
    config: {
      hostname: "mx.a.test",
      domains: ["a.test"],
      outbound: { smarthost: { host: "127.0.0.1", port: b.port("smtp"), tls: "none" } },
      auth: { failure_delay_ms: 0 },
    },
    accounts: ["alice@a.test"],
  });
  // No DNS records at all: only the smarthost can deliver this.
  try {
    await submit(a, ["bob@b.test"], "via smarthost");
    const text = await waitFor(
      "delivery via the smarthost",
      () => find(b, "bob@b.test", "via smarthost"),
    );
    assert.match(text, /with ESMTP id/, "tls: none means plain text");
  } finally {
    await a.close();
    await b.close();
  }
});
