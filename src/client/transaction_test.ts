import assert from "node:assert/strict";
import { deliverMessage } from "./deliver_message.ts";
import { BODY, EHLO_FULL, envelope, fakeOpts, withFakeServer } from "./_testing.ts";

const enc = new TextEncoder();

Deno.test("deliverMessage() sends MAIL, RCPTs and DATA in one write when PIPELINING is offered", async () => {
  let group = "";
  let content = "";
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_FULL);
    group = (await io.chunk()) ?? "";
    await io.send(
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n250 2.1.5 Ok\r\n354 Go ahead",
    );
    content = await io.data();
    await io.send("250 2.0.0 Queued as X");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["a@fake.test", "b@fake.test", "c@fake.test"], { size: 20, eightBit: true }),
      BODY,
    ));
  assert.equal(
    group,
    "MAIL FROM:<bob@sender.test> SIZE=20 BODY=8BITMIME\r\n" +
      "RCPT TO:<a@fake.test>\r\nRCPT TO:<b@fake.test>\r\nRCPT TO:<c@fake.test>\r\nDATA\r\n",
  );
  assert.equal(content, "Subject: x\r\n\r\nhi\r\n.\r\n");
  assert.deepEqual(
    result.recipients.map((r) => [r.address, r.code, r.enhanced, r.text, r.ok, r.permanent]),
    [
      ["a@fake.test", 250, "2.0.0", "Queued as X", true, false],
      ["b@fake.test", 550, "5.1.1", "No such user", false, true],
      ["c@fake.test", 250, "2.0.0", "Queued as X", true, false],
    ],
  );
  assert.equal(result.remoteHost, "fake.test");
  assert.equal(result.tls, undefined, "no STARTTLS offered");
});

Deno.test("deliverMessage() sends one command at a time without PIPELINING", async () => {
  const chunks: string[] = [];
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250 8BITMIME");
    chunks.push((await io.chunk())!);
    await io.send("250 Ok");
    chunks.push((await io.chunk())!);
    await io.send("550 No");
    chunks.push((await io.chunk())!);
    await io.send("251 Will forward");
    chunks.push((await io.chunk())!);
    await io.send("354 Go");
    await io.data();
    await io.send("451 4.3.0 Try later");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["a@fake.test", "b@fake.test"], { eightBit: true }),
      BODY,
    ));
  assert.deepEqual(chunks, [
    "MAIL FROM:<bob@sender.test> BODY=8BITMIME\r\n",
    "RCPT TO:<a@fake.test>\r\n",
    "RCPT TO:<b@fake.test>\r\n",
    "DATA\r\n",
  ]);
  // No ENHANCEDSTATUSCODES advertised: "4.3.0" stays in the text.
  assert.deepEqual(result.recipients.map((r) => [r.code, r.enhanced, r.text, r.permanent]), [
    [550, undefined, "No", true],
    [451, undefined, "4.3.0 Try later", false],
  ]);
});

Deno.test("deliverMessage() does not send DATA when no recipient is accepted", async () => {
  const { result, ios } = await withFakeServer(
    async (io) => {
      await io.send("220 fake.test ESMTP");
      await io.expect("EHLO client.test", "250-fake.test\r\n250 ENHANCEDSTATUSCODES");
      await io.expect("MAIL FROM:<bob@sender.test>", "250 2.1.0 Ok");
      await io.expect("RCPT TO:<a@fake.test>", "450 4.2.0 Mailbox busy");
      await io.expect("RCPT TO:<b@fake.test>", "550 5.1.1 No");
      await io.quit();
    },
    async (port) =>
      await deliverMessage(fakeOpts(port), envelope(["a@fake.test", "b@fake.test"]), BODY),
  );
  assert.ok(!ios[0]!.seen.includes("DATA"));
  assert.equal(result.connectionError, undefined);
  assert.deepEqual(result.recipients.map((r) => [r.code, r.enhanced, r.permanent]), [
    [450, "4.2.0", false],
    [550, "5.1.1", true],
  ]);
});

Deno.test("deliverMessage() refuses a message above the server's SIZE without sending MAIL", async () => {
  const { result, ios } = await withFakeServer(
    async (io) => {
      await io.send("220 fake.test ESMTP");
      await io.expect("EHLO client.test", "250-fake.test\r\n250-PIPELINING\r\n250 SIZE 1000");
      await io.quit();
    },
    async (port) =>
      await deliverMessage(
        fakeOpts(port),
        envelope(["a@x.test", "b@x.test"], { size: 5000 }),
        BODY,
      ),
  );
  assert.ok(!ios[0]!.seen.some((l) => l.startsWith("MAIL")));
  assert.ok(result.connectionError);
  assert.equal(result.connectionError.permanent, true);
  assert.equal(result.connectionError.code, undefined, "a local decision");
  assert.match(result.connectionError.text, /^552 5\.3\.4 message too big for remote server/);
  for (const r of result.recipients) {
    assert.deepEqual([r.code, r.enhanced, r.permanent, r.ok], [552, "5.3.4", true, false]);
  }
});

Deno.test("deliverMessage() refuses an SMTPUTF8 message when the server lacks SMTPUTF8", async () => {
  const { result, ios } = await withFakeServer(
    async (io) => {
      await io.send("220 fake.test ESMTP");
      await io.expect("EHLO client.test", "250-fake.test\r\n250 8BITMIME");
      await io.quit();
    },
    async (port) =>
      await deliverMessage(fakeOpts(port), envelope(["jörg@x.test"], { smtputf8: false }), BODY),
  );
  assert.ok(!ios[0]!.seen.some((l) => l.startsWith("MAIL")));
  assert.equal(result.connectionError?.permanent, true);
  const r = result.recipients[0]!;
  assert.deepEqual([r.code, r.enhanced, r.permanent], [553, "5.6.7", true]);
  assert.match(r.text, /SMTPUTF8/);
});

Deno.test("deliverMessage() sends SMTPUTF8 when the server offers it", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250-8BITMIME\r\n250 SMTPUTF8");
    await io.acceptMessage("MAIL FROM:<bob@sender.test> BODY=8BITMIME SMTPUTF8", "jörg@x.test");
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["jörg@x.test"], { smtputf8: true, eightBit: true }),
      BODY,
    ));
  assert.ok(result.recipients[0]!.ok);
});

Deno.test("deliverMessage() sends a large message intact", async () => {
  const line = "0123456789".repeat(9) + "\r\n";
  const big = "Subject: big\r\n\r\n" + (line + "." + line).repeat(5000); // ~0.9 MB
  let received = "";
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_FULL.replace("SIZE 10000", "SIZE 0"));
    await io.chunk();
    await io.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead");
    received = await io.data();
    await io.send("250 2.0.0 Ok");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["a@x.test"], { size: big.length }),
      [enc.encode(big.slice(0, 1000)), enc.encode(big.slice(1000))],
    ));
  assert.ok(result.recipients[0]!.ok);
  assert.equal(received, big.replaceAll("\r\n.", "\r\n..") + ".\r\n");
});
