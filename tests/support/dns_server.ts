/**
 * A small authoritative DNS server for tests: serves a zone held in memory
 * on loopback, over UDP and TCP on the same port, with fault injection.
 *
 * UDP uses `node:dgram` because `Deno.listenDatagram` still needs
 * `--unstable-net`; TCP uses `Deno.listen`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import dgram from "node:dgram";
// @ts-types="@types/dns-packet"
import dnsPacket, {
  type Answer,
  type DecodedPacket,
  type OptAnswer,
  type Packet,
} from "dns-packet";

/** The data of one resource record, by type. */
export type RecordData =
  | { type: "A"; data: string }
  | { type: "AAAA"; data: string }
  | { type: "MX"; data: { preference: number; exchange: string } }
  /** A `string[]` holds several character-strings in one record. */
  | { type: "TXT"; data: string | string[] }
  | { type: "PTR"; data: string }
  | { type: "CNAME"; data: string }
  | { type: "NS"; data: string };

/** A resource record of the zone; `ttl` defaults to 300 seconds. */
export type ZoneRecord = { name: string; ttl?: number } & RecordData;

/**
 * A fault to inject for a (name, type): `servfail` and `refused` answer with
 * that RCODE; `timeout` never answers; `truncate` answers over UDP with TC=1
 * and no answers (TCP answers normally); `badid` first sends the answer with
 * a wrong ID, then the right answer 50 ms later.
 */
export type Fault = "servfail" | "refused" | "timeout" | "truncate" | "badid";

/** Options for {@linkcode TestDnsServer.start}. */
export interface DnsServerOptions {
  /** Address to listen on; default "127.0.0.1". */
  hostname?: string;
  /** Port for both UDP and TCP; default 0 (pick a free one). */
  port?: number;
  /** The initial zone. */
  records?: ZoneRecord[];
}

/** One query received by the server. */
export interface LoggedQuery {
  name: string;
  type: string;
  transport: "udp" | "tcp";
}

// RCODEs (RFC 1035 §4.1.1).
const NOERROR = 0, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4, REFUSED = 5;
/** Maximum UDP payload without EDNS (RFC 1035 §2.3.4, §4.2.1). */
const UDP_LIMIT = 512;

type CnameRecord = ZoneRecord & { type: "CNAME" };

/** The OPT pseudo-record of our replies (RFC 6891 §6.1.2). */
function ourOpt(): OptAnswer {
  return {
    name: ".",
    type: "OPT",
    udpPayloadSize: 4096,
    extendedRcode: 0,
    ednsVersion: 0,
    flags: 0,
    flag_do: false,
    options: [],
  };
}

/** Lower-cases a name and strips its trailing dot (RFC 1035 §2.3.3). */
function normalize(name: string): string {
  return name.toLowerCase().replace(/\.+$/, "");
}

/** Splits TXT data into character-strings of at most 255 bytes (RFC 1035 §3.3.14). */
function txtStrings(data: string | string[]): Buffer[] {
  const out: Buffer[] = [];
  for (const s of typeof data === "string" ? [data] : data) {
    const bytes = Buffer.from(s, "utf8");
    out.push(bytes.subarray(0, 255));
    for (let i = 255; i < bytes.length; i += 255) {
      out.push(bytes.subarray(i, i + 255));
    }
  }
  return out;
}

/** Converts a zone record to a dns-packet answer owned by `owner`. */
function toAnswer(owner: string, rec: ZoneRecord): Answer {
  const base = { name: owner, ttl: rec.ttl ?? 300, class: "IN" as const };
  switch (rec.type) {
    case "TXT":
      return { ...base, type: "TXT", data: txtStrings(rec.data) };
    case "MX":
      return { ...base, type: "MX", data: { ...rec.data } };
    default:
      return { ...base, type: rec.type, data: rec.data };
  }
}

/** An authoritative DNS server for tests, on loopback UDP and TCP. */
export class TestDnsServer {
  /** The address the server listens on. */
  readonly hostname: string;
  /** The port, the same for UDP and TCP. */
  readonly port: number;
  /** Every query received, in order. */
  readonly queries: LoggedQuery[] = [];

  #zone = new Map<string, ZoneRecord[]>();
  #faults = new Map<string, Fault>();
  #udp: dgram.Socket;
  #tcp: Deno.TcpListener;
  #conns = new Set<Deno.Conn>();
  #tasks = new Set<Promise<void>>();
  #abort = new AbortController();
  #closed = false;

  private constructor(udp: dgram.Socket, tcp: Deno.TcpListener) {
    this.hostname = tcp.addr.hostname;
    this.port = tcp.addr.port;
    this.#udp = udp;
    this.#tcp = tcp;
    udp.on("error", () => {});
    udp.on("message", (msg: Buffer, peer: dgram.RemoteInfo) => {
      this.#track(this.#handle(msg, "udp", (reply) =>
        new Promise<void>((resolve) => {
          if (this.#closed) return resolve();
          udp.send(reply, peer.port, peer.address, () => resolve());
        })));
    });
    this.#track(this.#accept());
  }

  /** Starts a server; with port 0, UDP and TCP get the same free port. */
  static async start(opts: DnsServerOptions = {}): Promise<TestDnsServer> {
    const hostname = opts.hostname ?? "127.0.0.1";
    const wanted = opts.port ?? 0;
    for (let attempt = 1;; attempt++) {
      const udp = dgram.createSocket(hostname.includes(":") ? "udp6" : "udp4");
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once("error", reject);
          udp.bind(wanted, hostname, () => {
            udp.off("error", reject);
            resolve();
          });
        });
        const tcp = Deno.listen({ hostname, port: udp.address().port });
        const server = new TestDnsServer(udp, tcp);
        server.setRecords(opts.records ?? []);
        return server;
      } catch (err) {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        const retry = err instanceof Deno.errors.AddrInUse && wanted === 0;
        if (!retry || attempt >= 20) throw err;
      }
    }
  }

  /** "host:port", with the host in brackets for IPv6. */
  get address(): string {
    const host = this.hostname.includes(":") ? `[${this.hostname}]` : this.hostname;
    return `${host}:${this.port}`;
  }

  /** Replaces the zone. */
  setRecords(records: ZoneRecord[]): void {
    this.#zone.clear();
    this.addRecords(records);
  }

  /** Adds records to the zone. */
  addRecords(records: ZoneRecord[]): void {
    for (const rec of records) {
      const key = normalize(rec.name);
      this.#zone.set(key, [...(this.#zone.get(key) ?? []), rec]);
    }
  }

  /** Injects (or, with `null`, clears) a fault for `name` and `type` ("*" = any type). */
  setFault(name: string, type: string, fault: Fault | null): void {
    const key = `${normalize(name)}|${type.toUpperCase()}`;
    if (fault) this.#faults.set(key, fault);
    else this.#faults.delete(key);
  }

  /** Closes both sockets and every connection, and waits for pending work. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#tcp.close();
    for (const conn of this.#conns) closeQuietly(conn);
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #track(task: Promise<void>): void {
    const tracked = task.catch(() => {}).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#tcp) this.#track(this.#serveTcp(conn));
    } catch {
      // The listener was closed.
    }
  }

  /** Serves length-prefixed messages on one connection (RFC 1035 §4.2.2). */
  async #serveTcp(conn: Deno.Conn): Promise<void> {
    this.#conns.add(conn);
    const chunk = new Uint8Array(65536);
    let pending = Buffer.alloc(0);
    const send = async (reply: Buffer) => {
      const framed = Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]);
      for (let off = 0; off < framed.length;) {
        off += await conn.write(framed.subarray(off));
      }
    };
    try {
      for (let n; (n = await conn.read(chunk)) !== null;) {
        pending = Buffer.concat([pending, chunk.subarray(0, n)]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
          pending = pending.subarray(2 + msg.length);
          await this.#handle(msg, "tcp", send);
        }
      }
    } catch {
      // Reset by the peer, or closed by close().
    } finally {
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
  }

  /** Answers one message; malformed messages and responses are ignored. */
  async #handle(
    msg: Buffer,
    transport: "udp" | "tcp",
    send: (reply: Buffer) => Promise<void>,
  ): Promise<void> {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (query.type !== "query" || query.questions?.length !== 1 || !question) return;
    this.queries.push({ name: question.name, type: question.type, transport });
    const fault = this.#faults.get(`${normalize(question.name)}|${question.type}`) ??
      this.#faults.get(`${normalize(question.name)}|*`);
    if (fault === "timeout") return;

    // RCODE (RFC 1035 §4.1.1): only standard queries (OPCODE 0) are served.
    let rcode = NOERROR;
    let answers: Answer[] = [];
    if (((query.flags ?? 0) >> 11) & 0xf) rcode = NOTIMP;
    else if (fault === "servfail") rcode = SERVFAIL;
    else if (fault === "refused") rcode = REFUSED;
    else ({ rcode, answers } = this.#resolve(question.name, question.type));

    // EDNS0 (RFC 6891 §6.1.1, §6.2.5): answer an OPT with an OPT, and use
    // the requestor's advertised UDP payload size as the limit.
    const opt = query.additionals?.find((a): a is OptAnswer => a.type === "OPT");
    const flags = dnsPacket.AUTHORITATIVE_ANSWER | rcode |
      ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED);
    const reply: Packet = {
      type: "response",
      id: query.id,
      flags,
      questions: [question],
      answers,
      additionals: opt ? [ourOpt()] : [],
    };
    const limit = opt ? Math.max(UDP_LIMIT, opt.udpPayloadSize) : UDP_LIMIT;
    let wire = dnsPacket.encode(reply);
    // Truncation (RFC 1035 §4.2.1; RFC 2181 §9): set TC and drop the answers.
    if (transport === "udp" && (fault === "truncate" || wire.length > limit)) {
      const tc = flags | dnsPacket.TRUNCATED_RESPONSE;
      wire = dnsPacket.encode({ ...reply, flags: tc, answers: [] });
    }
    if (fault === "badid") {
      await send(dnsPacket.encode({ ...reply, id: ((query.id ?? 0) + 1) & 0xffff }));
      if (!await this.#sleep(50)) return;
    }
    await send(wire);
  }

  /**
   * Looks `name` up, following CNAMEs within the zone (RFC 1034 §4.3.2).
   * The RCODE reflects the last name of the chain (RFC 6604 §2.1).
   */
  #resolve(name: string, type: string): { rcode: number; answers: Answer[] } {
    const answers: Answer[] = [];
    const seen = new Set<string>();
    let owner = name;
    for (let key = normalize(owner); !seen.has(key); key = normalize(owner)) {
      seen.add(key);
      const here = this.#zone.get(key) ?? [];
      if (here.length === 0) {
        // NODATA at an empty non-terminal (RFC 8020 §2), else NXDOMAIN.
        const below = [...this.#zone.keys()].some((k) => key === "" || k.endsWith(`.${key}`));
        return { rcode: below ? NOERROR : NXDOMAIN, answers };
      }
      const matches = here.filter((r) => type === "ANY" || r.type === type);
      answers.push(...matches.map((r) => toAnswer(owner, r)));
      const cname = here.find((r): r is CnameRecord => r.type === "CNAME");
      if (matches.length > 0 || !cname) break;
      answers.push(toAnswer(owner, cname));
      owner = cname.data;
    }
    return { rcode: NOERROR, answers };
  }

  /** Waits `ms`; resolves false at once if the server is closed meanwhile. */
  #sleep(ms: number): Promise<boolean> {
    const signal = this.#abort.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve(false);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(true);
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
