/**
 * The DNS interface used by the whole server. Every lookup returns a typed result that tells
 * apart the four outcomes a mail server must not confuse (RFC 7208 §2.6, RFC 5321 §5.1):
 *
 * - `ok`: records were found;
 * - `nodata`: the name exists but has no records of that type (NOERROR, empty answer);
 * - `nxdomain`: the name does not exist (RCODE 3);
 * - `temporary`: we could not find out (SERVFAIL, REFUSED, timeout, truncated answer with
 *   TCP failing, network error). Callers retry or answer 4xx / temperror, never treat it as
 *   an absence.
 *
 * Implementations: {@link ./stub_resolver.ts} (the default, DNS wire format over UDP/TCP) and
 * {@link ./deno_resolver.ts} (Deno.resolveDns, which cannot tell SERVFAIL from NXDOMAIN).
 *
 * @module
 */

/** MX record data (RFC 1035 §3.3.9). */
export interface MxRecord {
  preference: number;
  /** The exchange host name, lower-case, without trailing dot; "" for the root (null MX). */
  exchange: string;
}

/** The record types the server asks for, and what each returns. */
export interface RecordTypes {
  A: string;
  AAAA: string;
  MX: MxRecord;
  /** Each TXT record as its character-strings joined with no separator (RFC 7208 §3.3). */
  TXT: string;
  PTR: string;
  CNAME: string;
  /** TLSA records as raw RDATA bytes, for DANE later. */
  TLSA: Uint8Array;
}

/** A DNS record type name. */
export type RecordType = keyof RecordTypes;

/** The outcome of a lookup. */
export type DnsResult<T> =
  | { kind: "ok"; records: T[]; ttl: number }
  | { kind: "nodata" }
  | { kind: "nxdomain" }
  | { kind: "temporary"; reason: string };

/** One resolver for the whole server. */
export interface Resolver {
  /**
   * Look up `name` (absolute; a trailing dot is optional) for records of `type`. CNAMEs are
   * followed: the records returned are those of the end of the chain. Never throws for DNS
   * trouble: that is a `temporary` result.
   */
  lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<RecordTypes[T]>>;
}

/** Whether a result means "there is nothing" (RFC 7208 §4.6.4 void lookup). */
export function isVoid(r: DnsResult<unknown>): boolean {
  return r.kind === "nodata" || r.kind === "nxdomain" ||
    (r.kind === "ok" && r.records.length === 0);
}

/** The records of an `ok` result, or an empty list. */
export function recordsOf<T>(r: DnsResult<T>): T[] {
  return r.kind === "ok" ? r.records : [];
}

/**
 * The reverse-lookup name of an IP address (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5
 * ip6.arpa nibbles).
 */
export function reverseName(ip: string): string {
  if (ip.includes(":")) {
    return expandIPv6(ip).replaceAll(":", "").split("").reverse().join(".") + ".ip6.arpa";
  }
  return ip.split(".").reverse().join(".") + ".in-addr.arpa";
}

/**
 * Expand an IPv6 address to eight four-digit groups, lower-case unless `keepCase` (SPF's
 * %{i} macro keeps the letters as given).
 */
export function expandIPv6(ip: string, keepCase = false): string {
  let text = keepCase ? ip : ip.toLowerCase();
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) +
      ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].map((g) => g.padStart(4, "0")).join(":");
}
