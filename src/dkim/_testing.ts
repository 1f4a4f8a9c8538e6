/**
 * Helpers for the DKIM unit tests: a loopback DNS server with the stub resolver in front of it,
 * and the shared conformance files. Test-only; private to src/dkim.
 *
 * @module
 */

import { StubResolver } from "../dns/stub_resolver.ts";
import { TestDnsServer, type ZoneRecord } from "../../tests/support/dns_server.ts";

/** The shared DKIM conformance folder (beside the repository). */
export const CONFORMANCE = new URL("../../../shared/conformance/dkim/", import.meta.url);

/**
 * Runs `fn` with a resolver that asks a fresh loopback DNS server serving `records` (TXT data by
 * owner name), then closes the server.
 */
export async function withDns<T>(
  records: Record<string, string | string[]>,
  fn: (resolver: StubResolver, dns: TestDnsServer) => Promise<T>,
): Promise<T> {
  const zone: ZoneRecord[] = [];
  for (const [name, data] of Object.entries(records)) {
    for (const txt of typeof data === "string" ? [data] : data) {
      zone.push({ name, type: "TXT", data: txt });
    }
  }
  const dns = await TestDnsServer.start({ records: zone });
  try {
    const resolver = new StubResolver({
      nameservers: [{ host: dns.hostname, port: dns.port }],
      timeoutMs: 200,
      attempts: 1,
      cacheSize: 0,
    });
    return await fn(resolver, dns);
  } finally {
    await dns.close();
  }
}

/** A shared conformance file with every bare LF turned into CRLF. */
export async function conformanceMessage(path: string): Promise<Uint8Array> {
  return crlf(await Deno.readFile(new URL(path, CONFORMANCE)));
}

/** Text with every bare LF turned into CRLF, as bytes (Latin-1 kept byte for byte). */
export function crlf(input: string | Uint8Array): Uint8Array {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i - 1] !== 0x0d) out.push(0x0d);
    out.push(bytes[i]!);
  }
  return new Uint8Array(out);
}

/** Concatenates a prefix (header fields) and a message. */
export function prepend(fields: string, message: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(fields);
  const out = new Uint8Array(head.length + message.length);
  out.set(head);
  out.set(message, head.length);
  return out;
}
