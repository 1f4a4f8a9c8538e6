import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { embeddedDefault } from "../config/config.ts";
import type { DnsResult, RecordType, RecordTypes, Resolver } from "../dns/resolver.ts";
import type { MaildirStore } from "../delivery/maildir.ts";
import type { Router } from "../delivery/router.ts";
import { waitFor } from "../../tests/support/wait.ts";
import { QueueStore } from "./store.ts";
import { type DeliveryAttempt, DeliveryWorker } from "./worker.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Answers from a fixed zone in memory: no DNS traffic at all. */
class ZoneResolver implements Resolver {
  constructor(readonly zone: Record<string, Partial<{ [T in RecordType]: RecordTypes[T][] }>>) {}
  lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<RecordTypes[T]>> {
    const node = this.zone[name.replace(/\.$/, "").toLowerCase()];
    if (!node) return Promise.resolve({ kind: "nxdomain" });
    const records = node[type] as RecordTypes[T][] | undefined;
    return Promise.resolve(records ? { kind: "ok", records, ttl: 300 } : { kind: "nodata" });
  }
}

/**
 * A loopback SMTP server that accepts every message and counts connections and transactions.
 * `dropAfter`: close a connection (without a word) once it carried that many messages, when
 * the next MAIL arrives, as a server whose idle timeout strikes at that moment.
 */
class CountingServer {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #sessions: Promise<void>[] = [];
  readonly #conns = new Set<Deno.Conn>();
  readonly #accepting: Promise<void>;
  connections = 0;
  /** Subjects of the messages received, per connection. */
  readonly received: string[][] = [];

  constructor(readonly dropAfter = Infinity) {
    this.#accepting = (async () => {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        const index = this.connections++;
        this.received[index] = [];
        this.#sessions.push(
          this.#session(conn, this.received[index]!).catch(() => {}).finally(() => {
            this.#conns.delete(conn);
            try {
              conn.close();
            } catch {
              // closed already
            }
          }),
        );
      }
    })().catch(() => {});
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async #session(conn: Deno.Conn, got: string[]): Promise<void> {
    let buf = "";
    const send = (s: string) => conn.write(enc.encode(s + "\r\n"));
    const line = async (): Promise<string | null> => {
      for (;;) {
        const i = buf.indexOf("\r\n");
        if (i >= 0) {
          const l = buf.slice(0, i);
          buf = buf.slice(i + 2);
          return l;
        }
        const b = new Uint8Array(65536);
        const n = await conn.read(b);
        if (n === null) return null;
        buf += dec.decode(b.subarray(0, n));
      }
    };
    await send("220 sink.test ESMTP");
    for (;;) {
      const l = await line();
      if (l === null) return;
      const verb = l.slice(0, 4).toUpperCase();
      if (verb === "EHLO") await send("250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME");
      else if (verb === "MAIL") {
        if (got.length >= this.dropAfter) return; // gone without a reply
        await send("250 2.1.0 Ok");
      } else if (verb === "RCPT") await send("250 2.1.5 Ok");
      else if (verb === "RSET") await send("250 2.0.0 Ok");
      else if (verb === "QUIT") {
        await send("221 2.0.0 Bye");
        return;
      } else if (verb === "DATA") {
        await send("354 Go ahead");
        let data = "";
        for (let d = await line(); d !== "."; d = await line()) {
          if (d === null) return;
          data += d + "\n";
        }
        got.push(/^Subject: (.*)$/m.exec(data)?.[1] ?? "?");
        await send("250 2.0.0 Ok: queued");
      } else await send("502 5.5.2 Not here");
    }
  }

  async close(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // closed already
      }
    }
    await this.#accepting;
    await Promise.all(this.#sessions);
  }
}

async function withWorker(
  server: CountingServer,
  messages: number,
  fn: (store: QueueStore, worker: DeliveryWorker) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-worker-" });
  const store = await QueueStore.open(dir);
  const base = embeddedDefault();
  const config = {
    ...base,
    hostname: "mx.a.test",
    outbound: { ...base.outbound, port: server.port },
    // One delivery at a time: every message after the first can reuse the connection.
    queue: { ...base.queue, concurrency: 1 },
  };
  const resolver = new ZoneResolver({
    "remote.test": { MX: [{ preference: 10, exchange: "mx.remote.test" }] },
    "mx.remote.test": { A: ["127.0.0.1"] },
  });
  const worker = new DeliveryWorker({
    store,
    resolver,
    config,
    // Only DSNs use these, and every message here is delivered.
    router: {} as Router,
    maildir: {} as MaildirStore,
    log: getLogger(["postie", "test", "worker"]),
  });
  try {
    for (let i = 0; i < messages; i++) {
      await store.enqueue({
        sender: "alice@a.test",
        recipients: ["bob@remote.test"],
        header: "",
        content: [enc.encode(`Subject: m${i}\r\n\r\nhello\r\n`)],
      });
    }
    worker.start();
    await fn(store, worker);
  } finally {
    await worker.stop();
    store.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("DeliveryWorker delivers queued messages for one server over one connection", async () => {
  const server = new CountingServer();
  await withWorker(server, 6, async (store) => {
    await waitFor(
      "the queue to empty",
      () => Promise.resolve(store.list().length === 0 || undefined),
    );
    assert.equal(server.connections, 1);
    assert.deepEqual(server.received, [["m0", "m1", "m2", "m3", "m4", "m5"]]);
  });
});

Deno.test("DeliveryWorker recovers from a dropped cached connection without a failed attempt", async () => {
  const server = new CountingServer(2);
  await withWorker(server, 5, async (store) => {
    // A failed attempt would defer the message by queue.retry_initial (5 minutes): an empty
    // queue now means the drop cost nothing but a new connection.
    await waitFor(
      "the queue to empty",
      () => Promise.resolve(store.list().length === 0 || undefined),
    );
    assert.equal(server.received.flat().length, 5, "each message once");
    assert.deepEqual(server.received, [["m0", "m1"], ["m2", "m3"], ["m4"]]);
  });
});

Deno.test("DeliveryWorker reports each recipient's outcome and the TLS of each delivery", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-worker-" });
  const store = await QueueStore.open(dir);
  const base = embeddedDefault();
  const attempts: DeliveryAttempt[] = [];
  const connections: boolean[] = [];
  // Null sender: the failure's DSN is skipped, so router and maildir are never used.
  const worker = new DeliveryWorker({
    store,
    resolver: new ZoneResolver({
      "remote.test": { MX: [{ preference: 10, exchange: "mx.remote.test" }] },
      "mx.remote.test": { A: ["127.0.0.1"] },
    }),
    config: { ...base, hostname: "mx.a.test" },
    router: {} as Router,
    maildir: {} as MaildirStore,
    log: getLogger(["postie", "test", "worker"]),
    deliver: (_opts, env) =>
      Promise.resolve({
        recipients: env.to.map((address) =>
          address.startsWith("ok")
            ? { address, code: 250, enhanced: "2.1.5", text: "Ok", permanent: false, ok: true }
            : address.startsWith("later")
            ? { address, code: 451, enhanced: "4.2.0", text: "Busy", permanent: false, ok: false }
            : {
              address,
              code: 550,
              enhanced: "5.1.1",
              text: "No such user",
              permanent: true,
              ok: false,
            }
        ),
        tls: { protocol: "TLSv1.3", cipher: "x", authorized: false },
      }),
    stats: { attempt: (a) => attempts.push(a), connection: (tls) => connections.push(tls) },
  });
  try {
    const id = await store.enqueue({
      sender: "",
      recipients: ["ok@remote.test", "later@remote.test", "gone@remote.test", "x@nowhere.test"],
      header: "",
      content: [enc.encode("Subject: s\r\n\r\nhello\r\n")],
    });
    worker.start();
    await waitFor("four outcomes", () => Promise.resolve(attempts.length >= 4 || undefined));
    await worker.idle();
    const by = new Map(attempts.map((a) => [a.to, a]));
    assert.deepEqual(by.get("ok@remote.test"), {
      result: "delivered",
      to: "ok@remote.test",
      from: "",
      queueId: id,
      detail: "250 2.1.5 Ok",
    });
    assert.equal(by.get("later@remote.test")?.result, "deferred");
    assert.equal(by.get("later@remote.test")?.detail, "451 4.2.0 Busy");
    assert.equal(by.get("gone@remote.test")?.result, "bounced");
    assert.equal(by.get("gone@remote.test")?.detail, "550 5.1.1 No such user");
    // nowhere.test does not exist: bounced without a connection.
    assert.equal(by.get("x@nowhere.test")?.result, "bounced");
    assert.deepEqual(connections, [true]);
  } finally {
    await worker.stop();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
