import assert from "node:assert/strict";
import { deliverMessage } from "./deliver_message.ts";
import { BODY, EHLO_FULL, envelope, fakeOpts, withFakeServer } from "./_testing.ts";

Deno.test("deliverMessage() times out on a silent server with a temporary failure", async () => {
  const started = Date.now();
  const { result } = await withFakeServer(async (io) => {
    await io.end(); // never says anything
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { timeouts: { greeting: 200 } }),
      envelope(["a@x.test"]),
      BODY,
    ));
  assert.ok(Date.now() - started < 3000);
  assert.equal(result.connectionError?.permanent, false);
  assert.equal(result.connectionError?.code, undefined);
  assert.match(result.connectionError!.text, /timed out.*greeting/);
  assert.equal(result.recipients[0]!.permanent, false);
});

Deno.test("deliverMessage() times out waiting for the final reply with a temporary failure", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_FULL);
    await io.chunk();
    await io.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead");
    await io.data();
    await io.end(); // no final reply
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { timeouts: { dataEnd: 200 } }),
      envelope(["a@x.test"]),
      BODY,
    ));
  assert.equal(result.connectionError, undefined, "recipients were tried");
  const r = result.recipients[0]!;
  assert.deepEqual([r.code, r.enhanced, r.permanent, r.ok], [421, "4.4.2", false, false]);
});

Deno.test("deliverMessage() treats a connection reset mid-transaction as temporary", async () => {
  const { result } = await withFakeServer(
    async (io) => {
      await io.send("220 fake.test ESMTP");
      await io.expect("EHLO client.test", "250-fake.test\r\n250 ENHANCEDSTATUSCODES");
      await io.expect("MAIL FROM:<bob@sender.test>", "250 2.1.0 Ok");
      await io.expect("RCPT TO:<a@x.test>", "550 5.1.1 no");
      await io.expect("RCPT TO:<b@x.test>");
      io.close(); // gone
    },
    async (port) =>
      await deliverMessage(fakeOpts(port), envelope(["a@x.test", "b@x.test", "c@x.test"]), BODY),
  );
  assert.equal(result.connectionError, undefined);
  assert.deepEqual(result.recipients.map((r) => [r.code, r.permanent, r.ok]), [
    [550, true, false],
    [421, false, false],
    [421, false, false],
  ]);
  assert.match(result.recipients[1]!.text, /connection closed/);
});

Deno.test("deliverMessage() reports a refused connection as temporary", async () => {
  // A port nobody listens on: bind and close a listener to get one.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const r = await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY);
  assert.equal(r.connectionError?.permanent, false);
  assert.match(r.connectionError!.text, /^421 4\.4\.1 connect to 127\.0\.0\.1:\d+ failed/);
});

Deno.test("deliverMessage() binds the source address", async () => {
  const { result, ios } = await withFakeServer(async (io) => {
    await io.send("554 5.7.1 go away");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { localAddress: "127.0.0.2" }),
      envelope(["a@x.test"]),
      BODY,
    ));
  assert.equal(ios[0]!.remoteAddress, "127.0.0.2");
  assert.equal(result.connectionError?.code, 554);
});

Deno.test("deliverMessage() treats a malformed reply as a temporary failure", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n251 mixed codes");
    await io.end();
  }, async (port) => await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY));
  assert.equal(result.connectionError?.permanent, false);
  assert.match(result.connectionError!.text, /malformed reply/);
});
