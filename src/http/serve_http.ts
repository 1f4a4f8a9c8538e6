/**
 * One HTTP connection: read a request, let the router answer it, write the response, close.
 * One request per connection (`Connection: close`, RFC 9112 §9.6), so nothing pipelined after
 * it is ever read. A request that cannot be read is answered with its error status; a handler
 * that throws is a 500. A connection whose TLS handshake agreed on `acme-tls/1` is closed
 * right away (RFC 8737 §3: it only validates the certificate).
 *
 * @module
 */

import type { Connection } from "../listen/connection.ts";
import type { Logger } from "../log/logger.ts";
import { HttpError, readRequest, type RequestLimits } from "./read_request.ts";
import { encodeResponse, type HttpResponse, textResponse } from "./response.ts";
import type { Router } from "./router.ts";

/** The ALPN protocol of tls-alpn-01 validations (RFC 8737 §6.2). */
export const ACME_TLS_ALPN = "acme-tls/1";

/** What {@link serveHttp} needs. */
export interface HttpConnectionOptions {
  router: Router;
  limits: RequestLimits;
  /** How long a write may wait for a client that does not read. */
  writeTimeoutMs: number;
  log: Logger;
}

/** Serve one request on `conn` (see the module documentation), then close it. */
export async function serveHttp(
  conn: Connection,
  tls: boolean,
  o: HttpConnectionOptions,
): Promise<void> {
  if (conn.tls?.alpn === ACME_TLS_ALPN) {
    o.log.info("tls-alpn-01 handshake done", { event: "acme_tls_alpn" });
    conn.close();
    return;
  }
  const started = Date.now();
  let method = "GET";
  let res: HttpResponse;
  let path = "";
  try {
    const req = await readRequest(conn, o.limits, tls);
    if (req === null) return conn.close();
    method = req.method;
    path = req.path;
    try {
      res = await o.router.handle(req);
    } catch (e) {
      o.log.error("handler failed for {path}: {error}", { path, error: String(e) });
      res = textResponse(500, "Internal Server Error");
    }
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    o.log.info("bad request: {status} {reason}", {
      event: "bad_request",
      status: e.status,
      reason: e.message,
    });
    res = textResponse(e.status, e.message);
  }
  let bytes;
  try {
    bytes = encodeResponse(res, method);
  } catch (e) {
    o.log.error("bad response for {path}: {error}", { path, error: String(e) });
    bytes = encodeResponse(textResponse(500, "Internal Server Error"), method);
  }
  await conn.write(bytes, o.writeTimeoutMs);
  if (path) {
    // The query is left out: it may carry an email address.
    o.log.info("{method} {path} {status}", {
      event: "request",
      method,
      path,
      status: res.status,
      ms: Date.now() - started,
    });
  }
  conn.close();
}

/** Refuse service (503, RFC 9110 §15.6.4) before reading anything, and close. */
export async function refuseHttp(
  conn: Connection,
  reason: string,
  writeTimeoutMs: number,
): Promise<void> {
  const res = textResponse(503, `Service Unavailable: ${reason}`, { "Retry-After": "60" });
  await conn.write(encodeResponse(res, "GET"), writeTimeoutMs);
  conn.close();
}
