/**
 * Interoperability with Postfix (Debian's `postfix` package, 3.x) on loopback:
 *
 * - postie delivers, found by MX, to a private Postfix as the receiving MX, over STARTTLS;
 *   the message an account holder submitted lands in a Postfix virtual Maildir;
 * - postie delivers to Postfix's `smtp-sink` test server (no STARTTLS there: plain SMTP);
 * - Postfix relays (relayhost) into postie, over STARTTLS.
 *
 * Needs root (Postfix's master only starts as the super-user), postfix and openssl; a
 * missing one fails the test. Nothing uses the system resolver: postie asks the harness's
 * loopback DNS server, Postfix is configured not to look anything up (see postfix/postfix.ts)
 * and its log is checked for it.
 *
 * Run: deno test --allow-net --allow-read --allow-write --allow-env --allow-run \
 *        --allow-sys=hostname,statfs tests/interop/postfix_test.ts
 *
 * @module
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
import type { ZoneRecord } from "../support/dns_server.ts";
import { type PostfixStopReport, type RunningPostfix, startPostfix } from "./postfix/postfix.ts";
import { type RunningSink, type SinkStopReport, startSmtpSink } from "./postfix/smtp_sink.ts";
import { waitFor } from "./postfix/processes.ts";

/** A subject that only this run of this test uses. */
function uniqueSubject(what: string): string {
  return `postfix interop ${what} ${crypto.randomUUID()}`;
}

/** Body lines; the second starts with a dot, so both sides' dot-stuffing is exercised. */
const BODY = ["Hello from postie.", ".a line that starts with a dot", "", "Bye."];

/** postie instance A: a.test with the account alice@a.test, delivering to `port`. */
function startA(port: number): Promise<TestServer> {
  return startTestServer({
    config: {
      hostname: "mx.a.test",
      domains: ["a.test"],
      outbound: { port },
      queue: { retry_initial: "1s", retry_max: "1s" },
      auth: { failure_delay_ms: 0 },
    },
    accounts: ["alice@a.test"],
  });
}

/** An MX for `domain` pointing at 127.0.0.1. */
function mxZone(domain: string): ZoneRecord[] {
  return [
    { name: domain, type: "MX", data: { preference: 10, exchange: `mx.${domain}` } },
    { name: `mx.${domain}`, type: "A", data: "127.0.0.1" },
  ];
}

/** The header block alice submits (CRLF); postie adds Date and Message-ID. */
function submittedHeader(to: string, subject: string): string {
  return `From: Alice <alice@a.test>\r\nTo: <${to}>\r\nSubject: ${subject}\r\n`;
}

/** alice@a.test submits one message: STARTTLS, AUTH PLAIN, then the transaction. */
async function submit(a: TestServer, to: string, subject: string): Promise<void> {
  const c = await SmtpTestClient.connect(a.port("submission"));
  try {
    assert.equal((await c.reply()).code, 220);
    assert.equal((await c.cmd("EHLO laptop.a.test")).code, 250);
    assert.equal((await c.starttls(await serverCert(a), "mx.a.test")).code, 220);
    assert.equal((await c.cmd("EHLO laptop.a.test")).code, 250);
    const auth = await c.cmd(`AUTH PLAIN ${btoa(`\0alice@a.test\0${TEST_PASSWORD}`)}`);
    assert.equal(auth.code, 235, auth.raw);
    assert.equal((await c.cmd("MAIL FROM:<alice@a.test>")).code, 250);
    const rcpt = await c.cmd(`RCPT TO:<${to}>`);
    assert.equal(rcpt.code, 250, rcpt.raw);
    assert.equal((await c.cmd("DATA")).code, 354);
    const body = BODY.map((l) => l.startsWith(".") ? `.${l}` : l).join("\r\n");
    await c.send(`${submittedHeader(to, subject)}\r\n${body}\r\n.\r\n`);
    const r = await c.reply();
    assert.equal(r.code, 250, r.raw);
    assert.equal((await c.cmd("QUIT")).code, 221);
  } finally {
    c.close();
  }
}

async function queueLength(t: TestServer): Promise<number> {
  await t.server.spool.idle(); // accepted mail reaches the queue through the spool
  const q = await QueueStore.open(t.dataDir);
  try {
    return q.list().length;
  } finally {
    q.close();
  }
}

/** The Postfix log must show no lookup and no trouble of any kind. */
function assertCleanPostfixLog(log: string): void {
  assert.doesNotMatch(log, /\b(warning|error|fatal|panic):/, log);
  assert.doesNotMatch(log, /not found|lookup|name service|resolv|getaddrinfo/i, log);
  // smtpd_peername_lookup = no: clients are "unknown[127.0.0.1]", never a looked-up name.
  assert.doesNotMatch(log, /connect from (?!unknown\[127\.0\.0\.1\])/, log);
}

/** What a Postfix stop must have achieved. */
function assertPostfixGone(report: PostfixStopReport | undefined): void {
  assert.ok(report);
  assert.equal(report.code, 0, "postfix stop succeeded");
  assert.equal(report.statusAfter, 1, "postfix status: not running");
  assert.ok(
    report.processes.some((p) => p.command === "master"),
    `the master was tracked: ${JSON.stringify(report.processes)}`,
  );
  assert.deepEqual(report.survivors, [], "no Postfix process outlives the test");
  assert.equal(report.listening, false, "Postfix's listener is closed");
  assert.ok(report.dirRemoved, "Postfix's directory was removed");
}

/** Stop whatever was started; a failing stop must not hide the test body's own error. */
async function cleanup(
  postfix: RunningPostfix | undefined,
  servers: (TestServer | undefined)[],
): Promise<{ report?: PostfixStopReport; error?: unknown }> {
  let report: PostfixStopReport | undefined;
  let error: unknown;
  if (postfix) report = await postfix.stop().catch((e) => (error = e, undefined));
  for (const s of servers) await s?.close().catch((e) => (error ??= e));
  return { report, error };
}

Deno.test("postie delivers by MX to Postfix over STARTTLS, into carol's Maildir", async () => {
  let postfix: RunningPostfix | undefined;
  let a: TestServer | undefined;
  let done: { report?: PostfixStopReport; error?: unknown } = {};
  try {
    postfix = await startPostfix({ mailboxes: ["carol@pf.test"] });
    a = await startA(postfix.port);
    a.dns.setRecords(mxZone("pf.test"));
    const subject = uniqueSubject("mx");
    await submit(a, "carol@pf.test", subject);

    const pf = postfix;
    const file = await waitFor(
      "the message in carol's Maildir",
      async () => (await pf.newMail("carol@pf.test"))[0],
      15_000,
      () => pf.log(),
    );
    assert.deepEqual(await pf.newMail("carol@pf.test"), [file], "exactly one message");
    const text = await Deno.readTextFile(file);

    // Postfix's trace: postie (EHLO mx.a.test) came over TLS (smtpd_tls_received_header).
    assert.match(
      text,
      new RegExp(
        "^Return-Path: <alice@a\\.test>\\n" +
          "X-Original-To: carol@pf\\.test\\n" +
          "Delivered-To: carol@pf\\.test\\n" +
          "Received: from mx\\.a\\.test \\(unknown \\[127\\.0\\.0\\.1\\]\\)\\n" +
          "\\t\\(using TLSv1\\.3 with cipher [^)]+\\)\\n" +
          "(\\t [^\\n]*\\n)*" +
          "\\t\\(No client certificate requested\\)\\n" +
          "\\tby mx\\.pf\\.test \\(Postfix\\) with ESMTPS id [0-9A-F]+\\n" +
          "\\tfor <carol@pf\\.test>; [^\\n]+\\n" +
          // Then postie's own trace of the authenticated submission.
          "Received: by mx\\.a\\.test \\(postie\\) with ESMTPSA id ",
      ),
    );
    // The message itself arrived intact: header lines as submitted, body byte for byte.
    for (const line of submittedHeader("carol@pf.test", subject).split("\r\n")) {
      if (line !== "") assert.ok(text.includes(`\n${line}\n`), `header line ${line}`);
    }
    assert.match(text, /\nDate: [^\n]+\n/);
    assert.match(text, /\nMessage-ID: <[^>]+@mx\.a\.test>\n/);
    assert.ok(text.endsWith(`\n\n${BODY.join("\n")}\n`), text);

    await waitFor("A's queue to empty", async () => (await queueLength(a!)) === 0 || undefined);
    // postie keeps the connection for a next message a moment, then ends it with QUIT.
    const log = await waitFor("the end of postie's session in Postfix's log", async () => {
      const log = await pf.log();
      return /disconnect from unknown\[127\.0\.0\.1\] ehlo=2 /.test(log) ? log : undefined;
    });
    assert.match(
      log,
      new RegExp(
        "postfix/smtpd\\[\\d+\\]: Anonymous TLS connection established from " +
          "unknown\\[127\\.0\\.0\\.1\\]: TLSv1\\.3 ",
      ),
    );
    assert.match(log, /to=<carol@pf\.test>, relay=virtual, .*status=sent \(delivered to maildir\)/);
    assert.match(
      log,
      /disconnect from unknown\[127\.0\.0\.1\] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 /,
    );
    assertCleanPostfixLog(log);
    assert.deepEqual(await pf.queue(), [], "Postfix's queue is empty");
  } finally {
    done = await cleanup(postfix, [a]);
  }
  if (done.error) throw done.error;
  assertPostfixGone(done.report);
});

Deno.test("postie delivers to smtp-sink (plain SMTP: no STARTTLS offered)", async () => {
  let sink: RunningSink | undefined;
  let a: TestServer | undefined;
  let report: SinkStopReport | undefined;
  let stopError: unknown;
  try {
    sink = await startSmtpSink("sink.test");
    a = await startA(sink.port);
    a.dns.setRecords(mxZone("sink.test"));
    const subject = uniqueSubject("smtp-sink");
    await submit(a, "dave@sink.test", subject);

    await waitFor("A's queue to empty", async () => (await queueLength(a!)) === 0 || undefined);
    const s = sink;
    const dumps = await waitFor("the dump", async () => {
      const d = await s.dumps();
      return d.some((x) => x.text.includes(BODY.at(-1)!)) ? d : undefined;
    });
    assert.equal(dumps.length, 1, `one transaction: ${dumps.map((d) => d.path).join(" ")}`);
    const dump = dumps[0]!.text;

    // The envelope as smtp-sink saw it: one transaction, one recipient, postie's EHLO name.
    assert.match(
      dump,
      new RegExp(
        "^X-Client-Addr: 127\\.0\\.0\\.1\\n" +
          "X-Client-Proto: ESMTP\\n" +
          "X-Helo-Args: mx\\.a\\.test\\n" +
          "X-Mail-Args: <alice@a\\.test>( [^\\n]*)?\\n" +
          "X-Rcpt-Args: <dave@sink\\.test>( [^\\n]*)?\\n" +
          "Received: from mx\\.a\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\n" +
          "\\tby sink\\.test \\(smtp-sink\\) with ESMTP id [0-9a-f]+;\\n" +
          "\\t[^\\n]+\\n" +
          "Received: by mx\\.a\\.test \\(postie\\) with ESMTPSA id ",
      ),
    );
    assert.equal(dump.match(/^X-Rcpt-Args:/gm)?.length, 1);
    for (const line of submittedHeader("dave@sink.test", subject).split("\r\n")) {
      if (line !== "") assert.ok(dump.includes(`\n${line}\n`), `header line ${line}`);
    }
    // smtp-sink drops CRs and the dot of each CRLF "." (unstuffing, and the terminator, whose
    // LF it keeps): the body, then one empty line.
    assert.ok(dump.endsWith(`\n\n${BODY.join("\n")}\n\n`), dump);
    assert.equal(await queueLength(a), 0, "postie's queue is empty");
    assert.deepEqual(await a.allMail(), [], "no DSN came back to alice");
  } finally {
    if (sink) report = await sink.stop().catch((e) => (stopError = e, undefined));
    await a?.close();
  }
  if (stopError) throw stopError;
  assert.ok(report);
  assert.equal(report.signal, "SIGTERM", "smtp-sink ran until it was stopped");
  assert.equal(report.output, "", "smtp-sink reported nothing");
  assert.equal(report.listening, false);
  assert.ok(report.dirRemoved);
});

Deno.test("Postfix relays into postie (relayhost) over STARTTLS, into bob's Maildir", async () => {
  let postfix: RunningPostfix | undefined;
  let b: TestServer | undefined;
  let done: { report?: PostfixStopReport; error?: unknown } = {};
  try {
    b = await startTestServer({
      config: {
        hostname: "mx.b.test",
        domains: ["b.test"],
        listen: { smtp: ["127.0.0.1:0"], submission: [], submissions: [], imap: [], imaps: [] },
      },
      accounts: ["bob@b.test"],
    });
    const bPort = b.port("smtp");
    postfix = await startPostfix({ relayhost: `[127.0.0.1]:${bPort}` });

    // A client in mynetworks hands Postfix a message for bob@b.test.
    const subject = uniqueSubject("relay");
    const c = await SmtpTestClient.connect(postfix.port);
    let queueId: string;
    try {
      assert.match((await c.reply()).raw, /^220 mx\.pf\.test ESMTP/);
      assert.equal((await c.cmd("EHLO client.pf.test")).code, 250);
      assert.equal((await c.cmd("MAIL FROM:<dave@pf.test>")).code, 250);
      const rcpt = await c.cmd("RCPT TO:<bob@b.test>");
      assert.equal(rcpt.code, 250, rcpt.raw);
      assert.equal((await c.cmd("DATA")).code, 354);
      await c.send(
        `From: Dave <dave@pf.test>\r\nTo: <bob@b.test>\r\nSubject: ${subject}\r\n` +
          `Message-ID: <${crypto.randomUUID()}@client.pf.test>\r\n\r\n` +
          "Relayed by Postfix.\r\n..dot line\r\n.\r\n",
      );
      const r = await c.reply();
      assert.equal(r.code, 250, r.raw);
      queueId = /queued as ([0-9A-F]+)/.exec(r.raw)?.[1] ?? "";
      assert.notEqual(queueId, "", r.raw);
      assert.equal((await c.cmd("QUIT")).code, 221);
    } finally {
      c.close();
    }

    const pf = postfix;
    const bb = b;
    const text = await waitFor(
      "the message in bob's Maildir",
      async () => {
        const files = await bb.newMail("bob@b.test");
        return files.length > 0 ? await Deno.readTextFile(files[0]!) : undefined;
      },
      15_000,
      () => pf.log(),
    );
    assert.equal((await b.newMail("bob@b.test")).length, 1, "exactly one message");
    // postie's trace: Postfix (EHLO mx.pf.test) used STARTTLS; then Postfix's own trace.
    assert.match(
      text,
      new RegExp(
        "^Return-Path: <dave@pf\\.test>\\r\\nDelivered-To: bob@b\\.test\\r\\n" +
          "(?:(?:Authentication-Results|Received-SPF): [^\\r]*\\r\\n(?:\\t[^\\r]*\\r\\n)*)*" +
          "Received: from mx\\.pf\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n" +
          "\\tby mx\\.b\\.test \\(postie\\) with ESMTPS id [^\\r]*\\r\\n" +
          "\\t\\(using TLSv1\\.3 with cipher [^)]+\\)\\r\\n" +
          "(?:\\t[^\\r]*\\r\\n)*" +
          "Received: from client\\.pf\\.test \\(unknown \\[127\\.0\\.0\\.1\\]\\)\\r\\n" +
          `\\tby mx\\.pf\\.test \\(Postfix\\) with ESMTP id ${queueId}\\r\\n`,
      ),
    );
    assert.match(text, /\r\n\tspf=none smtp\.mailfrom=dave@pf\.test;\r\n/);
    assert.ok(text.includes(`\r\nSubject: ${subject}\r\n`));
    assert.ok(text.endsWith("\r\n\r\nRelayed by Postfix.\r\n.dot line\r\n"), text);

    const portRe = `127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${bPort}`;
    const log = await waitFor("the delivery in Postfix's log", async () => {
      const l = await pf.log();
      return l.includes(`${queueId}: removed`) ? l : undefined;
    });
    assert.match(log, new RegExp(`TLS connection established to ${portRe}: TLSv1\\.3 `));
    assert.match(
      log,
      new RegExp(
        `${queueId}: to=<bob@b\\.test>, relay=${portRe}, .*status=sent \\(250 2\\.0\\.0 Ok`,
      ),
    );
    assertCleanPostfixLog(log);
    assert.deepEqual(await pf.queue(), [], "Postfix's queue is empty");
  } finally {
    done = await cleanup(postfix, [b]);
  }
  if (done.error) throw done.error;
  assertPostfixGone(done.report);
});
