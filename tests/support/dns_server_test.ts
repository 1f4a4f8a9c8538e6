import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import dgram from "node:dgram";
// @ts-types="@types/dns-packet"
import dnsPacket, {
  type Answer,
  type DecodedPacket,
  type OptAnswer,
  type RecordType,
} from "dns-packet";
import { TestDnsServer, type ZoneRecord } from "./dns_server.ts";

const ZONE: ZoneRecord[] = [
  { name: "example.test", type: "A", data: "192.0.2.1" },
  { name: "example.test.", type: "AAAA", data: "2001:db8::1", ttl: 60 },
  { name: "example.test", type: "MX", data: { preference: 10, exchange: "mx.example.test" } },
  { name: "example.test", type: "TXT", data: ["v=spf1", "-all"] },
  { name: "example.test", type: "NS", data: "ns1.example.test" },
  { name: "1.2.0.192.in-addr.arpa", type: "PTR", data: "example.test" },
  { name: "mx.example.test", type: "A", data: "192.0.2.25" },
  { name: "alias.example.test", type: "CNAME", data: "mid.example.test" },
  { name: "mid.example.test", type: "CNAME", data: "MX.Example.Test." },
  { name: "dangling.example.test", type: "CNAME", data: "gone.example.test" },
  { name: "a.b.example.test", type: "A", data: "192.0.2.2" },
  { name: "big.example.test", type: "TXT", data: "x".repeat(300) + "y".repeat(1700) },
];

interface QueryOptions {
  id?: number;
  edns?: number;
}

function query(name: string, type: RecordType, opts: QueryOptions = {}): Buffer {
  return dnsPacket.encode({
    type: "query",
    id: opts.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: "IN" }],
    additionals: opts.edns === undefined ? [] : [{
      name: ".",
      type: "OPT",
      udpPayloadSize: opts.edns,
      extendedRcode: 0,
      ednsVersion: 0,
      flags: 0,
      flag_do: false,
      options: [],
    }],
  });
}

const rcode = (p: DecodedPacket) => (p.flags ?? 0) & 0xf;

/** Sends `msg` over UDP; collects up to `count` replies within `waitMs`. */
async function udpExchange(
  server: TestDnsServer,
  msg: Uint8Array,
  count = 1,
  waitMs = 1000,
): Promise<DecodedPacket[]> {
  const sock = dgram.createSocket("udp4");
  const replies: DecodedPacket[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, waitMs);
      sock.on("message", (data: Buffer) => {
        replies.push(dnsPacket.decode(data));
        if (replies.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      });
      sock.send(msg, server.port, server.hostname, (err) => {
        if (err) {
          clearTimeout(timer);
          reject(err);
        }
      });
    });
  } finally {
    await new Promise<void>((resolve) => sock.close(() => resolve()));
  }
  return replies;
}

async function udp(server: TestDnsServer, msg: Uint8Array): Promise<DecodedPacket> {
  const [reply] = await udpExchange(server, msg);
  assert.ok(reply, "no UDP reply");
  return reply;
}

/** Sends several messages on one TCP connection and reads `count` framed replies. */
async function tcpExchange(
  server: TestDnsServer,
  msgs: Uint8Array[],
  count = msgs.length,
): Promise<DecodedPacket[]> {
  const conn = await Deno.connect({ hostname: server.hostname, port: server.port });
  try {
    const framed = msgs.map((m) =>
      Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m])
    );
    await conn.write(Buffer.concat(framed));
    const replies: DecodedPacket[] = [];
    let pending = Buffer.alloc(0);
    const chunk = new Uint8Array(65536);
    while (replies.length < count) {
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed early");
      pending = Buffer.concat([pending, chunk.subarray(0, n)]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const len = pending.readUInt16BE(0);
        replies.push(dnsPacket.decode(pending.subarray(2, 2 + len)));
        pending = pending.subarray(2 + len);
      }
    }
    return replies;
  } finally {
    conn.close();
  }
}

async function tcp(server: TestDnsServer, msg: Uint8Array): Promise<DecodedPacket> {
  const [reply] = await tcpExchange(server, [msg]);
  assert.ok(reply);
  return reply;
}

/** Runs `fn` against a fresh server holding ZONE, and always closes it. */
async function withServer(fn: (server: TestDnsServer) => Promise<void>): Promise<void> {
  const server = await TestDnsServer.start({ records: ZONE });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** The answer section, minus any OPT (which dns-packet types as an Answer). */
const records = (p: DecodedPacket | undefined) =>
  (p?.answers ?? []).filter((a): a is Exclude<Answer, OptAnswer> => a.type !== "OPT");

const summary = (p: DecodedPacket | undefined) =>
  records(p).map((a) => `${a.name} ${a.type} ${JSON.stringify(a.data)}`);

Deno.test("listens on the same loopback port for UDP and TCP", async () => {
  await withServer(async (server) => {
    assert.equal(server.hostname, "127.0.0.1");
    assert.ok(server.port > 0);
    assert.equal(server.address, `127.0.0.1:${server.port}`);
    assert.equal(rcode(await udp(server, query("example.test", "A"))), 0);
    assert.equal(rcode(await tcp(server, query("example.test", "A"))), 0);
  });
});

Deno.test("answers A over UDP and TCP, authoritatively, echoing ID and question", async () => {
  await withServer(async (server) => {
    for (const exchange of [udp, tcp]) {
      const reply = await exchange(server, query("Example.TEST.", "A", { id: 1234 }));
      assert.equal(reply.id, 1234);
      assert.equal(reply.type, "response");
      assert.equal(reply.flag_aa, true);
      assert.equal(reply.flag_tc, false);
      assert.equal(reply.flag_rd, true);
      assert.equal(rcode(reply), 0);
      assert.deepEqual(reply.questions, [{ name: "Example.TEST", type: "A", class: "IN" }]);
      assert.equal(reply.answers?.length, 1);
      const [answer] = reply.answers ?? [];
      assert.ok(answer?.type === "A");
      assert.equal(answer.data, "192.0.2.1");
      assert.equal(answer.ttl, 300);
      assert.deepEqual(reply.additionals, []);
    }
  });
});

Deno.test("answers the other record types", async () => {
  await withServer(async (server) => {
    const aaaa = await udp(server, query("example.test", "AAAA"));
    assert.deepEqual(summary(aaaa), ['example.test AAAA "2001:db8::1"']);
    assert.equal(records(aaaa)[0]?.ttl, 60);
    const mx = await udp(server, query("example.test", "MX"));
    assert.deepEqual(records(mx)[0]?.data, { preference: 10, exchange: "mx.example.test" });
    const txt = await udp(server, query("example.test", "TXT"));
    const strings = records(txt)[0]?.data as Buffer[];
    assert.deepEqual(strings.map(String), ["v=spf1", "-all"]);
    const ns = await udp(server, query("example.test", "NS"));
    assert.deepEqual(summary(ns), ['example.test NS "ns1.example.test"']);
    const ptr = await udp(server, query("1.2.0.192.in-addr.arpa", "PTR"));
    assert.deepEqual(summary(ptr), ['1.2.0.192.in-addr.arpa PTR "example.test"']);
  });
});

Deno.test("NODATA for other types and for empty non-terminals; NXDOMAIN otherwise", async () => {
  await withServer(async (server) => {
    for (const [name, type] of [["mx.example.test", "MX"], ["b.example.test", "A"]] as const) {
      const reply = await udp(server, query(name, type));
      assert.equal(rcode(reply), 0, `${name} ${type}`);
      assert.equal(reply.flag_aa, true);
      assert.deepEqual(reply.answers, []);
    }
    for (const name of ["nope.example.test", "c.a.b.example.test", "example"]) {
      const reply = await tcp(server, query(name, "A"));
      assert.equal(rcode(reply), 3, name);
      assert.deepEqual(reply.answers, []);
    }
  });
});

Deno.test("follows a CNAME chain within the zone", async () => {
  await withServer(async (server) => {
    const reply = await udp(server, query("ALIAS.example.test", "A"));
    assert.equal(rcode(reply), 0);
    assert.deepEqual(summary(reply), [
      'ALIAS.example.test CNAME "mid.example.test"',
      'mid.example.test CNAME "MX.Example.Test"',
      'MX.Example.Test A "192.0.2.25"',
    ]);
    const cname = await udp(server, query("alias.example.test", "CNAME"));
    assert.deepEqual(summary(cname), ['alias.example.test CNAME "mid.example.test"']);
    // The RCODE reflects the end of the chain (RFC 6604).
    const dangling = await udp(server, query("dangling.example.test", "A"));
    assert.equal(rcode(dangling), 3);
    assert.deepEqual(summary(dangling), [
      'dangling.example.test CNAME "gone.example.test"',
    ]);
  });
});

Deno.test("a CNAME loop terminates", async () => {
  await withServer(async (server) => {
    server.addRecords([
      { name: "loop1.test", type: "CNAME", data: "loop2.test" },
      { name: "loop2.test", type: "CNAME", data: "loop1.test" },
    ]);
    const reply = await udp(server, query("loop1.test", "A"));
    assert.equal(rcode(reply), 0);
    assert.equal(reply.answers?.length, 2);
  });
});

Deno.test("fault servfail and refused set the RCODE", async () => {
  await withServer(async (server) => {
    server.setFault("example.test.", "A", "servfail");
    server.setFault("EXAMPLE.test", "*", "refused");
    const servfail = await udp(server, query("example.test", "A"));
    assert.equal(rcode(servfail), 2);
    assert.deepEqual(servfail.answers, []);
    assert.equal(rcode(await tcp(server, query("example.test", "MX"))), 5);
    server.setFault("example.test", "A", null);
    assert.equal(rcode(await udp(server, query("example.test", "A"))), 5);
    server.setFault("example.test", "*", null);
    assert.equal(rcode(await udp(server, query("example.test", "A"))), 0);
  });
});

Deno.test("fault timeout never answers, yet logs the query", async () => {
  await withServer(async (server) => {
    server.setFault("example.test", "A", "timeout");
    const replies = await udpExchange(server, query("example.test", "A"), 1, 300);
    assert.deepEqual(replies, []);
    assert.deepEqual(server.queries, [{ name: "example.test", type: "A", transport: "udp" }]);
    // Over TCP the connection stays silent too; the next query on it is answered.
    const [reply] = await tcpExchange(server, [
      query("example.test", "A", { id: 1 }),
      query("example.test", "MX", { id: 2 }),
    ], 1);
    assert.equal(reply?.id, 2);
  });
});

Deno.test("fault truncate sets TC over UDP but answers fully over TCP", async () => {
  await withServer(async (server) => {
    server.setFault("example.test", "A", "truncate");
    const truncated = await udp(server, query("example.test", "A", { edns: 4096 }));
    assert.equal(truncated.flag_tc, true);
    assert.equal(rcode(truncated), 0);
    assert.deepEqual(truncated.answers, []);
    assert.deepEqual(truncated.questions?.map((q) => q.name), ["example.test"]);
    const full = await tcp(server, query("example.test", "A"));
    assert.equal(full.flag_tc, false);
    assert.deepEqual(summary(full), ['example.test A "192.0.2.1"']);
  });
});

Deno.test("fault badid sends a wrong ID first, then the right answer", async () => {
  await withServer(async (server) => {
    server.setFault("example.test", "A", "badid");
    for (const exchange of [udpExchange, tcpExchange]) {
      const msg = query("example.test", "A", { id: 777 });
      const started = performance.now();
      const replies = exchange === udpExchange
        ? await udpExchange(server, msg, 2)
        : await tcpExchange(server, [msg], 2);
      assert.equal(replies.length, 2);
      assert.notEqual(replies[0]?.id, 777);
      assert.equal(replies[1]?.id, 777);
      assert.deepEqual(summary(replies[1]), ['example.test A "192.0.2.1"']);
      assert.ok(performance.now() - started >= 45);
    }
  });
});

Deno.test("a big TXT record is truncated over UDP without EDNS and served over TCP", async () => {
  await withServer(async (server) => {
    const plain = await udp(server, query("big.example.test", "TXT"));
    assert.equal(plain.flag_tc, true);
    assert.deepEqual(plain.answers, []);
    assert.deepEqual(plain.additionals, []);

    const small = await udp(server, query("big.example.test", "TXT", { edns: 1232 }));
    assert.equal(small.flag_tc, true);
    assert.equal(small.additionals?.[0]?.type, "OPT");

    const edns = await udp(server, query("big.example.test", "TXT", { edns: 4096 }));
    assert.equal(edns.flag_tc, false);
    assert.equal(edns.answers?.length, 1);
    assert.equal(edns.additionals?.[0]?.type, "OPT");

    const full = await tcp(server, query("big.example.test", "TXT"));
    assert.equal(full.flag_tc, false);
    const strings = records(full)[0]?.data as Buffer[];
    assert.deepEqual(strings.map((s) => s.length), [255, 255, 255, 255, 255, 255, 255, 215]);
    assert.equal(strings.join(""), "x".repeat(300) + "y".repeat(1700));
  });
});

Deno.test("TCP serves several queries on one connection", async () => {
  await withServer(async (server) => {
    const replies = await tcpExchange(server, [
      query("example.test", "A", { id: 1 }),
      query("nope.example.test", "A", { id: 2 }),
      query("example.test", "MX", { id: 3 }),
    ]);
    assert.deepEqual(replies.map((r) => [r.id, rcode(r), r.answers?.length]), [
      [1, 0, 1],
      [2, 3, 0],
      [3, 0, 1],
    ]);
  });
});

Deno.test("setRecords replaces the zone; addRecords extends it", async () => {
  await withServer(async (server) => {
    server.setRecords([{ name: "new.test", type: "A", data: "198.51.100.1" }]);
    assert.equal(rcode(await udp(server, query("example.test", "A"))), 3);
    server.addRecords([{ name: "new.test", type: "A", data: "198.51.100.2" }]);
    const reply = await udp(server, query("new.test", "A"));
    assert.deepEqual(records(reply).map((a) => a.data), ["198.51.100.1", "198.51.100.2"]);
  });
});

Deno.test("malformed packets are ignored and the server keeps serving", async () => {
  await withServer(async (server) => {
    const garbage = [
      new Uint8Array([1, 2, 3]),
      new Uint8Array(12).fill(0xff),
      dnsPacket.encode({ type: "response", id: 9, questions: [{ name: "x.test", type: "A" }] }),
    ];
    for (const msg of garbage) {
      assert.deepEqual(await udpExchange(server, msg, 1, 100), []);
    }
    const replies = await tcpExchange(server, [...garbage, query("example.test", "A")], 1);
    assert.deepEqual(summary(replies[0]), ['example.test A "192.0.2.1"']);
    assert.deepEqual(server.queries, [{ name: "example.test", type: "A", transport: "tcp" }]);
  });
});

Deno.test("logs every query with its transport", async () => {
  await withServer(async (server) => {
    await udp(server, query("Example.test", "MX"));
    await tcp(server, query("nope.test.", "AAAA"));
    await udp(server, query("b.example.test", "TXT"));
    assert.deepEqual(server.queries, [
      { name: "Example.test", type: "MX", transport: "udp" },
      { name: "nope.test", type: "AAAA", transport: "tcp" },
      { name: "b.example.test", type: "TXT", transport: "udp" },
    ]);
  });
});

Deno.test("close() is idempotent and frees the port", async () => {
  const server = await TestDnsServer.start();
  const port = server.port;
  await server.close();
  await server.close();
  const again = await TestDnsServer.start({ port });
  assert.equal(again.port, port);
  await again.close();
});
