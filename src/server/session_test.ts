/**
 * Session transcripts: the protocol machine driven without sockets. Each transcript is a list
 * of client lines and the reply each must get ("C: line" / "S: code enhanced").
 */
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { validateConfig } from "../config/config.ts";
import { Router } from "../delivery/router.ts";
import type { MailboxRef } from "../delivery/maildir.ts";
import { DotReader } from "../smtp/data.ts";
import { type Action, Session, type SessionOptions } from "./session.ts";

interface Delivered {
  boxes: string[];
  header: string;
  content: string;
}

function setup(
  overrides: Partial<SessionOptions> = {},
  configDoc: Record<string, unknown> = {},
) {
  const config = validateConfig(
    {
      hostname: "mx.example.test",
      domains: ["example.test", "other.test"],
      aliases: {
        "team@example.test": ["alice@example.test", "bob@example.test"],
        "info@example.test": "team@example.test",
        "@other.test": "bob@example.test",
        "ghost@example.test": "nobody@example.test",
      },
      limits: { max_recipients: 3, max_errors: 100, max_message_bytes: 1024 },
      ...configDoc,
    },
    "(test)",
    "/tmp",
  );
  const accounts = new Map(
    ["alice@example.test", "bob@example.test"].map((a) => {
      const [local, domain] = a.split("@") as [string, string];
      return [a, { address: a, local, domain }];
    }),
  );
  const delivered: Delivered[] = [];
  const session = new Session({
    id: "test",
    listener: "smtp",
    config,
    peer: { address: "192.0.2.7", port: 4000 },
    router: new Router(config, { get: (a) => accounts.get(a) }),
    sink: {
      deliver(boxes: readonly MailboxRef[], headerFor, content) {
        const text = new TextDecoder().decode(
          new Uint8Array(content.flatMap((p) => [...p])),
        );
        delivered.push({
          boxes: boxes.map((b) => b.address).sort(),
          header: headerFor(boxes[0]!),
          content: text,
        });
        return Promise.resolve();
      },
    },
    log: getLogger(["postie-test"]),
    tlsAvailable: true,
    now: () => new Date(Date.UTC(2026, 10, 29, 12, 0, 0)),
    ...overrides,
  });
  return { session, delivered };
}

const enc = new TextEncoder();

async function run(session: Session, line: string): Promise<Action> {
  return await session.command(enc.encode(line));
}

/** Run "C: ..." lines, checking each reply against the following "S: ..." line. */
async function transcript(session: Session, script: string): Promise<void> {
  const lines = script.trim().split("\n").map((l) => l.trim());
  for (let i = 0; i < lines.length; i += 2) {
    const c = lines[i]!;
    const s = lines[i + 1]!;
    assert.ok(c.startsWith("C: ") && s.startsWith("S: "), `bad transcript at ${c}`);
    const action = await run(session, c.slice(3));
    const reply = action.kind === "bdat" ? undefined : action.reply;
    const got = reply ? `${reply.code}${reply.enhanced ? " " + reply.enhanced : ""}` : "bdat";
    assert.equal(got, s.slice(3), `after "${c.slice(3)}": ${JSON.stringify(reply)}`);
  }
}

async function data(session: Session, body: string) {
  const reader = new DotReader(1024);
  const rest = reader.feed(enc.encode(body));
  assert.ok(rest !== undefined, "terminator not found");
  return await session.dataEnd(reader.result());
}

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

Deno.test("Session validates MAIL parameters (RFC 1870, 6152, 6531)", async () => {
  const { session } = setup();
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<a@example.org> SIZE=2048
    S: 552 5.3.4
    C: MAIL FROM:<a@example.org> SIZE=abc
    S: 501 5.5.4
    C: MAIL FROM:<a@example.org> BODY=BINARYMIME
    S: 501 5.5.4
    C: MAIL FROM:<a@example.org> RET=HDRS
    S: 555 5.5.4
    C: MAIL FROM:<ü@example.org>
    S: 553 5.6.7
    C: MAIL FROM:<ü@example.org> SMTPUTF8 BODY=8BITMIME SIZE=100
    S: 250 2.1.0
    C: RCPT TO:<alice@example.test> NOTIFY=NEVER
    S: 555 5.5.4
    C: RCPT TO:<>
    S: 501 5.1.3
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5
  `,
  );
});

Deno.test("Session resolves aliases, catch-all and subaddresses, one copy per mailbox", async () => {
  const { session, delivered } = setup({}, { limits: { max_recipients: 10 } });
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: RCPT TO:<Alice@Example.TEST>
    S: 250 2.1.5
    C: RCPT TO:<alice+lists@example.test>
    S: 250 2.1.5
    C: RCPT TO:<team@example.test>
    S: 250 2.1.5
    C: RCPT TO:<info@example.test>
    S: 250 2.1.5
    C: RCPT TO:<anything@other.test>
    S: 250 2.1.5
    C: RCPT TO:<nobody@example.test>
    S: 550 5.1.1
    C: RCPT TO:<ghost@example.test>
    S: 550 5.1.1
    C: RCPT TO:<"alice"@example.test>
    S: 250 2.1.5
    C: RCPT TO:<"al ice"@example.test>
    S: 550 5.1.1
    C: RCPT TO:<alice%x@example.test>
    S: 550 5.1.1
  `,
  );
  const r = await data(session, "Subject: t\r\n\r\nhi\r\n.\r\n");
  assert.equal(r.code, 250);
  assert.equal(delivered.length, 1);
  assert.deepEqual(delivered[0]!.boxes, ["alice@example.test", "bob@example.test"]);
});

Deno.test("Session writes Return-Path, Delivered-To and an RFC 5321 §4.4 Received header", async () => {
  const { session, delivered } = setup();
  await transcript(
    session,
    `
    C: EHLO client.example.org
    S: 250
    C: MAIL FROM:<sender@example.org>
    S: 250 2.1.0
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5
    C: DATA
    S: 354
  `,
  );
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

Deno.test("Session limits recipients with 452 4.5.3 (RFC 5321 §4.5.3.1.10)", async () => {
  const { session } = setup();
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5
    C: RCPT TO:<bob@example.test>
    S: 250 2.1.5
    C: RCPT TO:<team@example.test>
    S: 250 2.1.5
    C: RCPT TO:<alice@example.test>
    S: 452 4.5.3
  `,
  );
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

Deno.test("Session refuses content with bare LF after the real terminator, 550 5.6.0", async () => {
  const { session, delivered } = setup();
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5
    C: DATA
    S: 354
  `,
  );
  const r = await data(session, "Subject: t\r\n\r\nx\n.\nMAIL FROM:<e@vil>\r\n.\r\n");
  assert.equal(r.code, 550);
  assert.equal(r.enhanced, "5.6.0");
  assert.equal(delivered.length, 0);
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
  await transcript(
    session,
    `
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5
    C: BDAT x
    S: 501 5.5.4
  `,
  );
  r = await session.bdatChunk(enc.encode("Subject: b\r\n\r\n"), 14, false);
  assert.equal(r.code, 250);
  await transcript(session, "C: DATA\nS: 503 5.5.1");
  r = await session.bdatChunk(enc.encode("body\r\n"), 6, true);
  assert.equal(r.code, 250);
  assert.equal(delivered[0]!.content, "Subject: b\r\n\r\nbody\r\n");
  // An oversized chunk (discarded by the transport) fails the transaction with 552.
  await transcript(
    session,
    `
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5
  `,
  );
  r = await session.bdatChunk(null, 5000, false);
  assert.equal(r.code, 552);
  r = await session.bdatChunk(enc.encode("x"), 1, true);
  assert.equal(r.code, 503, "the failed transaction is gone");
  assert.equal(delivered.length, 1);
});

Deno.test("Session refuses an oversized DATA message with 552 5.3.4", async () => {
  const { session, delivered } = setup();
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5
    C: DATA
    S: 354
  `,
  );
  const r = await data(session, "x".repeat(2000) + "\r\n.\r\n");
  assert.equal(r.code, 552);
  assert.equal(r.enhanced, "5.3.4");
  assert.equal(delivered.length, 0);
});

Deno.test("Session on the submission listener requires AUTH: 530 5.7.0", async () => {
  const { session } = setup({ listener: "submission" });
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<alice@example.test>
    S: 530 5.7.0
  `,
  );
});

Deno.test("Session after shutdown() answers 421 4.3.2 and closes", async () => {
  const { session } = setup();
  session.shutdown();
  const a = await run(session, "NOOP");
  assert.ok(a.kind === "reply" && a.reply.code === 421 && a.reply.enhanced === "4.3.2");
  assert.equal(a.kind === "reply" && a.reply.close, true);
});

Deno.test("Session accepts postmaster of every local domain (RFC 5321 §4.5.1)", async () => {
  const { session, delivered } = setup({}, {
    aliases: { "postmaster@example.test": "bob@example.test" },
  });
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<>
    S: 250 2.1.0
    C: RCPT TO:<postmaster@other.test>
    S: 250 2.1.5
    C: RCPT TO:<PostMaster>
    S: 250 2.1.5
    C: DATA
    S: 354
  `,
  );
  const r = await data(session, "Subject: pm\r\n\r\nx\r\n.\r\n");
  assert.equal(r.code, 250);
  assert.deepEqual(delivered[0]!.boxes, ["bob@example.test"]);
});
