/** Protocol behaviour over real TCP: pipelining, STARTTLS injection, limits, timeouts. */
import assert from "node:assert/strict";
import { sendMail, serverCert, SmtpTestClient, startTestServer } from "../support/harness.ts";

Deno.test("PIPELINING: a whole transaction in one write gets every reply in order", async () => {
  const t = await startTestServer();
  try {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    await c.cmd("EHLO client.example.org");
    // RFC 2920: MAIL, RCPT..., DATA in one group; then the content; then RSET and QUIT.
    await c.send(
      "MAIL FROM:<p@example.org>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\n" +
        "DATA\r\n",
    );
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await c.reply()).code);
    assert.deepEqual(codes, [250, 250, 550, 354]);
    await c.send("Subject: pipelined\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n");
    assert.equal((await c.reply()).code, 250);
    assert.equal((await c.reply()).code, 250);
    assert.equal((await c.reply()).code, 221);
    assert.ok(await c.closedByServer());
    c.close();
    assert.equal((await t.newMail("alice@example.test")).length, 1);
  } finally {
    await t.close();
  }
});

Deno.test("STARTTLS: commands pipelined after STARTTLS are discarded (CVE-2011-0411)", async () => {
  const t = await startTestServer();
  try {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    await c.cmd("EHLO client.example.org");
    await c.send("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n");
    assert.equal((await c.reply()).code, 220);
    assert.equal(c.pending, "");
    // Upgrade by hand (the reply was already read).
    await c.starttlsAfterReply(await serverCert(t));
    // Had the injected MAIL survived, its reply (503, no EHLO yet) would come first.
    const noop = await c.cmd("NOOP");
    assert.equal(noop.code, 250);
    assert.equal(noop.lines[0], "2.0.0 Ok");
    c.close();
  } finally {
    await t.close();
  }
});

Deno.test("BDAT over TCP: chunks, LAST, and data pipelined with the command", async () => {
  const t = await startTestServer();
  try {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    await c.cmd("EHLO client.example.org");
    await c.cmd("MAIL FROM:<b@example.org>");
    await c.cmd("RCPT TO:<alice@example.test>");
    const part1 = "Subject: chunked\r\n\r\n";
    const part2 = "line one\r\nline two\r\n";
    await c.send(`BDAT ${part1.length}\r\n${part1}BDAT ${part2.length} LAST\r\n${part2}`);
    assert.equal((await c.reply()).code, 250);
    const last = await c.reply();
    assert.equal(last.code, 250, last.raw);
    const files = await t.newMail("alice@example.test");
    assert.equal(files.length, 1);
    assert.ok((await Deno.readTextFile(files[0]!)).endsWith(part1 + part2));
    c.close();
  } finally {
    await t.close();
  }
});

Deno.test("limits: long command line, declared and actual size", async () => {
  const t = await startTestServer({ config: { limits: { max_message_bytes: 4096 } } });
  try {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    await c.cmd("EHLO client.example.org");
    const long = await c.cmd("NOOP " + "x".repeat(5000));
    assert.equal(long.code, 500);
    assert.match(long.lines[0]!, /^5\.5\.2 Line too long/);
    assert.equal((await c.cmd("NOOP")).code, 250, "the session is still in sync");
    assert.equal((await c.cmd("MAIL FROM:<a@example.org> SIZE=5000")).code, 552);
    const r = await sendMail(c, "a@example.org", ["alice@example.test"], "x".repeat(5000));
    assert.equal(r.code, 552);
    assert.match(r.lines[0]!, /^5\.3\.4 /);
    assert.deepEqual(await t.allMail(), []);
    c.close();
  } finally {
    await t.close();
  }
});

Deno.test("limits: connections per IP and in total get 421 4.7.0 at the greeting", async () => {
  const t = await startTestServer({
    config: { limits: { max_connections_per_ip: 2, max_connections: 3 } },
  });
  const clients: SmtpTestClient[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = await SmtpTestClient.connect(t.port("smtp"));
      clients.push(c);
      assert.equal((await c.reply()).code, 220);
    }
    const third = await SmtpTestClient.connect(t.port("smtp"));
    clients.push(third);
    const r = await third.reply();
    assert.equal(r.code, 421);
    assert.match(r.lines[0]!, /^4\.7\.0 /);
    assert.ok(await third.closedByServer());
    clients[0]!.close();
    await new Promise((res) => setTimeout(res, 100));
    const again = await SmtpTestClient.connect(t.port("smtp"));
    clients.push(again);
    assert.equal((await again.reply()).code, 220, "a slot is free again after a disconnect");
  } finally {
    for (const c of clients) c.close();
    await t.close();
  }
});

Deno.test("timeouts: an idle client gets 421 4.4.2 and is disconnected", async () => {
  const t = await startTestServer({ config: { timeouts: { command_seconds: 1 } } });
  try {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    const r = await c.reply(5000);
    assert.equal(r.code, 421);
    assert.match(r.lines[0]!, /^4\.4\.2 /);
    assert.ok(await c.closedByServer());
    c.close();
  } finally {
    await t.close();
  }
});

Deno.test("timeouts: a client stalling inside DATA gets 421 and nothing is stored", async () => {
  const t = await startTestServer({ config: { timeouts: { data_seconds: 1 } } });
  try {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    await c.cmd("EHLO client.example.org");
    await c.cmd("MAIL FROM:<a@example.org>");
    await c.cmd("RCPT TO:<alice@example.test>");
    assert.equal((await c.cmd("DATA")).code, 354);
    await c.send("Subject: stalled\r\n\r\nhalf a mess");
    const r = await c.reply(5000);
    assert.equal(r.code, 421);
    assert.ok(await c.closedByServer());
    c.close();
    assert.deepEqual(await t.newMail("alice@example.test"), []);
  } finally {
    await t.close();
  }
});

Deno.test("greeting delay: a client that talks first is refused with 554", async () => {
  const t = await startTestServer({ config: { timeouts: { greeting_delay_ms: 300 } } });
  try {
    const bot = await SmtpTestClient.connect(t.port("smtp"));
    await bot.send("EHLO spambot\r\n");
    const r = await bot.reply();
    assert.equal(r.code, 554);
    assert.ok(await bot.closedByServer());
    bot.close();
    const polite = await SmtpTestClient.connect(t.port("smtp"));
    assert.equal((await polite.reply()).code, 220);
    polite.close();
  } finally {
    await t.close();
  }
});

Deno.test("limits: the total connection limit refuses with 421 4.7.0", async () => {
  const t = await startTestServer({
    config: { limits: { max_connections_per_ip: 10, max_connections: 2 } },
  });
  const clients: SmtpTestClient[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = await SmtpTestClient.connect(t.port("smtp"));
      clients.push(c);
      assert.equal((await c.reply()).code, 220);
    }
    const over = await SmtpTestClient.connect(t.port("submission"));
    clients.push(over);
    const r = await over.reply();
    assert.equal(r.code, 421);
    assert.match(r.lines[0]!, /^4\.7\.0 .*too many connections/);
  } finally {
    for (const c of clients) c.close();
    await t.close();
  }
});

Deno.test("listeners work over IPv6 and the Received header shows the IPv6 literal", async () => {
  const t = await startTestServer({ config: { listen: { smtp: ["[::1]:0"], submission: [] } } });
  try {
    const c = await SmtpTestClient.connect(t.port("smtp"), "::1");
    assert.equal((await c.reply()).code, 220);
    const r = await sendMail(c, "v6@example.org", ["alice@example.test"], "Subject: v6\r\n\r\nx");
    assert.equal(r.code, 250, r.raw);
    c.close();
    const [file] = await t.newMail("alice@example.test");
    assert.match(
      await Deno.readTextFile(file!),
      /Received: from client\.example\.org \(\[IPv6:::1\]\)/,
    );
  } finally {
    await t.close();
  }
});
