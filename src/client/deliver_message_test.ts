import assert from "node:assert/strict";
import { deliverMessage } from "./deliver_message.ts";
import { BODY, envelope, fakeOpts, withFakeServer } from "./_testing.ts";
import type { DeliveryResult } from "./delivery_result.ts";
import { serverCert, startTestServer, type TestServer } from "../../tests/support/harness.ts";

const enc = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Against a real postie

const MESSAGE = "From: bob@sender.test\r\nTo: alice@example.test\r\nSubject: client test\r\n\r\n" +
  "Hello Alice.\r\n.a line with a leading dot\r\n.\r\nlast line\r\n";

Deno.test("deliverMessage() delivers to postie with opportunistic STARTTLS", async () => {
  const t = await startTestServer();
  try {
    // Bare LFs in the input: postie refuses those, so acceptance proves the normalisation.
    const content = [enc.encode(MESSAGE.replaceAll("\r\n", "\n"))];
    const r = await deliverMessage(
      {
        host: "127.0.0.1",
        port: t.port("smtp"),
        helo: "client.test",
        tls: { mode: "opportunistic" },
      },
      envelope(["alice@example.test"], { size: MESSAGE.length }),
      content,
    );
    assert.equal(r.connectionError, undefined);
    assert.equal(r.recipients.length, 1);
    const rr = r.recipients[0]!;
    assert.equal(rr.address, "alice@example.test");
    assert.equal(rr.code, 250, rr.text);
    assert.equal(rr.enhanced, "2.0.0");
    assert.ok(rr.ok);
    assert.equal(rr.permanent, false);
    assert.equal(r.remoteHost, "mx.example.test");
    assert.ok(r.tls, "STARTTLS was used");
    assert.equal(r.tls.authorized, false);
    assert.ok(r.tls.authorizationError, "the reason is recorded");
    assert.match(r.tls.protocol, /^TLSv1\.[23]$/);
    const files = await t.newMail("alice@example.test");
    assert.equal(files.length, 1);
    const stored = await Deno.readTextFile(files[0]!);
    assert.ok(stored.endsWith(MESSAGE), JSON.stringify(stored.slice(-200)));
  } finally {
    await t.close();
  }
});

/** MESSAGE to alice@example.test at postie `t`, TLS required and verified for `servername`. */
async function deliverRequired(t: TestServer, servername: string): Promise<DeliveryResult> {
  return await deliverMessage(
    {
      host: "127.0.0.1",
      port: t.port("smtp"),
      helo: "client.test",
      tls: { mode: "required", servername, caCerts: [await serverCert(t)] },
    },
    envelope(["alice@example.test"]),
    [enc.encode(MESSAGE)],
  );
}

Deno.test("deliverMessage() verifies postie's certificate in required mode", async () => {
  const t = await startTestServer();
  try {
    const r = await deliverRequired(t, "mx.example.test");
    assert.equal(r.connectionError, undefined);
    assert.deepEqual(r.tls && { authorized: r.tls.authorized, err: r.tls.authorizationError }, {
      authorized: true,
      err: undefined,
    });
    assert.ok(r.recipients[0]!.ok, r.recipients[0]!.text);
    assert.equal((await t.newMail("alice@example.test")).length, 1);
  } finally {
    await t.close();
  }
});

Deno.test("deliverMessage() fails temporarily in required mode when the name does not match", async () => {
  const t = await startTestServer();
  try {
    const r = await deliverRequired(t, "other.example.test");
    assert.ok(r.connectionError);
    assert.equal(r.connectionError.permanent, false);
    assert.match(r.connectionError.text, /4\.7\.5/);
    assert.equal(r.tls?.authorized, false);
    assert.equal(r.recipients[0]!.ok, false);
    assert.equal(r.recipients[0]!.permanent, false);
    assert.deepEqual(await t.allMail(), []);
  } finally {
    await t.close();
  }
});

Deno.test("deliverMessage() reports each recipient's reply from postie", async () => {
  const t = await startTestServer();
  try {
    const r = await deliverMessage(
      { host: "127.0.0.1", port: t.port("smtp"), helo: "client.test", tls: { mode: "none" } },
      envelope(["nobody@example.test", "alice@example.test", "someone@elsewhere.example"]),
      [enc.encode(MESSAGE)],
    );
    assert.equal(r.connectionError, undefined);
    assert.equal(r.tls, undefined);
    const [unknown, alice, remote] = r.recipients;
    assert.deepEqual([unknown!.code, unknown!.enhanced, unknown!.permanent, unknown!.ok], [
      550,
      "5.1.1",
      true,
      false,
    ]);
    assert.match(unknown!.text, /User unknown/);
    assert.equal(alice!.code, 250);
    assert.ok(alice!.ok);
    assert.deepEqual([remote!.code, remote!.enhanced, remote!.permanent], [554, "5.7.1", true]);
    assert.equal((await t.newMail("alice@example.test")).length, 1);
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Against scripted fake servers

Deno.test("deliverMessage() retries in plain text when opportunistic STARTTLS breaks", async () => {
  const { result, ios } = await withFakeServer(async (io, index) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250 STARTTLS");
    if (index === 0) {
      await io.expect("STARTTLS", "220 Go ahead");
      await io.send("this is not TLS\r\n");
      io.close();
      return;
    }
    await io.acceptMessage("MAIL FROM:<bob@sender.test>", "a@x.test");
  }, async (port) => await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY));
  assert.equal(ios.length, 2);
  assert.ok(result.recipients[0]!.ok);
  assert.equal(result.tls, undefined);
});

Deno.test("deliverMessage() refuses unsendable addresses and NUL before connecting", async () => {
  const opts = fakeOpts(9); // nothing is contacted
  let r = await deliverMessage(opts, envelope(["a@x.test\r\nRSET"]), BODY);
  assert.deepEqual(r.recipients.map((x) => [x.code, x.enhanced, x.permanent]), [[
    553,
    "5.1.3",
    true,
  ]]);
  r = await deliverMessage(opts, envelope(["a@x.test"], { from: "b@x.test>\r\nDATA" }), BODY);
  assert.equal(r.connectionError?.permanent, true);
  assert.equal(r.recipients[0]!.enhanced, "5.1.7");
  r = await deliverMessage(opts, envelope(["a@x.test"]), [enc.encode("a\0b\r\n")]);
  assert.equal(r.recipients[0]!.enhanced, "5.6.0");
  await assert.rejects(
    () => deliverMessage({ ...opts, host: "mx.example.test" }, envelope(["a@x.test"]), BODY),
    TypeError,
  );
  await assert.rejects(
    () => deliverMessage({ ...opts, helo: "bad name" }, envelope(["a@x.test"]), BODY),
    TypeError,
  );
});
