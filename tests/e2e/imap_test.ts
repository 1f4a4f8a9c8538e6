/**
 * The IMAP listeners end to end over loopback sockets: login only over TLS (143 with STARTTLS,
 * 993 with implicit TLS), mail received over SMTP read back byte for byte, IDLE woken by new
 * SMTP mail, bad input answered, and UIDs kept across a restart.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  sendMail,
  serverCert,
  SmtpTestClient,
  startTestServer,
  TEST_PASSWORD,
  type TestServer,
} from "../support/harness.ts";
import { Imap } from "../support/imap_client.ts";

async function deliver(t: TestServer, subject: string): Promise<string> {
  const body = `From: bob@example.org\r\nTo: alice@example.test\r\nSubject: ${subject}\r\n\r\n` +
    `Hello from ${subject}.\r\n`;
  const c = await SmtpTestClient.connect(t.port("smtp"));
  await c.reply();
  const r = await sendMail(c, "bob@example.org", ["alice@example.test"], body);
  assert.equal(r.code, 250);
  await c.cmd("QUIT");
  c.close();
  await t.server.spool.idle();
  return body;
}

Deno.test("IMAP on 143 refuses login before STARTTLS, also from loopback, and accepts it after", async () => {
  const t = await startTestServer();
  const c = await Imap.plain(t.port("imap"));
  try {
    const greeting = await c.line();
    assert.match(greeting, /^\* OK \[CAPABILITY IMAP4rev1 [^\]]*LOGINDISABLED[^\]]*\]/);
    assert.doesNotMatch(greeting, /AUTH=/);
    const login = await c.cmd("a1", `LOGIN alice@example.test "${TEST_PASSWORD}"`);
    assert.match(login, /^a1 NO \[PRIVACYREQUIRED\]/m);
    assert.match(await c.cmd("a2", "STARTTLS"), /^a2 OK/m);
    await c.starttls(await serverCert(t));
    const caps = await c.cmd("a3", "CAPABILITY");
    assert.match(caps, /AUTH=PLAIN/);
    assert.doesNotMatch(caps, /LOGINDISABLED/);
    assert.match(await c.cmd("a4", `LOGIN alice@example.test "${TEST_PASSWORD}"`), /^a4 OK/m);
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("IMAPS: mail received over SMTP is fetched byte for byte, IDLE sees new mail", async () => {
  const t = await startTestServer();
  const reader = await Imap.tls(t.port("imaps"), await serverCert(t));
  try {
    await reader.line();
    assert.match(await reader.cmd("a1", `LOGIN alice@example.test "${TEST_PASSWORD}"`), /a1 OK/);
    const sel = await reader.cmd("a2", "SELECT INBOX");
    assert.match(sel, /\* 0 EXISTS/);
    assert.match(sel, /a2 OK \[READ-WRITE\]/);
    await reader.send("a3 IDLE\r\n");
    assert.match(await reader.line(), /^\+ /);
    const body = await deliver(t, "idle test");
    // RFC 2177: the new message is announced during IDLE, without a command.
    assert.match(await reader.line(), /^\* 1 EXISTS\r\n$/);
    await reader.send("DONE\r\n");
    await reader.until((b) => {
      const m = /a3 OK[^\r]*\r\n/.exec(b);
      return m ? m.index + m[0].length : -1;
    });
    const f = await reader.cmd("a4", "UID FETCH 1:* (UID FLAGS BODY.PEEK[])");
    const m = /BODY\[\] \{(\d+)\}\r\n/.exec(f);
    assert.ok(m, f);
    const start = m.index + m[0].length;
    const stored = f.slice(start, start + Number(m[1]));
    assert.ok(stored.includes(body), stored);
    assert.match(stored, /^Return-Path: <bob@example.org>\r\nDelivered-To: alice@example.test\r\n/);
    assert.match(f, /UID 1 /);
  } finally {
    reader.close();
    await t.close();
  }
});

Deno.test("IMAP answers bad input: BAD, wrong state, missing mailbox, escaping names, huge literal and line", async () => {
  const t = await startTestServer();
  const c = await Imap.tls(t.port("imaps"), await serverCert(t));
  try {
    await c.line();
    assert.match(await c.cmd("b1", "FROBNICATE"), /^b1 BAD/m);
    assert.match(await c.cmd("b2", `LOGIN alice@example.test "${TEST_PASSWORD}"`), /b2 OK/);
    assert.match(await c.cmd("b3", "FETCH 1 FLAGS"), /^b3 BAD/m);
    assert.match(await c.cmd("b4", "SELECT nosuchbox"), /^b4 NO/m);
    assert.match(await c.cmd("b5", `CREATE "../../etc"`), /^b5 NO/m);
    assert.match(await c.cmd("b6", `CREATE "a/b"`), /^b6 NO/m);
    // A 4 GB literal is refused before the continuation (RFC 7889 TOOBIG).
    await c.send("b7 APPEND INBOX {4000000000}\r\n");
    assert.match(await c.line(), /^b7 NO \[TOOBIG\]/);
    await c.send(`b8 NOOP ${"x".repeat(200_000)}\r\n`);
    assert.match(await c.line(), /^\* BAD/);
    // The session is still in step afterwards, and nothing was stored or created.
    assert.match(await c.cmd("b9", "NOOP"), /^b9 OK/m);
    assert.match(await c.cmd("b10", "STATUS INBOX (MESSAGES)"), /\* STATUS INBOX \(MESSAGES 0\)/);
    const list = await c.cmd("b11", `LIST "" "*"`);
    assert.doesNotMatch(list, /etc|"a\/b"/, list);
    const messages = (await t.allMail()).filter((f) => /\/(new|cur|tmp)\/[^/]+$/.test(f));
    assert.deepEqual(messages, [], "no message file in any Maildir");
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("IMAP: APPEND returns APPENDUID; a restart keeps UIDVALIDITY and every UID", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "postie-imap-" });
  const message = "From: alice@example.test\r\nSubject: kept\r\n\r\nkeep me\r\n";
  let first: { validity: string; uid: string };
  {
    const t = await startTestServer({ dataDir });
    const c = await Imap.tls(t.port("imaps"), await serverCert(t));
    await c.line();
    await c.cmd("c1", `LOGIN alice@example.test "${TEST_PASSWORD}"`);
    const r = await c.cmd("c2", `APPEND Drafts (\\Draft) {${message.length}+}\r\n${message}`);
    const m = /c2 OK \[APPENDUID (\d+) (\d+)\]/.exec(r);
    assert.ok(m, r);
    first = { validity: m[1]!, uid: m[2]! };
    c.close();
    await t.server.stop();
    await t.dns.close();
  }
  const t = await startTestServer({ dataDir });
  const c = await Imap.tls(t.port("imaps"), await serverCert(t));
  try {
    await c.line();
    await c.cmd("d1", `LOGIN alice@example.test "${TEST_PASSWORD}"`);
    const sel = await c.cmd("d2", "SELECT Drafts");
    assert.match(sel, new RegExp(`\\[UIDVALIDITY ${first.validity}\\]`));
    const f = await c.cmd("d3", "UID FETCH 1:* (UID FLAGS BODY.PEEK[])");
    assert.match(f, new RegExp(`UID ${first.uid} `));
    assert.match(f, /\\Draft/);
    assert.ok(f.includes(message), f);
  } finally {
    c.close();
    await t.close();
  }
});
