import assert from "node:assert/strict";
import { deliverMessage } from "./deliver_message.ts";
import { BODY, envelope, fakeOpts, withFakeServer } from "./_testing.ts";
import { generateSelfSigned } from "../tls/certificate.ts";

Deno.test("deliverMessage() falls back to HELO when EHLO gets 500", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 old.test SMTP");
    await io.expect("EHLO client.test", "500 Command unrecognized");
    await io.expect("HELO client.test", "250 old.test");
    // No ESMTP parameters after HELO, even with a size and 8-bit content.
    await io.acceptMessage("MAIL FROM:<bob@sender.test>", "a@old.test");
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["a@old.test"], { size: 5000, eightBit: true }),
      BODY,
    ));
  assert.equal(result.recipients[0]!.code, 250);
  assert.equal(result.remoteHost, "old.test");
});

Deno.test("deliverMessage() treats 421 at the greeting as temporary", async () => {
  const { result, ios } = await withFakeServer(async (io) => {
    await io.send("421 4.3.2 fake.test busy, try later");
    await io.end();
  }, async (port) => await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY));
  assert.deepEqual(ios[0]!.seen, [], "nothing sent after a 421");
  assert.deepEqual(result.connectionError, {
    text: "421 4.3.2 fake.test busy, try later (in reply to greeting)",
    permanent: false,
    code: 421,
  });
  const r = result.recipients[0]!;
  assert.deepEqual([r.code, r.enhanced, r.permanent, r.ok], [421, "4.3.2", false, false]);
});

Deno.test("deliverMessage() treats 554 at the greeting as permanent and says QUIT", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("554-5.7.1 fake.test does not accept mail\r\n554 5.7.1 from you");
    await io.quit();
  }, async (port) => await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY));
  assert.equal(result.connectionError?.permanent, true);
  assert.equal(result.connectionError?.code, 554);
  const r = result.recipients[0]!;
  assert.deepEqual([r.code, r.enhanced, r.text, r.permanent], [
    554,
    "5.7.1",
    "fake.test does not accept mail from you",
    true,
  ]);
});

Deno.test("deliverMessage() refuses implicit TLS to an unverified certificate", async () => {
  const material = await generateSelfSigned("smarthost.test");
  const { result, ios } = await withFakeServer(async (io) => {
    await io.end();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, {
        tls: { mode: "implicit", servername: "smarthost.test" },
        auth: { username: "user", password: "pw" },
      }),
      envelope(["a@x.test"]),
      BODY,
    ), material);
  assert.deepEqual(ios[0]?.seen ?? [], []);
  assert.equal(result.connectionError?.permanent, false);
  assert.match(result.connectionError!.text, /4\.7\.5 TLS certificate not verified/);
  assert.equal(result.tls?.authorized, false);
});

Deno.test("deliverMessage() fails temporarily in required mode without STARTTLS", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250 PIPELINING");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { tls: { mode: "required" } }),
      envelope(["a@x.test"]),
      BODY,
    ));
  assert.equal(result.connectionError?.permanent, false);
  assert.match(result.connectionError!.text, /^421 4\.7\.5 .*STARTTLS/);
});
