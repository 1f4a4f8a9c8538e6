/**
 * Reading one HTTP/1.1 request (RFC 9112) from a {@link Connection}, with hard limits: a
 * request line of at most 8 KiB (else 414), a header section of at most 16 KiB and 100 fields
 * (431), a body only by Content-Length and at most 64 KiB (413; Transfer-Encoding is 501), a
 * deadline for the header section (408, so that a client trickling bytes cannot hold the
 * connection) and one for the body. Bad syntax is 400, a method other than GET, HEAD and POST
 * is 501, an HTTP major version other than 1 is 505. Every problem is an {@link HttpError}
 * whose status the caller answers before closing the connection.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Connection, Peer } from "../listen/connection.ts";
import { ReadInterrupted, ReadTimeout } from "../listen/inbox.ts";

/** A parsed request, as handlers see it. */
export interface HttpRequest {
  /** GET, HEAD or POST. */
  method: string;
  /** The request-target as received. */
  target: string;
  /** The path of the target, still percent-encoded, always starting with "/". */
  path: string;
  /** The query of the target (empty when there was none). */
  query: URLSearchParams;
  version: "1.0" | "1.1";
  /** The header fields (names are case-insensitive; repeated fields are joined by ", "). */
  headers: Headers;
  /** The host the request is for (absolute-form target or Host), lower-cased, no port. */
  host: string | null;
  body: Uint8Array;
  /** Whether the request came over TLS. */
  tls: boolean;
  peer: Peer;
}

/** What {@link readRequest} accepts. */
export interface RequestLimits {
  maxRequestLineBytes: number;
  maxHeaderBytes: number;
  maxHeaderFields: number;
  maxBodyBytes: number;
  /** From the first byte awaited to the end of the header section. */
  headerTimeoutMs: number;
  /** From the end of the header section to the end of the body. */
  bodyTimeoutMs: number;
}

/** The limits described in the module documentation. */
export const DEFAULT_REQUEST_LIMITS: RequestLimits = {
  maxRequestLineBytes: 8 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaderFields: 100,
  maxBodyBytes: 64 * 1024,
  headerTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
};

/** A request that cannot be served; answer `status` and close. */
export class HttpError extends Error {
  /** The status code to answer. */
  readonly status: number;
  /** Make one; `message` is what the client is told. */
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The methods this server implements (RFC 9110 §9.1: others get 501). */
export const METHODS: readonly string[] = ["GET", "HEAD", "POST"];

// RFC 9110 §5.6.2: token = 1*tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9112 §3: request-line = method SP request-target SP HTTP-version.
const REQUEST_LINE = /^([^ ]+) ([^ ]+) ([^ ]+)$/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
// RFC 9110 §5.5: field values are VCHAR, obs-text, SP and HTAB; no other control character.
// deno-lint-ignore no-control-regex
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Whether `value` may be a field value (RFC 9110 §5.5: no CR, LF, NUL or other control). */
export function isFieldValue(value: string): boolean {
  return !BAD_VALUE_CHAR.test(value);
}
// RFC 9110 §7.2 / RFC 3986 §3.2.2: Host = uri-host [ ":" port ].
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::\d{0,5})?$/;
// RFC 3986 §3.3-3.4 characters of a path and query (pchar, "/", "?"), percent-encoded or not.
const ORIGIN_FORM = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$/;
const ABSOLUTE_FORM = /^https?:\/\/([^/?#@]*)(\/[^#]*|\?[^#]*)?$/i;
const MAX_EMPTY_LINES = 8;

/** Bytes as a string of code points 0-255 (header bytes are ASCII plus obs-text). */
function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** Reads chunks into a growing buffer within a deadline. */
class Buffered {
  bytes = new Uint8Array(0);
  constructor(readonly conn: Connection) {}
  /** Append the next chunk; false at end of stream. */
  async more(deadline: number, interruptible: boolean, timeoutText: string): Promise<boolean> {
    let chunk;
    try {
      chunk = await this.conn.read(Math.max(1, deadline - Date.now()), interruptible);
    } catch (e) {
      if (e instanceof ReadTimeout) throw new HttpError(408, timeoutText);
      throw e;
    }
    if (chunk === null) return false;
    const next = new Uint8Array(this.bytes.length + chunk.length);
    next.set(this.bytes);
    next.set(chunk, this.bytes.length);
    this.bytes = next;
    return true;
  }
}

/**
 * Read one request. Null when the peer closed, or the server is stopping ({@link
 * Connection.interrupt}), before a byte of it came.
 * @throws {HttpError} for every limit and syntax error.
 */
export async function readRequest(
  conn: Connection,
  limits: RequestLimits,
  tls: boolean,
): Promise<HttpRequest | null> {
  const buf = new Buffered(conn);
  const deadline = Date.now() + limits.headerTimeoutMs;
  const lines: string[] = [];
  let start = 0; // where the current line starts
  let scanned = 0; // how far LF has been searched for
  let headerBytes = 0;
  let empty = 0;
  for (;;) {
    const lf = buf.bytes.indexOf(0x0a, scanned);
    if (lf < 0) {
      scanned = buf.bytes.length;
      const partial = buf.bytes.length - start;
      if (lines.length === 0 && partial > limits.maxRequestLineBytes + 1) {
        throw new HttpError(414, "request line too long");
      }
      if (lines.length > 0 && headerBytes + partial > limits.maxHeaderBytes) {
        throw new HttpError(431, "header section too large");
      }
      let more;
      try {
        more = await buf.more(deadline, true, "request header timeout");
      } catch (e) {
        if (!(e instanceof ReadInterrupted)) throw e;
        if (buf.bytes.length === 0) return null;
        throw new HttpError(503, "server is stopping");
      }
      if (!more) {
        if (buf.bytes.length === 0) return null;
        throw new HttpError(400, "incomplete request");
      }
      continue;
    }
    // RFC 9112 §2.2: a line ends with CRLF; a bare LF is accepted, a bare CR is not.
    const end = lf > start && buf.bytes[lf - 1] === 0x0d ? lf - 1 : lf;
    const line = latin1(buf.bytes.subarray(start, end));
    if (line.includes("\r")) throw new HttpError(400, "bare CR");
    const lineBytes = lf + 1 - start;
    start = scanned = lf + 1;
    if (lines.length === 0) {
      // RFC 9112 §2.2: empty lines before the request line are ignored (a few).
      if (line === "") {
        if (++empty > MAX_EMPTY_LINES) throw new HttpError(400, "no request line");
        continue;
      }
      if (line.length > limits.maxRequestLineBytes) {
        throw new HttpError(414, "request line too long");
      }
      checkRequestLine(line);
      lines.push(line);
      continue;
    }
    if (line === "") break;
    headerBytes += lineBytes;
    if (headerBytes > limits.maxHeaderBytes) throw new HttpError(431, "header section too large");
    if (lines.length > limits.maxHeaderFields) throw new HttpError(431, "too many header fields");
    lines.push(line);
  }
  const request = parseHead(lines, tls, conn.peer);
  const length = bodyLength(request.headers, limits.maxBodyBytes);
  const bodyDeadline = Date.now() + limits.bodyTimeoutMs;
  while (buf.bytes.length - start < length) {
    if (!await buf.more(bodyDeadline, false, "request body timeout")) {
      throw new HttpError(400, "incomplete body");
    }
  }
  // Whatever follows the body is not read: every response closes the connection.
  request.body = buf.bytes.slice(start, start + length);
  return request;
}

/** Reject a bad request line early, before its header section is waited for. */
function checkRequestLine(line: string): void {
  const m = REQUEST_LINE.exec(line);
  if (!m) throw new HttpError(400, "malformed request line");
  const [, method, , version] = m as unknown as [string, string, string, string];
  if (!TOKEN.test(method)) throw new HttpError(400, "malformed method");
  const v = VERSION.exec(version);
  if (!v) throw new HttpError(400, "malformed HTTP version");
  if (v[1] !== "1") throw new HttpError(505, "only HTTP/1.x is supported");
  if (!METHODS.includes(method)) throw new HttpError(501, `method ${method} not implemented`);
}

function parseHead(lines: string[], tls: boolean, peer: Peer): HttpRequest {
  const [method, target, version] = lines[0]!.split(" ") as [string, string, string];
  const headers = new Headers();
  const hosts: string[] = [];
  for (const line of lines.slice(1)) {
    // RFC 9112 §5.2: obs-fold (a line starting with whitespace) is refused.
    if (line[0] === " " || line[0] === "\t") throw new HttpError(400, "folded header line");
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    // RFC 9112 §5.1: no whitespace between the field name and the colon.
    if (colon <= 0 || !TOKEN.test(name)) throw new HttpError(400, "malformed header field");
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!isFieldValue(value)) throw new HttpError(400, "control character in header");
    if (name.toLowerCase() === "host") hosts.push(value);
    headers.append(name, value);
  }
  const minor = version.endsWith("1.0") ? "1.0" : "1.1";
  // RFC 9112 §3.2: an HTTP/1.1 request has exactly one valid Host; more than one is bad in any.
  if (hosts.length > 1) throw new HttpError(400, "more than one Host");
  if (minor === "1.1" && hosts.length === 0) throw new HttpError(400, "Host is required");
  if (hosts[0] !== undefined && !HOST.test(hosts[0])) throw new HttpError(400, "bad Host");
  let host = hosts[0] ?? null;
  let pathAndQuery = target;
  const absolute = ABSOLUTE_FORM.exec(target);
  if (absolute) {
    // RFC 9112 §3.2.2: the host of an absolute-form target replaces Host.
    if (!HOST.test(absolute[1]!)) throw new HttpError(400, "bad request target");
    host = absolute[1]!;
    pathAndQuery = absolute[2] ?? "/";
    if (pathAndQuery.startsWith("?")) pathAndQuery = "/" + pathAndQuery;
  }
  if (!ORIGIN_FORM.test(pathAndQuery)) throw new HttpError(400, "bad request target");
  const q = pathAndQuery.indexOf("?");
  return {
    method,
    target,
    path: q < 0 ? pathAndQuery : pathAndQuery.slice(0, q),
    query: new URLSearchParams(q < 0 ? "" : pathAndQuery.slice(q + 1)),
    version: minor,
    headers,
    host: host === null ? null : hostName(host),
    body: new Uint8Array(0),
    tls,
    peer,
  };
}

/** The host of a Host value without its port, lower-cased; null when empty. */
function hostName(host: string): string | null {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
  return name === "" ? null : name.toLowerCase();
}

/** RFC 9112 §6.3: the body length, from Content-Length only. */
function bodyLength(headers: Headers, max: number): number {
  // RFC 9112 §6.1: a transfer coding this server does not implement.
  if (headers.has("transfer-encoding")) {
    throw new HttpError(501, "Transfer-Encoding is not supported; send Content-Length");
  }
  const field = headers.get("content-length");
  if (field === null) return 0;
  // RFC 9110 §8.6: a list of identical values may stand for one.
  const values = new Set(field.split(",").map((v) => v.trim()));
  const [value] = values;
  if (values.size !== 1 || !/^\d+$/.test(value!)) throw new HttpError(400, "bad Content-Length");
  const n = value!.length > 15 ? Infinity : Number(value);
  if (n > max) throw new HttpError(413, "request body too large");
  return n;
}
