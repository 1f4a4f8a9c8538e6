import assert from "node:assert/strict";
import { ConnectionCache } from "./connection_cache.ts";
import type { DeliveryResult } from "./delivery_result.ts";
import { BODY, envelope, type FakeIO, fakeOpts, withFakeServer } from "./_testing.ts";

const enc = new TextEncoder();

/** Server side of one pipelined transaction: MAIL, one RCPT, DATA, content, final reply. */
async function serveTransaction(io: FakeIO, rcpt: string, final = "250 2.0.0 Ok"): Promise<string> {
  await io.expect("MAIL FROM:<bob@sender.test>", "250 2.1.0 Ok");
  await io.expect(`RCPT TO:<${rcpt}>`, "250 2.1.5 Ok");
  await io.expect("DATA", "354 Go ahead");
  const content = await io.data();
  await io.send(final);
  return content;
}

const EHLO_PIPE = "250-fake.test Hello\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES";

Deno.test("ConnectionCache sends several messages over one connection, then QUIT at the limit", async () => {
  const cache = new ConnectionCache({ maxTransactions: 3 });
  const results: DeliveryResult[] = [];
  const perConnection: string[][] = [];
  const { ios } = await withFakeServer(async (io, index) => {
    const got: string[] = [];
    perConnection[index] = got;
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_PIPE);
    for (let n = 0; n < (index === 0 ? 3 : 1); n++) {
      got.push(await serveTransaction(io, `m${got.length + 3 * index}@x.test`));
    }
    await io.quit();
  }, async (port) => {
    try {
      for (let m = 0; m < 4; m++) {
        const body = [enc.encode(`Subject: ${m}\r\n\r\nmessage ${m}\r\n`)];
        results.push(await cache.deliver(fakeOpts(port), envelope([`m${m}@x.test`]), body));
      }
      assert.deepEqual(cache.stats, { connections: 2, transactions: 4, idle: 1 });
    } finally {
      await cache.close();
    }
    return results[0]!;
  });
  assert.equal(ios.length, 2, "three messages on the first connection, the fourth on a new one");
  assert.deepEqual(
    perConnection.map((c) => c.map((d) => d.match(/message (\d)/)![1])),
    [["0", "1", "2"], ["3"]],
  );
  // Between transactions nothing but the next MAIL: no EHLO again, no RSET (RFC 5321 §3.3).
  assert.deepEqual(ios[0]!.seen.filter((l) => /^[A-Z]{4}\b/.test(l) && !/^(Subj)/.test(l)), [
    "EHLO client.test",
    ...Array(3).fill(["MAIL FROM:<bob@sender.test>", "RCPT TO:<m0@x.test>", "DATA"]).flat()
      .map((l, i) => l.replace("m0", `m${Math.floor(i / 3)}`)),
    "QUIT",
  ]);
  for (const r of results) {
    assert.equal(r.connectionError, undefined);
    assert.deepEqual(r.recipients.map((x) => [x.code, x.ok]), [[250, true]]);
    assert.equal(r.remoteHost, "fake.test");
  }
});

Deno.test("ConnectionCache recovers when the server drops a cached connection, without a failed attempt", async () => {
  const cache = new ConnectionCache();
  const results: DeliveryResult[] = [];
  const { ios } = await withFakeServer(async (io, index) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_PIPE);
    if (index === 0) {
      await serveTransaction(io, "a@x.test");
      // The second MAIL arrives, and the server goes away without a reply (as at its idle
      // timeout, in the same moment).
      await io.expect("MAIL FROM:<bob@sender.test>");
      io.close();
      return;
    }
    if (index === 1) {
      await serveTransaction(io, "b@x.test");
      // Now the server says goodbye while the connection is idle (RFC 5321 §4.5.3.2.7).
      await io.send("421 4.4.2 fake.test idle timeout");
      io.close();
      return;
    }
    await serveTransaction(io, "c@x.test");
    await io.quit();
  }, async (port) => {
    try {
      results.push(await cache.deliver(fakeOpts(port), envelope(["a@x.test"]), BODY));
      results.push(await cache.deliver(fakeOpts(port), envelope(["b@x.test"]), BODY));
      // Let the 421 arrive while idle.
      await new Promise((r) => setTimeout(r, 100));
      results.push(await cache.deliver(fakeOpts(port), envelope(["c@x.test"]), BODY));
    } finally {
      await cache.close();
    }
    return results[0]!;
  });
  assert.equal(ios.length, 3);
  assert.deepEqual(
    results.map((r) => [r.connectionError, r.recipients.map((x) => [x.address, x.code, x.ok])]),
    [
      [undefined, [["a@x.test", 250, true]]],
      [undefined, [["b@x.test", 250, true]]],
      [undefined, [["c@x.test", 250, true]]],
    ],
  );
  assert.equal(ios[1]!.seen.filter((l) => l.startsWith("MAIL")).length, 1, "nothing after 421");
});

Deno.test("ConnectionCache ends an open transaction with RSET before reuse, and keeps failures apart", async () => {
  const cache = new ConnectionCache();
  const results: DeliveryResult[] = [];
  const { ios } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_PIPE);
    // 1: the only recipient is refused; DATA (pipelined) gets 554.
    await io.expect("MAIL FROM:<bob@sender.test>", "250 2.1.0 Ok");
    await io.expect("RCPT TO:<nobody@x.test>", "550 5.1.1 No such user");
    await io.expect("DATA", "554 5.5.1 No valid recipients");
    await io.expect("RSET", "250 2.0.0 Ok");
    // 2: the message is refused at the end of data.
    await serveTransaction(io, "a@x.test", "554 5.7.1 Spam");
    // 3: delivered.
    await serveTransaction(io, "b@x.test");
    await io.quit();
  }, async (port) => {
    try {
      for (const to of ["nobody@x.test", "a@x.test", "b@x.test"]) {
        results.push(await cache.deliver(fakeOpts(port), envelope([to]), BODY));
      }
    } finally {
      await cache.close();
    }
    return results[0]!;
  });
  assert.equal(ios.length, 1);
  assert.deepEqual(results.map((r) => r.recipients.map((x) => [x.code, x.permanent, x.ok])), [
    [[550, true, false]],
    [[554, true, false]],
    [[250, false, true]],
  ]);
});

Deno.test("ConnectionCache does not share connections between TLS policies or credentials", async () => {
  const cache = new ConnectionCache();
  const { ios } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_PIPE);
    await serveTransaction(io, "a@x.test");
    await io.quit();
  }, async (port) => {
    try {
      await cache.deliver(fakeOpts(port), envelope(["a@x.test"]), BODY);
      return await cache.deliver(
        fakeOpts(port, { tls: { mode: "none" } }),
        envelope(["a@x.test"]),
        BODY,
      );
    } finally {
      await cache.close();
    }
  });
  assert.equal(ios.length, 2, "mode none gets its own connection");
});
