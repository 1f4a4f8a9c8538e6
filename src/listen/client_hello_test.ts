import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { Connection } from "./connection.ts";
import { firstRecordLength, parseClientHello, peekClientHello } from "./client_hello.ts";
import { PassThrough } from "node:stream";

/** The first TLS record a real node:tls client sends with `options`. */
async function captureHello(options: tls.ConnectionOptions): Promise<Uint8Array> {
  let bytes = new Uint8Array(0);
  let done!: () => void;
  const got = new Promise<void>((r) => done = r);
  const srv = net.createServer((sock) => {
    sock.on("data", (d: Uint8Array) => {
      const next = new Uint8Array(bytes.length + d.length);
      next.set(bytes);
      next.set(d, bytes.length);
      bytes = next;
      const need = firstRecordLength(bytes);
      if (need < 0 || (need > 0 && bytes.length >= need)) {
        sock.destroy();
        done();
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as net.AddressInfo;
  const client = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options });
  client.on("error", () => {});
  await got;
  client.destroy();
  await new Promise((r) => srv.close(r));
  return bytes.slice(0, firstRecordLength(bytes));
}

Deno.test("parseClientHello() reads SNI and ALPN from a real node:tls ClientHello", async () => {
  const hello = await captureHello({
    servername: "Mail.Example.COM",
    ALPNProtocols: ["acme-tls/1"],
  });
  assert.deepEqual(parseClientHello(hello), {
    serverName: "mail.example.com",
    alpn: ["acme-tls/1"],
  });
  const two = await captureHello({ servername: "a.test", ALPNProtocols: ["h2", "http/1.1"] });
  assert.deepEqual(parseClientHello(two), { serverName: "a.test", alpn: ["h2", "http/1.1"] });
});

Deno.test("parseClientHello() of a hello without SNI or ALPN gives neither", async () => {
  // node:tls sends no SNI for an IP address as servername.
  const hello = await captureHello({ servername: "" });
  assert.deepEqual(parseClientHello(hello), { alpn: [] });
  const alpnOnly = await captureHello({ servername: "", ALPNProtocols: ["http/1.1"] });
  assert.deepEqual(parseClientHello(alpnOnly), { alpn: ["http/1.1"] });
});

Deno.test("parseClientHello() gives null for truncated, garbage and non-hello input", async () => {
  const hello = await captureHello({ servername: "a.test", ALPNProtocols: ["acme-tls/1"] });
  for (let n = 0; n < hello.length; n += 7) {
    assert.equal(parseClientHello(hello.subarray(0, n)), null, `truncated to ${n}`);
  }
  // The record claims its full length, but an inner length runs past it.
  const inner = hello.slice();
  inner[6] = 0xff; // handshake length, high byte
  assert.equal(parseClientHello(inner), null);
  const notHello = hello.slice();
  notHello[5] = 2; // ServerHello
  assert.equal(parseClientHello(notHello), null);
  const http = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.equal(firstRecordLength(http), -1);
  assert.equal(parseClientHello(http), null);
  const huge = Uint8Array.of(22, 3, 1, 0xff, 0xff);
  assert.equal(firstRecordLength(huge), -1);
  for (let i = 0; i < 200; i++) {
    const junk = crypto.getRandomValues(new Uint8Array(64));
    junk.set([22, 3, 1, 0, 59]);
    assert.doesNotThrow(() => parseClientHello(junk));
  }
});

Deno.test("parseClientHello() refuses a hello with a repeated extension", () => {
  // A minimal hand-built ClientHello: version, random, empty session id, one suite, null
  // compression, then two server_name extensions.
  const sni = [0, 0, 0, 6, 0, 4, 0, 0, 1, 0x61];
  const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0];
  const build = (exts: number[]) => {
    const hs = [...body, exts.length >> 8, exts.length & 255, ...exts];
    const msg = [1, 0, hs.length >> 8, hs.length & 255, ...hs];
    return Uint8Array.from([22, 3, 1, msg.length >> 8, msg.length & 255, ...msg]);
  };
  assert.deepEqual(parseClientHello(build(sni)), { serverName: "a", alpn: [] });
  assert.equal(parseClientHello(build([...sni, ...sni])), null);
});

Deno.test("peekClientHello() reads a hello in pieces and puts every byte back", async () => {
  const hello = await captureHello({ servername: "a.test", ALPNProtocols: ["acme-tls/1"] });
  const stream = new PassThrough();
  const conn = new Connection(stream, { address: "127.0.0.1", port: 1 });
  const peeked = peekClientHello(conn, Date.now() + 2000);
  for (let i = 0; i < hello.length; i += 50) {
    stream.write(hello.subarray(i, i + 50));
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.deepEqual(await peeked, { serverName: "a.test", alpn: ["acme-tls/1"] });
  const back = await conn.read(100, false);
  assert.deepEqual(back, hello);
  // A silent peer: null once the deadline passes, nothing lost.
  const quiet = new Connection(new PassThrough(), { address: "127.0.0.1", port: 1 });
  assert.equal(await peekClientHello(quiet, Date.now() + 50), null);
  quiet.destroy();
  conn.destroy();
});
