import assert from "node:assert/strict";
import { startFake } from "./_testing.ts";
import { ConnectionLost, printable, Wire } from "./wire.ts";

async function connect(port: number, timeoutMs = 5000): Promise<Wire> {
  return new Wire(await Deno.connect({ hostname: "127.0.0.1", port }), timeoutMs);
}

Deno.test("wire: reads the banner and a multi-line EHLO reply", async () => {
  const fake = startFake();
  const w = await connect(fake.port);
  try {
    const banner = await w.reply();
    assert.deepEqual(banner.code, 220);
    assert.deepEqual(banner.first, "220 fake.relay.example ESMTP fake");
    const ehlo = await w.command("EHLO client.example");
    assert.deepEqual(ehlo.code, 250);
    assert.deepEqual(ehlo.lines, [
      "250-fake.relay.example hello",
      "250-PIPELINING",
      "250 8BITMIME",
    ]);
  } finally {
    await w.close();
    await fake.close();
  }
});

Deno.test("wire: DATA, BDAT and embedded line breaks are never sent", async () => {
  const fake = startFake();
  const w = await connect(fake.port);
  try {
    await w.reply();
    await assert.rejects(() => w.send("DATA"), /relay-check refuses to send "DATA"/);
    await assert.rejects(() => w.send("bdat 10 LAST"), /refuses to send/);
    await assert.rejects(() => w.send("RSET\r\nDATA"), /refuses to send/);
    assert.deepEqual((await w.command("RSET")).code, 250);
    await w.send("QUIT");
    await w.reply();
  } finally {
    await w.close();
    await fake.close();
  }
  assert.deepEqual(fake.sessions, [["RSET", "QUIT"]]);
  assert.deepEqual(fake.sawData, false);
});

Deno.test("wire: a closed connection, a non-SMTP line and silence are ConnectionLost", async () => {
  const closing = startFake({ banner: "421 4.3.2 fake.relay.example closing" });
  let w = await connect(closing.port);
  try {
    assert.deepEqual((await w.reply()).code, 421);
    await assert.rejects(() => w.reply(), ConnectionLost, "connection closed by the server");
  } finally {
    await w.close();
    await closing.close();
  }
  const garbage = startFake({ banner: "hello there" });
  w = await connect(garbage.port);
  try {
    await assert.rejects(() => w.reply(), /not an SMTP reply: "hello there"/);
  } finally {
    await w.close();
    await garbage.close();
  }
  const silent = startFake({ silent: true });
  w = await connect(silent.port, 100);
  try {
    await w.reply();
    await assert.rejects(
      () => w.command("EHLO client.example"),
      /timed out after 100 ms waiting for a reply/,
    );
  } finally {
    await w.close();
    await silent.close();
  }
});

Deno.test("printable: control characters become ?, long text is cut", () => {
  assert.deepEqual(printable("a\tb\x00c"), "a?b?c");
  assert.deepEqual(printable("abcdef", 3), "abc...");
});
