import assert from "node:assert/strict";
import { deliverMessage } from "./deliver_message.ts";
import { BODY, envelope, fakeOpts, withFakeServer } from "./_testing.ts";
import { generateSelfSigned } from "../tls/certificate.ts";

const enc = new TextEncoder();

Deno.test("deliverMessage() never sends credentials without TLS", async () => {
  const { result, ios } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { auth: { username: "user", password: "secret-pw" } }),
      envelope(["a@x.test"]),
      BODY,
    ));
  const sent = ios[0]!.seen.join("\n");
  assert.doesNotMatch(sent, /AUTH|secret|c2VjcmV0/);
  assert.deepEqual(ios[0]!.seen, ["EHLO client.test", "QUIT"]);
  assert.equal(result.connectionError?.permanent, true);
  assert.match(result.connectionError!.text, /without TLS/);
  assert.equal(result.recipients[0]!.permanent, true);
});

Deno.test("deliverMessage() sends AUTH PLAIN over implicit TLS", async () => {
  const material = await generateSelfSigned("smarthost.test");
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 smarthost.test ESMTP");
    await io.expect(
      "EHLO client.test",
      "250-smarthost.test\r\n250-AUTH LOGIN PLAIN\r\n250 ENHANCEDSTATUSCODES",
    );
    const plain = String.fromCharCode(...enc.encode("\0user@example.test\0pässword"));
    await io.expect(`AUTH PLAIN ${btoa(plain)}`);
    await io.send("235 2.7.0 Authentication successful");
    await io.acceptMessage("MAIL FROM:<bob@sender.test>", "a@x.test", true);
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, {
        tls: { mode: "implicit", servername: "smarthost.test", caCerts: [material.certPem] },
        auth: { username: "user@example.test", password: "pässword" },
      }),
      envelope(["a@x.test"]),
      BODY,
    ), material);
  assert.equal(result.connectionError, undefined, JSON.stringify(result.connectionError));
  assert.equal(result.tls?.authorized, true);
  assert.ok(result.recipients[0]!.ok);
});

Deno.test("deliverMessage() uses AUTH LOGIN when PLAIN is not offered", async () => {
  const material = await generateSelfSigned("smarthost.test");
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 smarthost.test ESMTP");
    await io.expect("EHLO client.test", "250-smarthost.test\r\n250 AUTH=LOGIN");
    await io.expect("AUTH LOGIN", "334 VXNlcm5hbWU6");
    await io.expect(btoa("user"), "334 UGFzc3dvcmQ6");
    await io.expect(btoa("pw"), "235 Ok");
    await io.acceptMessage("MAIL FROM:<bob@sender.test>", "a@x.test");
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, {
        tls: { mode: "implicit", servername: "smarthost.test", caCerts: [material.certPem] },
        auth: { username: "user", password: "pw" },
      }),
      envelope(["a@x.test"]),
      BODY,
    ), material);
  assert.ok(result.recipients[0]!.ok, JSON.stringify(result));
});

Deno.test("deliverMessage() reports rejected credentials as permanent", async () => {
  const material = await generateSelfSigned("smarthost.test");
  const { result, ios } = await withFakeServer(async (io) => {
    await io.send("220 smarthost.test ESMTP");
    await io.expect(
      "EHLO client.test",
      "250-smarthost.test\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN",
    );
    await io.expect(/^AUTH PLAIN /, "535 5.7.8 Authentication credentials invalid");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, {
        tls: { mode: "implicit", servername: "smarthost.test", caCerts: [material.certPem] },
        auth: { username: "user", password: "wrong" },
      }),
      envelope(["a@x.test"]),
      BODY,
    ), material);
  assert.ok(!ios[0]!.seen.some((l) => l.startsWith("MAIL")));
  assert.deepEqual(result.connectionError, {
    text: "535 5.7.8 Authentication credentials invalid (in reply to AUTH)",
    permanent: true,
    code: 535,
  });
});
