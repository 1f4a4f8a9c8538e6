import assert from "node:assert/strict";
import net from "node:net";
import { generateSelfSigned, secureContext } from "../tls/certificate.ts";
import { Connection } from "./connection.ts";
import { ReadInterrupted, ReadTimeout } from "./inbox.ts";
import { readText, tlsHandshake } from "./_loopback_test_client.ts";

const decode = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);

/** A loopback server accepting one connection; `accepted` is its server-side Connection. */
async function loopback(): Promise<{ port: number; accepted: Promise<Connection>; close(): void }> {
  let onAccept: (c: Connection) => void = () => {};
  const accepted = new Promise<Connection>((r) => onAccept = r);
  const srv = net.createServer((socket) => {
    socket.on("error", () => {});
    onAccept(new Connection(socket, { address: "127.0.0.1", port: socket.remotePort ?? 0 }));
  });
  await new Promise<void>((r) => srv.listen({ host: "127.0.0.1", port: 0 }, r));
  const port = (srv.address() as net.AddressInfo).port;
  return { port, accepted, close: () => srv.close() };
}

Deno.test("Connection: a read waits at most its deadline; interrupt wakes interruptible reads only", async () => {
  const lo = await loopback();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: lo.port });
  const conn = await lo.accepted;
  await assert.rejects(conn.read(50, true), ReadTimeout);
  const waiting = conn.read(2000, false);
  conn.interrupt();
  await client.write(new TextEncoder().encode("x"));
  assert.equal(decode(await waiting), "x", "a non-interruptible read goes on");
  await assert.rejects(conn.read(2000, true), ReadInterrupted);
  // close() sends what was written first; later writes are dropped.
  await conn.write("bye\r\n", 1000);
  conn.close();
  await conn.write("lost\r\n", 1000);
  assert.equal(await readText(client), "bye\r\n");
  assert.equal(conn.closed, true);
  client.close();
  lo.close();
});

Deno.test("Connection.startTls upgrades a plain connection; reads and writes then go through TLS", async () => {
  const material = await generateSelfSigned("mx.test");
  const lo = await loopback();
  const socket = net.connect({ host: "127.0.0.1", port: lo.port });
  const conn = await lo.accepted;
  const plainLine = new Promise<string>((r) => socket.once("data", (d) => r(String(d))));
  await conn.write("go ahead\r\n", 1000);
  assert.equal(await plainLine, "go ahead\r\n");
  assert.equal(conn.tls, null);
  const upgraded = conn.startTls(secureContext(material), 3000).then(async (info) => {
    await conn.write("secret hello\r\n", 1000);
    return info;
  });
  const client = await tlsHandshake(lo.port, "mx.test", material.certPem, socket);
  assert.deepEqual(client, { authorized: true, greeting: "secret hello\r\n" });
  const info = await upgraded;
  assert.ok(info && /^TLSv1\.[23]$/.test(info.protocol), JSON.stringify(info));
  assert.deepEqual(conn.tls, info);
  assert.equal(await conn.read(2000, false), null, "the client ended the TLS connection");
  conn.close();
  lo.close();
});

Deno.test("Connection.startTls gives up after its deadline when the client never handshakes", async () => {
  const lo = await loopback();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: lo.port });
  const conn = await lo.accepted;
  const ctx = secureContext(await generateSelfSigned("mx.test"));
  const started = Date.now();
  assert.equal(await conn.startTls(ctx, 150), null);
  assert.ok(Date.now() - started >= 140);
  assert.equal(await readText(client), "", "the connection is closed");
  assert.equal(conn.tls, null);
  client.close();
  conn.destroy();
  lo.close();
});
