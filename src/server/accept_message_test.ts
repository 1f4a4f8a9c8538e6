/**
 * Session transcripts for the end of a message: the header fields written above it, and the
 * refusal of smuggling line endings and oversized content.
 */
import assert from "node:assert/strict";
import { data, openTransaction, setup } from "./_testing.ts";

Deno.test("Session writes Return-Path, Delivered-To and an RFC 5321 §4.4 Received header", async () => {
  const { session, delivered } = setup();
  await openTransaction(session, { helo: "client.example.org", from: "sender@example.org" });
  const r = await data(session, "Subject: t\r\n\r\n..dot\r\n.\r\n");
  assert.match(r.lines[0]!, /^Ok: queued as test\.1$/);
  const d = delivered[0]!;
  assert.equal(
    d.header,
    "Return-Path: <sender@example.org>\r\nDelivered-To: alice@example.test\r\n" +
      "Received: from client.example.org ([192.0.2.7])\r\n\tby mx.example.test (postie) " +
      "with ESMTP id test.1\r\n\tfor <alice@example.test>;\r\n\tSun, 29 Nov 2026 12:00:00 +0000\r\n",
  );
  assert.equal(d.content, "Subject: t\r\n\r\n.dot\r\n");
});

Deno.test("Session refuses content with bare LF after the real terminator, 550 5.6.0", async () => {
  const { session, delivered } = setup();
  await openTransaction(session);
  const r = await data(session, "Subject: t\r\n\r\nx\n.\nMAIL FROM:<e@vil>\r\n.\r\n");
  assert.equal(r.code, 550);
  assert.equal(r.enhanced, "5.6.0");
  assert.equal(delivered.length, 0);
});

Deno.test("Session refuses an oversized DATA message with 552 5.3.4", async () => {
  const { session, delivered } = setup();
  await openTransaction(session);
  const r = await data(session, "x".repeat(2000) + "\r\n.\r\n");
  assert.equal(r.code, 552);
  assert.equal(r.enhanced, "5.3.4");
  assert.equal(delivered.length, 0);
});
