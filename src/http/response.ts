/**
 * HTTP responses: what a handler returns, and its bytes on the wire (RFC 9112 §4). Every
 * response carries Content-Length, Content-Type, `X-Content-Type-Options: nosniff`, a Date
 * (RFC 9110 §6.6.1) and `Connection: close` (this server answers one request per connection,
 * RFC 9112 §9.6); it names no server software.
 *
 * @module
 */

import { isFieldValue } from "./read_request.ts";

/** What a handler answers. */
export interface HttpResponse {
  status: number;
  /** Default `text/plain; charset=utf-8`. */
  contentType?: string;
  /** Further header fields (not Content-Length, Content-Type or Connection). */
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const REASONS: Record<number, string> = {
  200: "OK",
  301: "Moved Permanently",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  421: "Misdirected Request",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

const RESERVED = new Set(["content-length", "content-type", "connection", "date"]);

/** A plain-text response. */
export function textResponse(status: number, text: string, headers?: Record<string, string>) {
  return { status, body: text.endsWith("\n") ? text : `${text}\n`, headers } as HttpResponse;
}

/**
 * The bytes of `res` as the answer to a request of `method` (HEAD gets the header section
 * only, RFC 9110 §9.3.2).
 * @throws {TypeError} when a handler gave a header field that could split the response.
 */
export function encodeResponse(res: HttpResponse, method: string, now = new Date()): Uint8Array {
  const body = typeof res.body === "string"
    ? new TextEncoder().encode(res.body)
    : res.body ?? new Uint8Array(0);
  const fields: [string, string][] = [
    ["Date", now.toUTCString()],
    ["Content-Type", res.contentType ?? "text/plain; charset=utf-8"],
    ["Content-Length", String(body.length)],
    ["X-Content-Type-Options", "nosniff"],
    ["Connection", "close"],
  ];
  for (const [name, value] of Object.entries(res.headers ?? {})) {
    if (RESERVED.has(name.toLowerCase())) continue;
    fields.push([name, value]);
  }
  for (const [name, value] of fields) {
    if (!/^[A-Za-z0-9-]+$/.test(name) || !isFieldValue(value)) {
      throw new TypeError(`bad response header field ${JSON.stringify(name)}`);
    }
  }
  const reason = REASONS[res.status] ?? "";
  const head = `HTTP/1.1 ${res.status} ${reason}\r\n` +
    fields.map(([n, v]) => `${n}: ${v}\r\n`).join("") + "\r\n";
  const headBytes = new TextEncoder().encode(head);
  if (method === "HEAD") return headBytes;
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}
