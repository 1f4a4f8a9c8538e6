import assert from "node:assert/strict";
import { sendMail, serverCert, SmtpTestClient, startTestServer } from "../support/harness.ts";

Deno.test("a message to a local account is in new/ when the 250 arrives", async () => {
  const t = await startTestServer();
  try {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    assert.equal((await c.reply()).code, 220);
    const r = await sendMail(
      c,
      "bob@example.org",
      ["alice@example.test"],
      "Subject: hi\r\n\r\nhello",
    );
    assert.equal(r.code, 250, r.raw);
    // Checked right after the 250, before anything else happens.
    const files = await t.newMail("alice@example.test");
    assert.equal(files.length, 1);
    const text = await Deno.readTextFile(files[0]!);
    // The trace block, top to bottom: Return-Path, Delivered-To, Authentication-Results,
    // Received-SPF, then our Received header (example.org has no SPF record: none).
    const lines = text.split("\r\n");
    assert.equal(lines[0], "Return-Path: <bob@example.org>");
    assert.equal(lines[1], "Delivered-To: alice@example.test");
    assert.equal(lines[2], "Authentication-Results: mx.example.test;");
    assert.equal(lines[3], "\tspf=none smtp.mailfrom=bob@example.org;");
    assert.equal(lines[4], "\tdkim=none;");
    assert.match(lines[5]!, /^\tdmarc=permerror /, "the message has no From:");
    assert.match(lines[6]!, /^Received-SPF: none \(mx\.example\.test: /);
    assert.match(text, /\r\nReceived: from client\.example\.org \(\[127\.0\.0\.1\]\)\r\n/);
    assert.match(text, /\r\n\r\nhello\r\n$/);
    assert.equal((await c.cmd("QUIT")).code, 221);
    c.close();
  } finally {
    await t.close();
  }
});

Deno.test("STARTTLS upgrades and resets the session to before EHLO", async () => {
  const t = await startTestServer();
  try {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    const ehlo = await c.cmd("EHLO client.example.org");
    assert.ok(ehlo.lines.includes("STARTTLS"));
    assert.equal((await c.starttls(await serverCert(t))).code, 220);
    // RFC 3207 §4.2: state is reset, MAIL before a new EHLO is out of sequence.
    assert.equal((await c.cmd("MAIL FROM:<a@example.org>")).code, 503);
    const ehlo2 = await c.cmd("EHLO client.example.org");
    assert.ok(!ehlo2.lines.includes("STARTTLS"));
    c.close();
  } finally {
    await t.close();
  }
});
