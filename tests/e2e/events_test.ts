/**
 * The event log and the metrics of a running server: mail for a local account is "received",
 * a relay attempt is "rejected" as relay_denied, a failed AUTH as auth_failed, and a
 * submission to another domain is "sent" and then "delivered" by the queue (to a second
 * postie on loopback, found by MX); the counters show the same in the metrics text.
 */
import assert from "node:assert/strict";
import {
  sendMail,
  serverCert,
  SmtpTestClient,
  startTestServer,
  TEST_PASSWORD,
  withServerPair,
} from "../support/harness.ts";
import { waitFor } from "../support/wait.ts";
import { Imap } from "../support/imap_client.ts";
import { RateLimiter } from "../../src/policy/rate_limit.ts";

const today = () => new Date().toISOString().slice(0, 10);

function lines(text: string): string[] {
  return text.split("\n");
}

Deno.test("A message to a local account is a received event; a relay attempt is relay_denied", async () => {
  const t = await startTestServer({ config: { domains: ["example.test"] } });
  try {
    let queueId: string | undefined;
    const c = await SmtpTestClient.connect(t.port("smtp"));
    try {
      await c.reply();
      const r = await sendMail(
        c,
        "someone@far.test",
        ["alice@example.test"],
        "From: someone@far.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nHello.",
      );
      assert.equal(r.code, 250, r.raw);
      queueId = /queued as (\S+)/.exec(r.raw)?.[1];
      assert.equal((await c.cmd("MAIL FROM:<spammer@far.test>")).code, 250);
      const relay = await c.cmd("RCPT TO:<victim@elsewhere.test>");
      assert.equal(relay.code, 554, relay.raw);
      const unknown = await c.cmd("RCPT TO:<nobody@example.test>");
      assert.equal(unknown.code, 550, unknown.raw);
    } finally {
      c.close();
    }
    const events = t.server.events;
    const received = events.recent({ q: "received" });
    assert.equal(received.length, 1, JSON.stringify(received));
    assert.ok(queueId);
    assert.equal(received[0]!.queueId, queueId, "the id of the 250 reply");
    assert.equal(received[0]!.account, "alice@example.test");
    assert.equal(received[0]!.to, "alice@example.test");
    assert.equal(received[0]!.from, "someone@far.test");
    assert.equal(received[0]!.ip, "127.0.0.1");

    const rejected = events.recent({ q: "elsewhere.test" });
    assert.equal(rejected.length, 1, JSON.stringify(rejected));
    assert.equal(rejected[0]!.kind, "rejected");
    assert.equal(rejected[0]!.reason, "relay_denied");
    assert.equal(rejected[0]!.from, "spammer@far.test");
    assert.equal(rejected[0]!.to, "victim@elsewhere.test");
    assert.match(
      rejected[0]!.detail!,
      /^554 5\.7\.1 <victim@elsewhere\.test>: Relay access denied$/,
    );

    assert.deepEqual(events.days(30).at(-1), { date: today(), received: 1, sent: 0 });
    assert.deepEqual(events.days(1, "alice@example.test"), [
      { date: today(), received: 1, sent: 0 },
    ]);
    assert.deepEqual(events.accounts(30), [
      { account: "alice@example.test", received: 1, sent: 0 },
    ]);
    assert.deepEqual(events.rejects(30), [
      { reason: "relay_denied", count: 1 },
      { reason: "unknown_recipient", count: 1 },
    ]);

    const text = lines(t.server.metrics.render());
    for (
      const want of [
        'postie_messages_accepted_total{direction="inbound"} 1',
        'postie_messages_accepted_total{direction="outbound"} 0',
        'postie_messages_rejected_total{reason="relay_denied"} 1',
        'postie_messages_rejected_total{reason="unknown_recipient"} 1',
        // One plain-text session that sent MAIL (twice).
        'postie_tls_sessions_total{direction="inbound",tls="no"} 1',
        'postie_tls_sessions_total{direction="inbound",tls="yes"} 0',
        "postie_queue_messages 0",
        "postie_up 1",
        "postie_imap_sessions 0",
        "postie_imap_logins_total 0",
      ]
    ) assert.ok(text.includes(want), `missing ${want} in\n${text.join("\n")}`);

    // An IMAP session is open while it lasts; its login is counted.
    const imap = await Imap.login(t.port("imaps"), await serverCert(t));
    try {
      const during = lines(t.server.metrics.render());
      assert.ok(during.includes("postie_imap_sessions 1"), during.join("\n"));
      assert.ok(during.includes("postie_imap_logins_total 1"), during.join("\n"));
      // The rate-limit alert's list of IPs that logged in as the account includes IMAP logins.
      const rates = await RateLimiter.open(t.dataDir, t.config.rateLimits);
      try {
        assert.deepEqual(rates.loginIps("alice@example.test").map((l) => l.ip), ["127.0.0.1"]);
      } finally {
        rates.close();
      }
    } finally {
      imap.close();
    }
    await waitFor(
      "the IMAP session to end",
      () =>
        Promise.resolve(
          lines(t.server.metrics.render()).includes("postie_imap_sessions 0") || undefined,
        ),
    );
  } finally {
    await t.close();
  }
});

Deno.test("A submission to another domain is sent, then delivered; a failed AUTH is auth_failed", async () => {
  await withServerPair(async (a, b) => {
    const c = await SmtpTestClient.connect(a.port("submission"));
    try {
      await c.reply();
      await c.cmd("EHLO laptop.a.test");
      await c.starttls(await serverCert(a), "mx.a.test");
      await c.cmd("EHLO laptop.a.test");
      const bad = await c.cmd(`AUTH PLAIN ${btoa("\0alice@a.test\0wrong password")}`);
      assert.equal(bad.code, 535, bad.raw);
      const ok = await c.cmd(`AUTH PLAIN ${btoa(`\0alice@a.test\0${TEST_PASSWORD}`)}`);
      assert.equal(ok.code, 235, ok.raw);
      const r = await sendMail(
        c,
        "alice@a.test",
        ["bob@b.test"],
        "From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: out\r\n\r\nHello B.",
      );
      assert.equal(r.code, 250, r.raw);
    } finally {
      c.close();
    }
    const events = a.server.events;
    const sent = events.recent({ q: "sent" }).filter((e) => e.kind === "sent");
    assert.equal(sent.length, 1, JSON.stringify(events.recent({})));
    assert.equal(sent[0]!.account, "alice@a.test");
    assert.equal(sent[0]!.to, "bob@b.test");
    assert.equal(sent[0]!.from, "alice@a.test");
    assert.ok(sent[0]!.queueId);

    const failed = events.recent({ q: "auth_failed" });
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]!.account, "alice@a.test", "the user name that was tried");
    assert.match(failed[0]!.detail!, /^535 5\.7\.8 /);

    // The queue delivers it to B: a delivered event with the same queue id and B's reply.
    const delivered = await waitFor(
      "the delivered event",
      () => Promise.resolve(events.recent({ q: "delivered" }).find((e) => e.kind === "delivered")),
    );
    assert.equal(delivered.to, "bob@b.test");
    assert.equal(delivered.queueId, sent[0]!.queueId);
    assert.equal(delivered.account, "alice@a.test", "the submitter, from the queued message");
    assert.match(delivered.detail!, /^250 /);
    assert.deepEqual(events.days(1, "alice@a.test"), [{ date: today(), received: 0, sent: 1 }]);

    const text = lines(a.server.metrics.render());
    for (
      const want of [
        'postie_messages_accepted_total{direction="outbound"} 1',
        'postie_messages_accepted_total{direction="inbound"} 0',
        'postie_messages_rejected_total{reason="auth_failed"} 1',
        'postie_delivery_attempts_total{result="delivered"} 1',
        'postie_delivery_attempts_total{result="bounced"} 0',
        'postie_tls_sessions_total{direction="inbound",tls="yes"} 1',
        // A used STARTTLS to B.
        'postie_tls_sessions_total{direction="outbound",tls="yes"} 1',
      ]
    ) assert.ok(text.includes(want), `missing ${want} in\n${text.join("\n")}`);
    // B received it from A.
    assert.deepEqual(b.server.events.accounts(1), [
      { account: "bob@b.test", received: 1, sent: 0 },
    ]);
  });
});
