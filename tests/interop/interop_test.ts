/**
 * Interoperability: postie against real, independently written peers on loopback.
 *
 * - swaks (Perl SMTP client), plain and with STARTTLS;
 * - Python's smtplib with certificate verification over STARTTLS, and its view of refusals;
 * - `openssl s_client` over STARTTLS and over implicit TLS (RFC 8314);
 * - Dovecot reading, over IMAP, the Maildir that postie delivered into.
 *
 * Needs swaks, python3, openssl and dovecot-imapd installed; a missing one fails the test.
 * No test uses the system resolver: every peer is given addresses and names explicitly.
 *
 * Run: deno task test:interop
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { sendMail, SmtpTestClient, startTestServer, type TestServer } from "../support/harness.ts";
import { Conversation, run, SWAKS_ENV } from "./tools.ts";
import { type DovecotStopReport, type RunningDovecot, startDovecot } from "./dovecot.ts";
import { fetchedBody, ImapClient } from "./imap.ts";

const ALICE = "alice@example.test";
const SENDER = "bob@example.org";
const HELO = "client.example.org";

/** Path of the self-signed certificate postie generated (its name is mx.example.test). */
function certFile(t: TestServer): string {
  return join(t.dataDir, "tls", "selfsigned-cert.pem");
}

/** A subject that only this run of this test uses. */
function uniqueSubject(what: string): string {
  return `interop ${what} ${crypto.randomUUID()}`;
}

/** The one message in alice's new/ whose header has this subject. */
async function storedMessage(t: TestServer, subject: string): Promise<string> {
  const found: string[] = [];
  for (const f of await t.newMail(ALICE)) {
    const text = await Deno.readTextFile(f);
    if (text.includes(`\r\nSubject: ${subject}\r\n`)) found.push(text);
  }
  assert.equal(found.length, 1, `messages with subject "${subject}" in new/: ${found.length}`);
  return found[0]!;
}

/** postie's trace fields, in the order it writes them, for a message received with `proto`. */
function assertTrace(text: string, proto: string, helo = HELO): void {
  // Between Delivered-To and Received: the SPF verdict (example.org publishes none here).
  const re = new RegExp(
    `^Return-Path: <${SENDER}>\\r\\nDelivered-To: ${ALICE}\\r\\n` +
      `Authentication-Results: mx\\.example\\.test;\\r\\n\\tspf=none smtp\\.mailfrom=[^\\r]*\\r\\n` +
      `\\tdkim=none;\\r\\n\\tdmarc=[^\\r]*\\r\\n` +
      `Received-SPF: none [^\\r]*\\r\\n(\\t[^\\r]*\\r\\n)*` +
      `Received: from ${helo.replaceAll(".", "\\.")} \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n` +
      `\\tby mx\\.example\\.test \\(postie\\) with ${proto} id `,
  );
  assert.match(text, re);
}

Deno.test("swaks delivers over plain SMTP and over STARTTLS", async () => {
  const t = await startTestServer();
  try {
    const swaks = async (subject: string, body: string, extra: string[]) =>
      await run("swaks", {
        env: SWAKS_ENV,
        args: [
          "--server",
          `127.0.0.1:${t.port("smtp")}`,
          "--helo",
          HELO,
          "--from",
          SENDER,
          "--to",
          ALICE,
          "--header",
          `Subject: ${subject}`,
          "--header",
          `Message-Id: <${crypto.randomUUID()}@${HELO}>`,
          "--body",
          body,
          "--timeout",
          "10",
          ...extra,
        ],
      });

    // Plain SMTP.
    const plainSubject = uniqueSubject("swaks plain");
    const plain = await swaks(plainSubject, "Hello from swaks.", []);
    assert.equal(plain.code, 0, `swaks failed:\n${plain.stdout}\n${plain.stderr}`);
    assert.match(plain.stdout, /<- {2}250 2\.0\.0 Ok: queued as /);
    const m1 = await storedMessage(t, plainSubject);
    assertTrace(m1, "ESMTP");
    assert.match(m1, /\r\nFrom: bob@example\.org\r\n/);
    assert.match(m1, /\r\n\r\nHello from swaks\.\r\n/);

    // STARTTLS (-tls: STARTTLS is required, swaks fails if it cannot negotiate it).
    const tlsSubject = uniqueSubject("swaks starttls");
    const tls = await swaks(tlsSubject, "Hello over TLS.", ["-tls"]);
    assert.equal(tls.code, 0, `swaks -tls failed:\n${tls.stdout}\n${tls.stderr}`);
    assert.match(tls.stdout, /<- {2}220 2\.0\.0 Ready to start TLS/);
    assert.match(tls.stdout, /=== TLS started with cipher /);
    assert.match(tls.stdout, /<~ {2}250 2\.0\.0 Ok: queued as /);
    const m2 = await storedMessage(t, tlsSubject);
    assertTrace(m2, "ESMTPS");
    assert.match(m2, /\(using TLSv1\.[23] with cipher [^)]+\)/);
    assert.match(m2, /\r\n\r\nHello over TLS\.\r\n/);
    assert.equal((await t.newMail(ALICE)).length, 2);
  } finally {
    await t.close();
  }
});

// Prints one JSON object. smtplib.starttls() passes the host it connected to (127.0.0.1) as
// server_hostname; the certificate names mx.example.test, so the context is told to verify that
// name instead (hostname checking stays on).
const PYTHON_CLIENT = String.raw`
import json, smtplib, ssl, sys

port, cafile, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
wrap = ctx.wrap_socket
def wrap_named(sock, *args, **kwargs):
    kwargs["server_hostname"] = "mx.example.test"
    return wrap(sock, *args, **kwargs)
ctx.wrap_socket = wrap_named

out = {}
s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.org", timeout=10)
code, _ = s.ehlo()
out["ehlo"] = code
out["starttls_offered"] = s.has_extn("starttls")
out["starttls"] = s.starttls(context=ctx)[0]
out["tls_version"] = s.sock.version()
code, _ = s.ehlo()
out["ehlo2"] = code
out["starttls_offered_after"] = s.has_extn("starttls")
msg = ("From: <bob@example.org>\r\nTo: <alice@example.test>\r\nSubject: %s\r\n\r\n"
       "Hello from Python smtplib.\r\n" % subject)
out["refused"] = s.sendmail("bob@example.org", ["alice@example.test"], msg)

def refusal(rcpt):
    try:
        s.sendmail("bob@example.org", [rcpt], msg)
        return None
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[rcpt]
        return [code, text.decode()]

out["unknown"] = refusal("nobody-here@example.test")
out["external"] = refusal("someone@example.org")
out["quit"] = s.quit()[0]
print(json.dumps(out))
`;

Deno.test("Python smtplib: STARTTLS with verification, sendmail, refusals", async () => {
  const t = await startTestServer();
  try {
    const subject = uniqueSubject("python smtplib");
    const r = await run("python3", {
      args: ["-c", PYTHON_CLIENT, String(t.port("smtp")), certFile(t), subject],
    });
    assert.equal(r.code, 0, `python3 failed:\n${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ehlo, 250);
    assert.equal(out.starttls_offered, true);
    assert.equal(out.starttls, 220);
    assert.equal(out.tls_version, "TLSv1.3");
    assert.equal(out.ehlo2, 250);
    assert.equal(out.starttls_offered_after, false);
    assert.deepEqual(out.refused, {}, "no recipient refused");
    assert.deepEqual(out.unknown, [
      550,
      "5.1.1 <nobody-here@example.test>: Recipient address rejected: User unknown",
    ]);
    assert.deepEqual(out.external, [554, "5.7.1 <someone@example.org>: Relay access denied"]);
    assert.equal(out.quit, 221);

    const m = await storedMessage(t, subject);
    assertTrace(m, "ESMTPS");
    assert.match(m, /\(using TLSv1\.3 with cipher [^)]+\)\r\n\tfor <alice@example\.test>;/);
    assert.match(m, /\r\nTo: <alice@example\.test>\r\n/);
    assert.match(m, /\r\n\r\nHello from Python smtplib\.\r\n$/);
    // The refused transactions stored nothing.
    assert.equal((await t.allMail()).length, 1);
  } finally {
    await t.close();
  }
});

/** `openssl s_client` arguments that verify postie's certificate and name. */
function sClientArgs(t: TestServer, port: number, starttls: boolean): string[] {
  return [
    "s_client",
    ...(starttls ? ["-starttls", "smtp"] : []),
    "-connect",
    `127.0.0.1:${port}`,
    "-servername",
    "mx.example.test",
    "-verify_hostname",
    "mx.example.test",
    "-CAfile",
    certFile(t),
    "-verify_return_error",
    "-nocommands",
    "-quiet",
  ];
}

Deno.test("openssl s_client: STARTTLS transaction and implicit TLS greeting", async () => {
  const t = await startTestServer();
  const convs: Conversation[] = [];
  try {
    // STARTTLS on the MX port: s_client does EHLO and STARTTLS itself, then relays stdin.
    const subject = uniqueSubject("openssl starttls");
    const c = new Conversation("openssl", { args: sClientArgs(t, t.port("smtp"), true) });
    convs.push(c);
    const step = async (line: string, expect: RegExp) => {
      const from = c.stdout.length;
      await c.write(line + "\r\n");
      await c.expect(expect, from);
    };
    await step(`EHLO ${HELO}`, /^250 /m);
    assert.ok(!c.stdout.includes("STARTTLS"), "STARTTLS is not offered again under TLS");
    await step(`MAIL FROM:<${SENDER}>`, /^250 2\.1\.0 Ok\r?$/m);
    await step(`RCPT TO:<${ALICE}>`, /^250 2\.1\.5 Ok\r?$/m);
    await step("DATA", /^354 /m);
    await step(
      `From: <${SENDER}>\r\nSubject: ${subject}\r\n\r\nHello from openssl.\r\n..dot\r\n.`,
      /^250 2\.0\.0 Ok: queued as \S+\r?$/m,
    );
    await step("QUIT", /^221 2\.0\.0 /m);
    const done = await c.finish();
    assert.equal(done.code, 0, `openssl s_client failed:\n${done.stdout}\n${done.stderr}`);
    assert.match(done.stdout, /250 2\.0\.0 Ok: queued/);
    assert.match(done.stderr, /verify return:1/);

    const m = await storedMessage(t, subject);
    assertTrace(m, "ESMTPS");
    assert.match(m, /\(using TLSv1\.3 with cipher [^)]+\)/);
    assert.match(m, /\r\n\r\nHello from openssl\.\r\n\.dot\r\n$/, "dot-stuffing undone");

    // Implicit TLS on the submissions port (RFC 8314): the greeting arrives over TLS.
    const s = new Conversation("openssl", {
      args: sClientArgs(t, t.port("submissions"), false),
    });
    convs.push(s);
    await s.expect(/^220 mx\.example\.test ESMTP postie\r?$/m);
    await s.write("QUIT\r\n");
    await s.expect(/^221 2\.0\.0 /m);
    const sdone = await s.finish();
    assert.equal(sdone.code, 0, `openssl s_client failed:\n${sdone.stdout}\n${sdone.stderr}`);
    assert.match(sdone.stderr, /verify return:1/);
  } finally {
    for (const c of convs) await c.kill();
    await t.close();
  }
});

Deno.test("Dovecot IMAP reads what postie delivered into the Maildir", async () => {
  const t = await startTestServer();
  let dovecot: RunningDovecot | undefined;
  let imap: ImapClient | undefined;
  let report: DovecotStopReport | undefined;
  let stopError: unknown;
  try {
    const subject = uniqueSubject("dovecot");
    const c = await SmtpTestClient.connect(t.port("smtp"));
    try {
      assert.equal((await c.reply()).code, 220);
      const r = await sendMail(
        c,
        SENDER,
        [ALICE],
        `From: <${SENDER}>\r\nTo: <${ALICE}>\r\nSubject: ${subject}\r\n\r\nHello, Dovecot.`,
      );
      assert.equal(r.code, 250, r.raw);
      assert.equal((await c.cmd("QUIT")).code, 221);
    } finally {
      c.close();
    }
    const stored = await storedMessage(t, subject);

    dovecot = await startDovecot({
      mailRoot: join(t.dataDir, "mail"),
      users: { [ALICE]: "imap-secret-1" },
      traverseDirs: [t.dataDir],
    });
    const conn = await ImapClient.connect(dovecot.port);
    imap = conn.client;
    assert.match(conn.greeting, /Dovecot/);

    const login = await imap.command(`LOGIN ${ALICE} imap-secret-1`);
    assert.equal(login.status, "OK", login.text);
    const select = await imap.command("SELECT INBOX");
    assert.equal(select.status, "OK", `${select.text}\n${await dovecot.log()}`);
    assert.match(select.untagged, /^\* 1 EXISTS$/m);
    const fetch = await imap.command("FETCH 1 BODY[]");
    assert.equal(fetch.status, "OK", fetch.text);
    const body = fetchedBody(fetch.untagged);
    assert.equal(body, stored, "IMAP returns exactly the octets postie stored");
    assertTrace(body, "ESMTP");
    assert.match(body, /\r\nSubject: interop dovecot [0-9a-f-]{36}\r\n/);
    assert.match(body, /\r\n\r\nHello, Dovecot\.\r\n$/);
    const logout = await imap.command("LOGOUT");
    assert.equal(logout.status, "OK");
    assert.match(logout.untagged, /^\* BYE/m);
    imap.close();
    imap = undefined;

    // Dovecot took the message from new/ into cur/ (marked seen) and saw no problems.
    assert.equal((await t.newMail(ALICE)).length, 0);
    const cur = (await t.allMail()).filter((f) => f.includes("/alice/cur/"));
    assert.equal(cur.length, 1, cur.join("\n"));
    assert.match(cur[0]!, /:2,S$/);
    const log = await dovecot.log();
    assert.doesNotMatch(log, /(Error|Fatal|Panic):/, log);
    assert.match(log, /imap-login: Info: Login: user=<alice@example\.test>/);
  } finally {
    imap?.close();
    // A failing stop must not hide the test body's own error, so it is rethrown below.
    if (dovecot) report = await dovecot.stop().catch((e) => (stopError = e, undefined));
    await t.close();
  }
  // Only reached when the test body passed: the cleanup left nothing behind.
  if (stopError) throw stopError;
  assert.ok(report);
  assert.ok(report.children.length > 0, "dovecot's child processes were tracked");
  assert.deepEqual(report.survivors, [], "no dovecot process outlives the test");
  assert.ok(report.dirRemoved, "dovecot's directory was removed");
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: dovecot!.port }));
});
