/**
 * Helpers for the DNS resolver unit tests: a zone served by a loopback TestDnsServer with a
 * StubResolver in front of it, a scripted UDP server for replies TestDnsServer cannot send, and
 * small assertions on results. Test-only; private to src/dns.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import dgram from "node:dgram";
// @ts-types="@types/dns-packet"
import dnsPacket, { type Answer, type DecodedPacket } from "dns-packet";
import { TestDnsServer, type ZoneRecord } from "../../tests/support/dns_server.ts";
import { type DnsResult, reverseName } from "./resolver.ts";
import { StubResolver, type StubResolverOptions } from "./stub_resolver.ts";

/** A TXT record too big for a 1232-byte UDP reply. */
export const BIG = "x".repeat(300) + "y".repeat(1700);

/** The records every withDns() server holds. */
export const ZONE: ZoneRecord[] = [
  { name: "example.test", type: "A", data: "192.0.2.1" },
  { name: "example.test", type: "A", data: "192.0.2.2", ttl: 60 },
  { name: "example.test", type: "AAAA", data: "2001:db8::1" },
  { name: "example.test", type: "MX", data: { preference: 10, exchange: "MX1.Example.TEST." } },
  { name: "example.test", type: "MX", data: { preference: 20, exchange: "mx2.example.test" } },
  { name: "example.test", type: "TXT", data: ["v=spf1 ", "ip4:192.0.2.0/24", " -all"] },
  { name: "example.test", type: "TXT", data: "second record" },
  { name: "nullmx.test", type: "MX", data: { preference: 0, exchange: "." } },
  { name: "long.test", type: "TXT", data: "a".repeat(300) },
  { name: "big.test", type: "TXT", data: BIG },
  { name: "utf8.test", type: "TXT", data: "é".repeat(200) },
  { name: reverseName("192.0.2.1"), type: "PTR", data: "Host.Example.TEST." },
  { name: "mx1.example.test", type: "A", data: "192.0.2.25", ttl: 30 },
  { name: "alias.test", type: "CNAME", data: "mid.test", ttl: 120 },
  { name: "mid.test", type: "CNAME", data: "MX1.Example.Test.", ttl: 90 },
  { name: "dangling.test", type: "CNAME", data: "gone.example.test" },
  { name: "to-nodata.test", type: "CNAME", data: "mx1.example.test" },
  { name: "loop1.test", type: "CNAME", data: "loop2.test" },
  { name: "loop2.test", type: "CNAME", data: "loop1.test" },
  { name: "zero.test", type: "A", data: "192.0.2.9", ttl: 0 },
  { name: "a.test", type: "A", data: "192.0.2.10" },
  { name: "b.test", type: "A", data: "192.0.2.11" },
  { name: "c.test", type: "A", data: "192.0.2.12" },
];

/** StubResolver options besides the name servers. */
export type Options = Omit<StubResolverOptions, "nameservers">;

/** Runs `fn` with a fresh TestDnsServer holding ZONE and a StubResolver pointed at it. */
export async function withDns(
  fn: (dns: TestDnsServer, resolver: StubResolver) => Promise<void>,
  options: Options = {},
): Promise<void> {
  const dns = await TestDnsServer.start({ records: ZONE });
  try {
    const nameservers = [{ host: dns.hostname, port: dns.port }];
    await fn(dns, new StubResolver({ timeoutMs: 1000, ...options, nameservers }));
  } finally {
    await dns.close();
  }
}

/** The records of an "ok" result; asserts that it is one. */
export function okRecords<T>(result: DnsResult<T>): T[] {
  assert.equal(result.kind, "ok", JSON.stringify(result));
  return result.kind === "ok" ? result.records : [];
}

/** Asserts a "temporary" result whose reason matches `pattern`. */
export function assertTemporary(result: DnsResult<unknown>, pattern: RegExp): void {
  assert.equal(result.kind, "temporary", JSON.stringify(result));
  if (result.kind === "temporary") assert.match(result.reason, pattern);
}

/** A free loopback UDP port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", () => resolve()));
  const port = sock.address().port;
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

/** Sends one reply packet to the resolver. */
export type Reply = (packet: Uint8Array) => void;

/**
 * Runs `fn` with a resolver pointed at a UDP server that calls `handle` for each query.
 * `reply` answers from the server's address; `replyFromOtherPort` from another socket.
 */
export async function withScripted(
  handle: (query: DecodedPacket, reply: Reply, replyFromOtherPort: Reply) => void,
  fn: (resolver: StubResolver) => Promise<void>,
  options: Options = {},
): Promise<void> {
  const bind = async () => {
    const sock = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", () => resolve()));
    return sock;
  };
  const server = await bind();
  const rogue = await bind();
  server.on("message", (msg: Buffer, peer: dgram.RemoteInfo) => {
    const send = (sock: dgram.Socket) => (packet: Uint8Array) =>
      sock.send(packet, peer.port, peer.address);
    handle(dnsPacket.decode(msg), send(server), send(rogue));
  });
  try {
    const nameservers = [{ host: "127.0.0.1", port: server.address().port }];
    await fn(new StubResolver({ timeoutMs: 500, attempts: 1, ...options, nameservers }));
  } finally {
    for (const sock of [server, rogue]) {
      await new Promise<void>((resolve) => sock.close(() => resolve()));
    }
  }
}

/** A reply to `query` with `answers`, RCODE 0 unless `flags` says otherwise. */
export function answerTo(
  query: DecodedPacket,
  answers: Answer[],
  overrides: Partial<Parameters<typeof dnsPacket.encode>[0]> = {},
): Buffer {
  return dnsPacket.encode({
    type: "response",
    id: query.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: query.questions,
    answers,
    ...overrides,
  });
}
