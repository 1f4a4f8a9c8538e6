import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import type { ClientHelloInfo } from "./client_hello.ts";
import { log } from "../log/logger.ts";
import { generateSelfSigned, secureContext } from "../tls/certificate.ts";
import type { Connection } from "./connection.ts";
import { ReadInterrupted } from "./inbox.ts";
import {
  type BoundAddress,
  type ConnectionHandler,
  type ConnectionLimits,
  ListenerGroup,
  type RefusalReason,
} from "./listener_group.ts";
import { TlsContext } from "./tls_context.ts";
import { readText, tlsHandshake } from "./_loopback_test_client.ts";

const LIMITS: ConnectionLimits = {
  maxConnections: 10,
  maxConnectionsPerIp: 10,
  handshakeTimeoutMs: 5000,
};

/** What the test protocol saw. */
interface Seen {
  refused: RefusalReason[];
  served: Connection[];
  stopped: string[];
}

type Kind = "echo" | "idle" | "busy";

// A toy line protocol: "HELLO <kind>" on connect, "NO <reason>" for a refusal, "BYE" when
// asked to stop while idle. An "echo" connection answers each chunk until the client ends it;
// a "busy" one never reads interruptibly (as SMTP inside DATA) and so only ends when destroyed.
function toyProtocol(seen: Seen) {
  return (conn: Connection, listener: BoundAddress<Kind>): ConnectionHandler => ({
    log: log("test").with({ peer: conn.peer.address }),
    async refuse(reason) {
      seen.refused.push(reason);
      await conn.write(`NO ${reason}\r\n`, 1000);
      conn.close();
    },
    async serve() {
      seen.served.push(conn);
      await conn.write(`HELLO ${listener.kind}${conn.tls ? " over TLS" : ""}\r\n`, 1000);
      try {
        for (;;) {
          const chunk = await conn.read(10_000, listener.kind !== "busy");
          if (chunk === null) break;
          await conn.write(chunk, 1000);
        }
      } catch (e) {
        if (!(e instanceof ReadInterrupted)) throw e;
        await conn.write("BYE\r\n", 1000);
      }
      conn.close();
    },
    stop() {
      seen.stopped.push(listener.kind);
      conn.interrupt();
    },
  });
}

function newGroup(limits: Partial<ConnectionLimits>, tls = new TlsContext()) {
  const seen: Seen = { refused: [], served: [], stopped: [] };
  const group = new ListenerGroup<Kind>({
    protocol: toyProtocol(seen),
    limits: { ...LIMITS, ...limits },
    tls,
    log: log("test"),
  });
  return { group, seen };
}

/** A group with one implicit-TLS "echo" listener. */
async function implicitTlsGroup(tls: TlsContext) {
  const { group, seen } = newGroup({}, tls);
  const bound = await group.listen({ kind: "echo", host: "127.0.0.1", port: 0, implicitTls: true });
  return { group, seen, port: bound.port };
}

function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), "condition not reached in 2 s");
}

Deno.test("ListenerGroup refuses over the per-IP limit through the protocol's hook", async () => {
  const { group, seen } = newGroup({ maxConnectionsPerIp: 2 });
  const { port } = await group.listen({ kind: "echo", host: "127.0.0.1", port: 0 });
  const a = await connect(port);
  const b = await connect(port);
  assert.equal(await readText(a, 1), "HELLO echo\r\n");
  assert.equal(await readText(b, 1), "HELLO echo\r\n");
  const c = await connect(port);
  assert.equal(await readText(c), "NO too many connections from your address\r\n");
  c.close();
  assert.deepEqual(seen.refused, ["too many connections from your address"]);
  assert.equal(group.size, 2);
  // A connection that ends gives its place back.
  a.close();
  await until(() => group.size === 1);
  const d = await connect(port);
  assert.equal(await readText(d, 1), "HELLO echo\r\n");
  await d.write(new TextEncoder().encode("ping\r\n"));
  assert.equal(await readText(d, 1), "ping\r\n");
  d.close();
  b.close();
  await group.stop(1000);
  assert.equal(seen.refused.length, 1);
});

Deno.test("ListenerGroup counts the total limit across its listeners", async () => {
  const { group, seen } = newGroup({ maxConnections: 1 });
  const one = await group.listen({ kind: "echo", host: "127.0.0.1", port: 0 });
  const two = await group.listen({ kind: "idle", host: "127.0.0.1", port: 0 });
  assert.deepEqual(group.addresses.map((a) => a.kind), ["echo", "idle"]);
  const a = await connect(one.port);
  assert.equal(await readText(a, 1), "HELLO echo\r\n");
  const b = await connect(two.port);
  assert.equal(await readText(b), "NO too many connections\r\n");
  b.close();
  assert.deepEqual(seen.refused, ["too many connections"]);
  a.close();
  await group.stop(1000);
});

Deno.test("ListenerGroup.stop asks politely, waits for a busy connection, destroys it at the deadline", async () => {
  const { group, seen } = newGroup({});
  const idle = await group.listen({ kind: "idle", host: "127.0.0.1", port: 0 });
  const busy = await group.listen({ kind: "busy", host: "127.0.0.1", port: 0 });
  const i = await connect(idle.port);
  const b = await connect(busy.port);
  assert.equal(await readText(i, 1), "HELLO idle\r\n");
  assert.equal(await readText(b, 1), "HELLO busy\r\n");
  const started = Date.now();
  let stopped = false;
  const stopping = group.stop(400).then(() => stopped = true);
  // The idle connection is told at once and ends by itself.
  assert.equal(await readText(i), "BYE\r\n");
  assert.equal(stopped, false, "stop() must wait for the busy connection");
  assert.deepEqual(seen.stopped.sort(), ["busy", "idle"]);
  // The busy one hears nothing until the deadline cuts it.
  assert.equal(await readText(b), "");
  const cutAfter = Date.now() - started;
  await stopping;
  assert.ok(cutAfter >= 350, `busy connection cut after ${cutAfter} ms, before the deadline`);
  assert.equal(group.size, 0);
  i.close();
  b.close();
  // Nothing listens any more.
  await assert.rejects(connect(idle.port));
});

Deno.test("ListenerGroup: a swapped TLS context is used by the next implicit-TLS handshake", async () => {
  const [a, b] = await Promise.all([generateSelfSigned("a.test"), generateSelfSigned("b.test")]);
  const tls = new TlsContext(secureContext(a));
  const { group, seen, port } = await implicitTlsGroup(tls);
  const before = await tlsHandshake(port, "a.test", a.certPem);
  assert.deepEqual(before, { authorized: true, greeting: "HELLO echo over TLS\r\n" });
  tls.replace(secureContext(b));
  assert.equal((await tlsHandshake(port, "b.test", a.certPem)).authorized, false);
  assert.deepEqual(await tlsHandshake(port, "b.test", b.certPem), {
    authorized: true,
    greeting: "HELLO echo over TLS\r\n",
  });
  assert.match(seen.served[0]!.tls!.protocol, /^TLSv1\.[23]$/);
  await group.stop(1000);
});

Deno.test("ListenerGroup: a failed implicit-TLS handshake never reaches the protocol", async () => {
  const tls = new TlsContext(secureContext(await generateSelfSigned("a.test")));
  const { group, seen, port } = await implicitTlsGroup(tls);
  const c = await connect(port);
  await c.write(new TextEncoder().encode("EHLO plain.example\r\n"));
  await readText(c);
  c.close();
  await until(() => group.size === 0);
  assert.equal(seen.served.length, 0);
  await group.stop(1000);
});

/** A loopback proxy to `port` that passes the client's bytes on in 40-byte pieces. */
async function tricklingProxy(port: number) {
  const srv = net.createServer((client) => {
    const server = net.connect({ host: "127.0.0.1", port });
    let queue = Promise.resolve();
    client.on("data", (d: Uint8Array) => {
      for (let i = 0; i < d.length; i += 40) {
        const piece = d.slice(i, i + 40);
        queue = queue.then(() => new Promise((r) => setTimeout(r, 2))).then(() => {
          server.write(piece);
        });
      }
    });
    server.pipe(client);
    for (const s of [client, server]) {
      s.on("error", () => {}).on("close", () => {
        client.destroy();
        server.destroy();
      });
    }
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

function alpnHandshake(port: number, servername: string, alpn: string[]) {
  return new Promise<{ cn: unknown; alpn: string | false; greeting: string }>((resolve, reject) => {
    const s = tls.connect({
      host: "127.0.0.1",
      port,
      servername,
      ALPNProtocols: alpn,
      rejectUnauthorized: false,
    });
    s.once("error", reject);
    s.once("secureConnect", () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.once("data", (d: Uint8Array) => {
        resolve({ cn, alpn: s.alpnProtocol ?? false, greeting: new TextDecoder().decode(d) });
        s.destroy();
      });
    });
  });
}

Deno.test("ListenerGroup: selectTls chooses the context and ALPN per ClientHello", async () => {
  const [a, b] = await Promise.all([generateSelfSigned("a.test"), generateSelfSigned("b.test")]);
  const [ctxA, ctxB] = [secureContext(a), secureContext(b)];
  const hellos: (ClientHelloInfo | null)[] = [];
  const { group, seen } = newGroup({});
  const { port } = await group.listen({
    kind: "echo",
    host: "127.0.0.1",
    port: 0,
    implicitTls: true,
    selectTls: (hello) => {
      hellos.push(hello);
      if (hello?.serverName === "drop.test") return null;
      return hello?.alpn.includes("x-special")
        ? { context: ctxA, alpn: ["x-special"] }
        : { context: ctxB, alpn: ["http/1.1"] };
    },
  });
  const proxy = await tricklingProxy(port);
  try {
    // Through the proxy the hello arrives in pieces; the peeked bytes still reach OpenSSL.
    const special = await alpnHandshake(proxy.port, "a.test", ["x-special"]);
    assert.deepEqual(special, {
      cn: "a.test",
      alpn: "x-special",
      greeting: "HELLO echo over TLS\r\n",
    });
    const normal = await alpnHandshake(port, "b.test", ["h2", "http/1.1"]);
    assert.deepEqual(normal, {
      cn: "b.test",
      alpn: "http/1.1",
      greeting: "HELLO echo over TLS\r\n",
    });
    await assert.rejects(alpnHandshake(port, "drop.test", ["http/1.1"]));
  } finally {
    proxy.close();
  }
  assert.deepEqual(hellos.map((h) => h?.serverName), ["a.test", "b.test", "drop.test"]);
  assert.equal(seen.served[0]!.tls!.alpn, "x-special");
  // Garbage instead of a hello: the selector sees null and the handshake fails.
  const c = await connect(port);
  await c.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
  await readText(c);
  c.close();
  await until(() => hellos.length === 4);
  assert.equal(hellos[3], null);
  assert.equal(seen.served.length, 2);
  await group.stop(1000);
});
