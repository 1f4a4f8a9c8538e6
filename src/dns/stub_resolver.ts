/**
 * A stub resolver that speaks the DNS wire format itself (RFC 1035), so that SERVFAIL,
 * REFUSED and timeouts stay `temporary` instead of looking like NXDOMAIN, as they do through
 * `Deno.resolveDns` and `node:dns`.
 *
 * Each query goes over UDP from a fresh `node:dgram` socket (so a fresh OS-chosen source port,
 * RFC 5452 §9.2) with a random 16-bit ID, RD=1 and an EDNS0 OPT advertising 1232 bytes; a
 * truncated reply is retried over TCP on the same server. Servers are tried in order, for
 * `attempts` rounds. No socket outlives the query that opened it, so there is nothing to
 * close.
 *
 * Answers are cached per (name, type) with LRU eviction: positive answers for the smallest
 * TTL of the records used, negative ones for the SOA minimum (RFC 2308 §5); `temporary`
 * results never.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import dgram from "node:dgram";
// @ts-types="@types/dns-packet"
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer } from "dns-packet";
import {
  type DnsResult,
  expandIPv6,
  type MxRecord,
  type RecordType,
  type RecordTypes,
  type Resolver,
} from "./resolver.ts";

/** Options for {@linkcode StubResolver}. */
export interface StubResolverOptions {
  /** Recursive name servers, as IP literals, tried in this order. */
  nameservers: { host: string; port: number }[];
  /** How long to wait for an answer from one server, per attempt; default 2000 ms. */
  timeoutMs?: number;
  /** Rounds over all the servers before giving up; default 2. */
  attempts?: number;
  /** The most (name, type) entries cached; default 10000, and 0 disables the cache. */
  cacheSize?: number;
  /** The clock for cache expiry, in milliseconds; default `Date.now`. */
  now?: () => number;
  /** Called for each lookup that ends `temporary` (for the metrics); must not throw. */
  onTemporary?: (reason: string) => void;
}

/** A server; `ip` is the host in the canonical form of {@linkcode parseIp}, for comparisons. */
type Nameserver = { host: string; port: number; ip: string };
type AnyResult = DnsResult<unknown>;
/** A result and how many seconds it may be cached (0: not at all). */
type Resolved = { result: AnyResult; ttl: number };
/** The outcome of asking one server: a matching reply, or why there is none. */
type Exchange = { kind: "reply"; packet: DecodedPacket } | { kind: "fail"; reason: string };
/** Whether a reply answers the query we sent (RFC 1035 §7.3, RFC 5452 §4.3). */
type Matcher = (packet: DecodedPacket) => boolean;
/** The state of one CNAME chain across follow-up queries. */
type Chain = { seen: Set<string>; followUps: number };

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_ATTEMPTS = 2;
const DEFAULT_CACHE_SIZE = 10000;
/** The EDNS0 UDP payload size we advertise (RFC 6891 §6.2.5; DNS Flag Day 2020). */
const EDNS_UDP_SIZE = 1232;
/** Follow-up queries allowed for one CNAME chain that leaves the answer section. */
const MAX_FOLLOW_UPS = 8;
/** Caps on cached TTLs, in seconds (RFC 2308 §5 suggests one to three hours for negative). */
const MAX_POSITIVE_TTL = 86400;
const MAX_NEGATIVE_TTL = 3600;
const DEFAULT_NEGATIVE_TTL = 60;

// RCODEs (RFC 1035 §4.1.1).
const NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4, REFUSED = 5;
const RCODE_NAMES: Record<number, string> = {
  [FORMERR]: "FORMERR",
  [SERVFAIL]: "SERVFAIL",
  [NOTIMP]: "NOTIMP",
  [REFUSED]: "REFUSED",
};

const utf8 = new TextEncoder();
// Non-fatal, and keeping a leading BOM: bytes that are not UTF-8 become U+FFFD, which stays
// non-ASCII so that SPF can still reject the record (RFC 7208 §4.5, §3.1).
const txtDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** A resolver speaking the DNS wire format over UDP, with TCP fallback. */
export class StubResolver implements Resolver {
  readonly #nameservers: Nameserver[];
  readonly #timeoutMs: number;
  readonly #attempts: number;
  readonly #cacheSize: number;
  readonly #now: () => number;
  readonly #onTemporary: ((reason: string) => void) | undefined;
  readonly #cache = new Map<string, { result: AnyResult; expires: number }>();
  readonly #inflight = new Map<string, Promise<Resolved>>();

  /** Throws a TypeError for a configuration error (no server, a host that is not an IP). */
  constructor(options: StubResolverOptions) {
    if (options.nameservers.length === 0) throw new TypeError("no nameservers given");
    this.#nameservers = options.nameservers.map(({ host, port }) => {
      const ip = parseIp(host);
      if (ip === null) throw new TypeError(`nameserver host is not an IP address: ${host}`);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new TypeError(`nameserver port must be 1-65535: ${port}`);
      }
      return { host, port, ip };
    });
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
    this.#cacheSize = Math.max(0, options.cacheSize ?? DEFAULT_CACHE_SIZE);
    this.#now = options.now ?? Date.now;
    this.#onTemporary = options.onTemporary;
  }

  async lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<RecordTypes[T]>> {
    const qname = canonicalName(name);
    // A name with an empty label, a label over 63 octets or over 253 octets in all cannot
    // exist in the DNS (RFC 1035 §2.3.4, §3.1), so it is answered as a name that does not
    // exist, without going on the wire.
    if (qname === null) return { kind: "nxdomain" };
    const key = cacheKey(qname, type);
    try {
      let task = this.#inflight.get(key);
      if (!task) {
        // Concurrent lookups of the same (name, type) share one query.
        task = this.#resolve(qname, type, { seen: new Set([qname]), followUps: 0 });
        this.#inflight.set(key, task);
        const done = () => {
          if (this.#inflight.get(key) === task) this.#inflight.delete(key);
        };
        task.then(done, done);
      }
      const result = cloneResult((await task).result) as DnsResult<RecordTypes[T]>;
      if (result.kind === "temporary") this.#onTemporary?.(result.reason);
      return result;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.#onTemporary?.(reason);
      return { kind: "temporary", reason };
    }
  }

  /** Answers from the cache, or queries and caches the answer. */
  async #resolve(qname: string, type: RecordType, chain: Chain): Promise<Resolved> {
    const key = cacheKey(qname, type);
    const hit = this.#cacheGet(key);
    if (hit) return hit;
    const resolved = await this.#query(qname, type, chain);
    this.#cacheSet(key, resolved);
    return resolved;
  }

  /** Queries the servers and interprets the reply. */
  async #query(qname: string, type: RecordType, chain: Chain): Promise<Resolved> {
    const exchange = await this.#exchange(qname, type);
    if (exchange.kind === "fail") return temporary(exchange.reason);
    const packet = exchange.packet;
    const rcode = (packet.flags ?? 0) & 0xf;
    const answers = (packet.answers ?? []).filter(isInRecord);

    // Follow the CNAME chain from the question name to its end (RFC 1034 §3.6.2, §4.3.2
    // step 3a; RFC 2181 §10.1). The records returned are those owned by the end.
    let owner = qname;
    let ttl = MAX_POSITIVE_TTL;
    for (;;) {
      const found = answers.filter((a) => a.type === type && canonicalOwner(a.name) === owner);
      if (found.length > 0) {
        ttl = Math.min(ttl, ...found.map(recordTtl));
        return { result: { kind: "ok", records: found.map(recordData), ttl }, ttl };
      }
      if (type === "CNAME") break;
      const cname = answers.find((a) => a.type === "CNAME" && canonicalOwner(a.name) === owner);
      if (!cname) break;
      ttl = Math.min(ttl, recordTtl(cname));
      owner = canonicalOwner(String(cname.data));
      // A CNAME loop is an error, not an absence (RFC 1034 §3.6.2): resolvers answer SERVFAIL.
      if (chain.seen.has(owner)) return temporary(`CNAME loop at ${owner}`);
      chain.seen.add(owner);
    }

    // RFC 6604 §3: with CNAMEs, the RCODE describes the last name of the chain.
    if (rcode === NXDOMAIN) {
      return { result: { kind: "nxdomain" }, ttl: Math.min(ttl, negativeTtl(packet)) };
    }
    if (owner !== qname && !answers.some((a) => canonicalOwner(a.name) === owner)) {
      // The chain leaves the answer (an authoritative server stops at its zone's edge), so
      // ask for the target, as a resolver restarts the query at the canonical name
      // (RFC 1034 §5.3.3 step 3).
      if (++chain.followUps > MAX_FOLLOW_UPS) return temporary(`CNAME chain too long`);
      const next = await this.#resolve(owner, type, chain);
      const combined = Math.min(ttl, next.ttl);
      const result = next.result.kind === "ok" ? { ...next.result, ttl: combined } : next.result;
      return { result, ttl: result.kind === "temporary" ? 0 : combined };
    }
    // NOERROR without records of the type: NODATA (RFC 2308 §2.2).
    return { result: { kind: "nodata" }, ttl: Math.min(ttl, negativeTtl(packet)) };
  }

  /**
   * Asks each server in turn, for `attempts` rounds, until one gives a usable reply (NOERROR
   * or NXDOMAIN). Timeouts, SERVFAIL, REFUSED, other RCODEs and network errors move on to
   * the next server (RFC 1035 §7.2).
   */
  async #exchange(qname: string, type: RecordType): Promise<Exchange> {
    const failures = new Map<string, string>();
    for (let round = 0; round < this.#attempts; round++) {
      for (const server of this.#nameservers) {
        const outcome = await this.#ask(server, qname, type);
        if (outcome.kind === "reply") return outcome;
        failures.set(formatServer(server), outcome.reason);
      }
    }
    const detail = [...failures].map(([server, reason]) => `${server} ${reason}`).join("; ");
    return { kind: "fail", reason: `${qname || "."}/${type}: ${detail}` };
  }

  /** Asks one server: UDP, then TCP if the reply is truncated. */
  async #ask(server: Nameserver, qname: string, type: RecordType): Promise<Exchange> {
    for (let edns = true;;) {
      // A fresh random ID for every message (RFC 5452 §9.2, §4.3).
      const id = crypto.getRandomValues(new Uint16Array(1))[0] ?? 0;
      const wire = encodeQuery(id, qname, type, edns);
      const matches: Matcher = (p) => isReplyTo(p, id, qname, type);
      let outcome = await udpExchange(server, wire, matches, this.#timeoutMs);
      if (outcome.kind === "fail") return outcome;
      // TC=1: retry the same server over TCP (RFC 1035 §4.2.1, RFC 7766 §5, RFC 2181 §9).
      if (outcome.packet.flag_tc) {
        outcome = await tcpExchange(server, wire, matches, this.#timeoutMs);
        if (outcome.kind === "fail") {
          return { kind: "fail", reason: `TC over UDP, ${outcome.reason}` };
        }
      }
      const packet = outcome.packet;
      const rcode = (packet.flags ?? 0) & 0xf;
      const opt = packet.additionals?.find((a): a is OptAnswer => a.type === "OPT");
      // RFC 6891 §7: a server that does not know EDNS may answer FORMERR without an OPT;
      // ask it again without one.
      if (rcode === FORMERR && edns && !opt) {
        edns = false;
        continue;
      }
      // An extended RCODE (RFC 6891 §6.1.3), such as BADVERS, is a failure of this server.
      if (opt && opt.extendedRcode !== 0) {
        return { kind: "fail", reason: `extended RCODE ${(opt.extendedRcode << 4) | rcode}` };
      }
      if (rcode === NOERROR || rcode === NXDOMAIN) return outcome;
      return { kind: "fail", reason: RCODE_NAMES[rcode] ?? `RCODE ${rcode}` };
    }
  }

  #cacheGet(key: string): Resolved | undefined {
    const entry = this.#cache.get(key);
    if (!entry) return undefined;
    this.#cache.delete(key);
    const left = entry.expires - this.#now();
    if (left <= 0) return undefined;
    // Least-recently-used order: a hit moves the entry to the end of the Map.
    this.#cache.set(key, entry);
    const ttl = Math.ceil(left / 1000);
    return { result: entry.result.kind === "ok" ? { ...entry.result, ttl } : entry.result, ttl };
  }

  #cacheSet(key: string, { result, ttl }: Resolved): void {
    // Temporary failures are never cached: the next lookup asks again.
    if (this.#cacheSize === 0 || ttl <= 0 || result.kind === "temporary") return;
    this.#cache.delete(key);
    this.#cache.set(key, { result, expires: this.#now() + ttl * 1000 });
    for (const oldest of this.#cache.keys()) {
      if (this.#cache.size <= this.#cacheSize) break;
      this.#cache.delete(oldest);
    }
  }
}

/**
 * The name servers of a resolv.conf(5) file: each `nameserver` line's IPv4 or IPv6 address,
 * on port 53. Comments (`#` or `;` to the end of the line) are ignored, as are IPv6 scope
 * ids (`fe80::1%eth0` gives `fe80::1`) and addresses that do not parse. As the C library
 * does, a missing file or one without a usable `nameserver` line gives 127.0.0.1:53; other
 * read errors (such as a missing --allow-read) are thrown.
 */
export async function systemNameservers(
  path = "/etc/resolv.conf",
): Promise<{ host: string; port: number }[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const servers: { host: string; port: number }[] = [];
  for (const raw of text.split("\n")) {
    const [keyword, address] = raw.replace(/[#;].*/, "").trim().split(/\s+/);
    if (keyword !== "nameserver" || !address) continue;
    const host = address.replace(/%.*/, "");
    if (parseIp(host) !== null) servers.push({ host, port: 53 });
  }
  return servers.length > 0 ? servers : [{ host: "127.0.0.1", port: 53 }];
}

// ---------------------------------------------------------------------------------------
// Wire format.

/** A query message: RD=1 (RFC 1035 §4.1.1), one question, and an EDNS0 OPT (RFC 6891 §6.1). */
function encodeQuery(id: number, qname: string, type: RecordType, edns: boolean): Buffer {
  const opt: OptAnswer = {
    name: ".",
    type: "OPT",
    udpPayloadSize: EDNS_UDP_SIZE,
    extendedRcode: 0,
    ednsVersion: 0,
    flags: 0,
    flag_do: false,
    options: [],
  };
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name: qname || ".", type, class: "IN" }],
    additionals: edns ? [opt] : [],
  });
}

/**
 * Whether `p` is the reply to our query: a response (QR=1) to a standard query (OPCODE 0)
 * with our ID and exactly our question, name compared case-insensitively (RFC 1035 §4.1.1,
 * §7.3; RFC 5452 §4.3; RFC 4343 §3). Anything else is ignored and we keep waiting.
 */
function isReplyTo(p: DecodedPacket, id: number, qname: string, type: RecordType): boolean {
  const question = p.questions?.[0];
  return p.type === "response" && p.id === id && (((p.flags ?? 0) >> 11) & 0xf) === 0 &&
    p.questions?.length === 1 && question !== undefined &&
    canonicalOwner(question.name) === qname && question.type === type &&
    question.class === "IN";
}

/** Sends `wire` over UDP and waits for a matching reply from `server` (RFC 1035 §4.2.1). */
function udpExchange(
  server: Nameserver,
  wire: Uint8Array,
  matches: Matcher,
  timeoutMs: number,
): Promise<Exchange> {
  const socket = dgram.createSocket(server.host.includes(":") ? "udp6" : "udp4");
  return new Promise<Exchange>((resolve) => {
    let finished = false;
    const finish = (outcome: Exchange) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.removeAllListeners("message");
      try {
        socket.close(() => resolve(outcome));
      } catch {
        resolve(outcome);
      }
    };
    const timer = setTimeout(() => finish({ kind: "fail", reason: "timeout" }), timeoutMs);
    socket.on("error", (err: Error) => finish({ kind: "fail", reason: err.message }));
    socket.on("message", (msg: Buffer, peer: dgram.RemoteInfo) => {
      // RFC 5452 §4.3: only the address and port we sent to may answer.
      if (peer.port !== server.port || parseIp(peer.address) !== server.ip) return;
      let packet: DecodedPacket;
      try {
        packet = dnsPacket.decode(msg);
      } catch {
        return; // Malformed: it cannot be shown to be ours, so keep waiting.
      }
      if (matches(packet)) finish({ kind: "reply", packet });
    });
    socket.send(wire, server.port, server.host, (err: Error | null) => {
      if (err) finish({ kind: "fail", reason: err.message });
    });
  });
}

/**
 * Sends `wire` over TCP with the two-byte length prefix (RFC 1035 §4.2.2, RFC 7766 §8) and
 * reads replies until one matches.
 */
async function tcpExchange(
  server: Nameserver,
  wire: Uint8Array,
  matches: Matcher,
  timeoutMs: number,
): Promise<Exchange> {
  const abort = new AbortController();
  let conn: Deno.TcpConn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
    if (conn) closeQuietly(conn);
  }, timeoutMs);
  try {
    conn = await Deno.connect({ hostname: server.host, port: server.port, signal: abort.signal });
    const framed = new Uint8Array(2 + wire.length);
    framed[0] = wire.length >> 8;
    framed[1] = wire.length & 0xff;
    framed.set(wire, 2);
    for (let off = 0; off < framed.length;) off += await conn.write(framed.subarray(off));
    const chunk = new Uint8Array(65536);
    let pending = new Uint8Array(0);
    for (;;) {
      while (pending.length >= 2) {
        const length = ((pending[0] ?? 0) << 8) | (pending[1] ?? 0);
        if (pending.length < 2 + length) break;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        let packet: DecodedPacket | undefined;
        try {
          packet = dnsPacket.decode(Buffer.from(message));
        } catch {
          // Malformed: skip it, as a mismatching reply.
        }
        if (packet && matches(packet)) return { kind: "reply", packet };
      }
      const n = await conn.read(chunk);
      if (n === null) return { kind: "fail", reason: "TCP connection closed" };
      const joined = new Uint8Array(pending.length + n);
      joined.set(pending);
      joined.set(chunk.subarray(0, n), pending.length);
      pending = joined;
    }
  } catch (err) {
    if (timedOut) return { kind: "fail", reason: "TCP timeout" };
    return { kind: "fail", reason: `TCP ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    clearTimeout(timer);
    if (conn) closeQuietly(conn);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

// ---------------------------------------------------------------------------------------
// Records.

/** Records of class IN; this drops the OPT pseudo-record too. */
function isInRecord(a: Answer): a is Exclude<Answer, OptAnswer> {
  return a.type !== "OPT" && a.class === "IN";
}

/** A TTL in seconds; values with the top bit set count as zero (RFC 2181 §8). */
function recordTtl(a: Exclude<Answer, OptAnswer>): number {
  const ttl = a.ttl ?? 0;
  return ttl > 0x7fffffff ? 0 : ttl;
}

/** How long to cache a negative answer: the SOA's TTL and MINIMUM, lower of the two
 * (RFC 2308 §3, §5), else 60 s; at most an hour. */
function negativeTtl(packet: DecodedPacket): number {
  const soa = packet.authorities?.find((a) => a.type === "SOA" && a.class === "IN");
  if (soa?.type !== "SOA") return DEFAULT_NEGATIVE_TTL;
  return Math.min(recordTtl(soa), soa.data.minimum ?? 0, MAX_NEGATIVE_TTL);
}

/** The data of one record, in the shape of {@linkcode RecordTypes}. */
function recordData(a: Exclude<Answer, OptAnswer>): unknown {
  switch (a.type) {
    case "MX":
      return {
        preference: a.data.preference ?? 0,
        // "." (the root) becomes "": the null MX of RFC 7505.
        exchange: canonicalOwner(a.data.exchange),
      } satisfies MxRecord;
    case "TXT": {
      // RFC 7208 §3.3: a record's character-strings are joined with nothing between them.
      // Bytes are joined before decoding, so a UTF-8 sequence split across strings survives.
      const parts = (Array.isArray(a.data) ? a.data : [a.data]).map((s) =>
        typeof s === "string" ? utf8.encode(s) : s
      );
      const bytes = new Uint8Array(parts.reduce((n, s) => n + s.length, 0));
      let off = 0;
      for (const s of parts) {
        bytes.set(s, off);
        off += s.length;
      }
      return txtDecoder.decode(bytes);
    }
    case "PTR":
    case "CNAME":
      return canonicalOwner(a.data);
    case "TLSA": {
      // Raw RDATA (RFC 6698 §2.1): usage, selector, matching type, then the data.
      const { usage, selector, matchingType, certificate } = a.data;
      const rdata = new Uint8Array(3 + certificate.length);
      rdata.set([usage, selector, matchingType]);
      rdata.set(certificate, 3);
      return rdata;
    }
    default:
      return a.data;
  }
}

/** A copy of a result, so that callers may sort or edit it without touching the cache. */
function cloneResult(result: AnyResult): AnyResult {
  if (result.kind !== "ok") return result;
  const records = result.records.map((r) =>
    r instanceof Uint8Array ? r.slice() : typeof r === "object" && r !== null ? { ...r } : r
  );
  return { ...result, records };
}

function temporary(reason: string): Resolved {
  return { result: { kind: "temporary", reason }, ttl: 0 };
}

// ---------------------------------------------------------------------------------------
// Names and addresses.

/** ASCII-only case folding (RFC 4343 §3). */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** A name from a packet, lower-case, without trailing dot; the root is "". */
function canonicalOwner(name: string): string {
  return name === "." ? "" : asciiLower(name.replace(/\.$/, ""));
}

/**
 * The name to ask for, lower-case and without trailing dot ("." is the root, ""), or null
 * if no such name can exist: empty labels, labels over 63 octets, names over 253 octets
 * (255 on the wire) (RFC 1035 §2.3.4, §3.1).
 */
function canonicalName(input: string): string | null {
  if (input === ".") return "";
  const name = input.endsWith(".") ? input.slice(0, -1) : input;
  if (name === "" || utf8.encode(name).length > 253) return null;
  for (const label of name.split(".")) {
    if (label === "" || utf8.encode(label).length > 63) return null;
  }
  return asciiLower(name);
}

function cacheKey(qname: string, type: RecordType): string {
  return `${type} ${qname}`;
}

function formatServer({ host, port }: Nameserver): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * An IP literal in a canonical form for comparisons (IPv4 as a plain dotted quad, IPv6
 * expanded to eight groups), or null if `text` is not one.
 */
function parseIp(text: string): string | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const octets = v4.slice(1).map(Number);
    return octets.every((o) => o <= 255) ? octets.join(".") : null;
  }
  if (!text.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  if (text.split("::").length > 2) return null;
  try {
    const expanded = expandIPv6(text);
    return /^([0-9a-f]{4}:){7}[0-9a-f]{4}$/.test(expanded) ? expanded : null;
  } catch {
    return null; // Too many groups around "::".
  }
}
