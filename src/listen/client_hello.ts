/**
 * A look at a TLS ClientHello before the handshake starts: the server name (SNI) and the
 * offered ALPN protocols, read from the first TLS record, so that a listener can choose the
 * certificate per connection (RFC 8737 §3: a tls-alpn-01 validation offers `acme-tls/1` and
 * must get the challenge certificate, everyone else the normal one). The bytes read are put
 * back for the real handshake.
 *
 * Parsing is defensive: whatever does not parse as a complete ClientHello in the first record
 * gives null, and the connection takes the normal path (where OpenSSL judges it).
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import { ReadTimeout } from "./inbox.ts";

/** What a ClientHello asks for. */
export interface ClientHelloInfo {
  /** The host_name of the server_name extension (RFC 6066 §3), lower-cased. */
  serverName?: string;
  /** The application_layer_protocol_negotiation list (RFC 7301 §3.1); empty when absent. */
  alpn: string[];
}

const RECORD_HEADER = 5;
// RFC 8446 §5.1: a TLSPlaintext fragment is at most 2^14 bytes.
const MAX_FRAGMENT = 1 << 14;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

/** A {@link TlsReader} ran past the end of its range (the input is truncated). */
export class TlsTruncated extends Error {}

/**
 * A bounds-checked reader over a byte range of TLS structures (RFC 8446 §3); also used by the
 * tls-alpn-01 responder (src/acme/tls_alpn_responder.ts).
 */
export class TlsReader {
  #at: number;
  readonly #end: number;
  constructor(readonly bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#at = start;
    this.#end = end;
  }
  get done(): boolean {
    return this.#at >= this.#end;
  }
  uint(n: number): number {
    if (this.#at + n > this.#end) throw new TlsTruncated();
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.bytes[this.#at++]!;
    return v;
  }
  skip(n: number): void {
    if (this.#at + n > this.#end) throw new TlsTruncated();
    this.#at += n;
  }
  /** A sub-reader over a vector with an `n`-byte length prefix (RFC 8446 §3.4). */
  vector(n: number): TlsReader {
    const len = this.uint(n);
    if (this.#at + len > this.#end) throw new TlsTruncated();
    const sub = new TlsReader(this.bytes, this.#at, this.#at + len);
    this.#at += len;
    return sub;
  }
  /** The bytes left (a view), consumed. */
  rest(): Uint8Array {
    const out = this.bytes.subarray(this.#at, this.#end);
    this.#at = this.#end;
    return out;
  }
  text(): string {
    let s = "";
    while (!this.done) s += String.fromCharCode(this.uint(1));
    return s;
  }
}

/**
 * How many bytes the first TLS record takes, header included, judging from its header:
 * 0 when fewer than 5 bytes are there to tell, -1 when it is not a handshake record of a
 * plausible size.
 */
export function firstRecordLength(bytes: Uint8Array): number {
  if (bytes.length >= 1 && bytes[0] !== CONTENT_HANDSHAKE) return -1;
  if (bytes.length < RECORD_HEADER) return 0;
  const len = bytes[3]! * 256 + bytes[4]!;
  if (bytes[1] !== 3 || len === 0 || len > MAX_FRAGMENT) return -1;
  return RECORD_HEADER + len;
}

/** The SNI and ALPN of the ClientHello in the first record of `bytes`, or null. */
export function parseClientHello(bytes: Uint8Array): ClientHelloInfo | null {
  const total = firstRecordLength(bytes);
  if (total <= 0 || bytes.length < total) return null;
  try {
    const record = new TlsReader(bytes, RECORD_HEADER, total);
    // RFC 8446 §4: Handshake { msg_type; uint24 length; ClientHello }.
    if (record.uint(1) !== HANDSHAKE_CLIENT_HELLO) return null;
    const hello = record.vector(3);
    // RFC 8446 §4.1.2: legacy_version, random, legacy_session_id, cipher_suites,
    // legacy_compression_methods, extensions.
    hello.skip(2 + 32);
    hello.vector(1);
    hello.vector(2);
    hello.vector(1);
    const info: ClientHelloInfo = { alpn: [] };
    if (hello.done) return info; // no extensions at all (TLS 1.2 allows that)
    const extensions = hello.vector(2);
    const seen = new Set<number>();
    while (!extensions.done) {
      const type = extensions.uint(2);
      const data = extensions.vector(2);
      // RFC 8446 §4.2: at most one extension of each type.
      if (seen.has(type)) return null;
      seen.add(type);
      if (type === EXT_SERVER_NAME) info.serverName = serverName(data);
      else if (type === EXT_ALPN) info.alpn = protocols(data);
    }
    if (info.serverName === undefined) delete info.serverName;
    return info;
  } catch (e) {
    if (e instanceof TlsTruncated) return null;
    throw e;
  }
}

// RFC 6066 §3: ServerNameList { NameType name_type (0 = host_name); HostName <1..2^16-1> }.
function serverName(data: TlsReader): string | undefined {
  const list = data.vector(2);
  while (!list.done) {
    const type = list.uint(1);
    const name = list.vector(2).text();
    if (type === 0) return /^[\x21-\x7e]{1,253}$/.test(name) ? name.toLowerCase() : undefined;
  }
  return undefined;
}

// RFC 7301 §3.1: ProtocolNameList { ProtocolName <1..2^8-1> protocol_name_list<2..2^16-1> }.
function protocols(data: TlsReader): string[] {
  const list = data.vector(2);
  const out: string[] = [];
  while (!list.done) out.push(list.vector(1).text());
  return out;
}

/**
 * Read the first TLS record from `conn` (until `deadline`, a `Date.now()` time), put every
 * byte read back with {@link Connection.unread}, and parse it. Null when the peer sent no
 * complete ClientHello in time; the handshake that follows then fails or succeeds on its own.
 */
export async function peekClientHello(
  conn: Connection,
  deadline: number,
): Promise<ClientHelloInfo | null> {
  let bytes = new Uint8Array(0);
  try {
    for (;;) {
      const need = firstRecordLength(bytes);
      if (need < 0 || (need > 0 && bytes.length >= need)) break;
      const chunk = await conn.read(Math.max(1, deadline - Date.now()), false);
      if (chunk === null) break;
      const next = new Uint8Array(bytes.length + chunk.length);
      next.set(bytes);
      next.set(chunk, bytes.length);
      bytes = next;
    }
  } catch (e) {
    if (!(e instanceof ReadTimeout)) throw e;
  }
  conn.unread(bytes);
  return parseClientHello(bytes);
}
