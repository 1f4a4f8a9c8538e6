/**
 * Session transcripts for the state machine: command sequence, the small verbs, EHLO and
 * STARTTLS, the error limit, BDAT chunking and shutdown. Driven without sockets.
 */
import assert from "node:assert/strict";
import { openTransaction, run, setup, transcript } from "./_testing.ts";

const enc = new TextEncoder();

Deno.test("Session refuses commands out of sequence with 503 5.5.1", async () => {
  const { session } = setup();
  await transcript(
    session,
    `
    C: MAIL FROM:<a@example.org>
    S: 503 5.5.1
    C: EHLO client.example.org
    S: 250
    C: RCPT TO:<alice@example.test>
    S: 503 5.5.1
    C: DATA
    S: 503 5.5.1
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: MAIL FROM:<a@example.org>
    S: 503 5.5.1
    C: DATA
    S: 554 5.5.1
  `,
  );
});

Deno.test("Session answers the basic verbs with the RFC 5321 codes", async () => {
  const { session } = setup();
  await transcript(
    session,
    `
    C: HELO client.example.org
    S: 250
    C: NOOP
    S: 250 2.0.0
    C: HELP
    S: 214 2.0.0
    C: VRFY alice
    S: 252 2.5.0
    C: VRFY nosuchuser
    S: 252 2.5.0
    C: EXPN team
    S: 502 5.5.1
    C: RSET
    S: 250 2.0.0
    C: FOO
    S: 500 5.5.2
    C: EHLO
    S: 501 5.5.4
    C: QUIT
    S: 221 2.0.0
  `,
  );
});

Deno.test("Session advertises the ESMTP extensions and STARTTLS only before TLS", async () => {
  const { session } = setup();
  const a = await run(session, "EHLO c.example.org");
  assert.equal(a.kind, "reply");
  const lines = a.kind === "reply" ? a.reply.lines : [];
  for (
    const ext of [
      "PIPELINING",
      "SIZE 1024",
      "8BITMIME",
      "SMTPUTF8",
      "ENHANCEDSTATUSCODES",
      "CHUNKING",
      "STARTTLS",
    ]
  ) assert.ok(lines.includes(ext), `${ext} missing from ${lines}`);
  assert.ok(!lines.some((l) => l.startsWith("AUTH")), "no AUTH on the smtp listener");
  const st = await run(session, "STARTTLS");
  assert.equal(st.kind, "starttls");
  session.tlsStarted({ protocol: "TLSv1.3", cipher: "X" });
  await transcript(session, "C: MAIL FROM:<a@b.example>\nS: 503 5.5.1");
  const b = await run(session, "EHLO c.example.org");
  assert.ok(b.kind === "reply" && !b.reply.lines.includes("STARTTLS"));
  await transcript(session, "C: STARTTLS\nS: 503 5.5.1");
});

Deno.test("Session closes with 421 4.7.0 after max_errors failed commands", async () => {
  const { session } = setup({}, { limits: { max_errors: 5 } });
  for (let i = 0; i < 4; i++) await transcript(session, "C: BOGUS\nS: 500 5.5.2");
  const a = await run(session, "BOGUS");
  assert.ok(a.kind === "reply");
  assert.equal(a.reply.code, 421);
  assert.equal(a.reply.enhanced, "4.7.0");
  assert.equal(a.reply.close, true);
});

Deno.test("Session drops HTTP clients with 421 (cross-protocol defence)", async () => {
  const { session } = setup();
  const a = await run(session, "GET / HTTP/1.1");
  assert.ok(a.kind === "reply" && a.reply.code === 421 && a.reply.close);
  const b = await run(setup().session, "POST /x HTTP/1.1");
  assert.ok(b.kind === "reply" && b.reply.code === 421 && b.reply.close);
});

Deno.test("Session refuses invalid UTF-8 in a command with 500 5.5.2", async () => {
  const { session } = setup();
  const a = await session.command(new Uint8Array([0x45, 0x48, 0x4c, 0x4f, 0x20, 0xff, 0xfe]));
  assert.ok(a.kind === "reply" && a.reply.code === 500 && a.reply.enhanced === "5.5.2");
});

Deno.test("Session handles BDAT chunks (RFC 3030) and refuses DATA after BDAT", async () => {
  const { session, delivered } = setup();
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: BDAT 5
    S: bdat
  `,
  );
  let r = await session.bdatChunk(enc.encode("abcde"), 5, false);
  assert.equal(r.code, 503, "BDAT without MAIL");
  await openTransaction(session, { helo: null, upTo: "RCPT" });
  await transcript(session, "C: BDAT x\nS: 501 5.5.4");
  r = await session.bdatChunk(enc.encode("Subject: b\r\n\r\n"), 14, false);
  assert.equal(r.code, 250);
  await transcript(session, "C: DATA\nS: 503 5.5.1");
  r = await session.bdatChunk(enc.encode("body\r\n"), 6, true);
  assert.equal(r.code, 250);
  assert.equal(delivered[0]!.content, "Subject: b\r\n\r\nbody\r\n");
  // An oversized chunk (discarded by the transport) fails the transaction with 552.
  await openTransaction(session, { helo: null, upTo: "RCPT" });
  r = await session.bdatChunk(null, 5000, false);
  assert.equal(r.code, 552);
  r = await session.bdatChunk(enc.encode("x"), 1, true);
  assert.equal(r.code, 503, "the failed transaction is gone");
  assert.equal(delivered.length, 1);
});

Deno.test("Session after shutdown() answers 421 4.3.2 and closes", async () => {
  const { session } = setup();
  session.shutdown();
  const a = await run(session, "NOOP");
  assert.ok(a.kind === "reply" && a.reply.code === 421 && a.reply.enhanced === "4.3.2");
  assert.equal(a.kind === "reply" && a.reply.close, true);
});
