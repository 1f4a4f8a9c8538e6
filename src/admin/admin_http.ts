/**
 * The HTTP rules of the admin page, apart from what it shows: the security header fields of
 * every answer, JSON answers and errors, the session cookie, and the checks that make a
 * state change come from the page itself (same origin, JSON body, CSRF token).
 *
 * Why these checks suffice against cross-site requests (OWASP's CSRF cheat sheet, RFC 6265bis
 * §8.8 on SameSite): the cookie is `SameSite=Strict`, so another site's request carries no
 * session; a POST must be `application/json`, which no HTML form can send and which a script
 * on another origin can send only after a CORS preflight this server never approves; a
 * browser's `Origin` must be ours; and the token from the login answer must come back in a
 * header, which needs script on our own origin.
 *
 * @module
 */

import type { HttpRequest } from "../http/read_request.ts";
import type { HttpResponse } from "../http/response.ts";
import { sameToken } from "./sessions.ts";

/** The cookie that carries the session id. */
export const SESSION_COOKIE = "postie_session";

/**
 * The Content-Security-Policy of every answer: scripts and styles only from our own files
 * (no inline script, no eval), no frames, no form posts elsewhere, no plugins.
 */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Header fields on every answer of the admin page. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": CSP,
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};

/** A JSON answer. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}) {
  return {
    status,
    contentType: "application/json; charset=utf-8",
    headers: { ...SECURITY_HEADERS, ...headers },
    body: JSON.stringify(value),
  } satisfies HttpResponse;
}

/** A JSON error answer: `{"error": text}`. */
export function jsonError(status: number, text: string, headers: Record<string, string> = {}) {
  return json(status, { error: text }, headers);
}

/** The value of one cookie of the request (RFC 6265 §5.4), if it was sent. */
export function cookie(req: HttpRequest, name: string): string | undefined {
  const header = req.headers.get("cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The Set-Cookie value for a session (or, with `maxAge` 0, the one that removes it). `Secure`
 * always: browsers treat http://127.0.0.1 and http://localhost as secure for cookies, and
 * anything else is HTTPS.
 */
export function sessionCookie(id: string, path: string, maxAge: number): string {
  return `${SESSION_COOKIE}=${id}; Path=${path}; Max-Age=${maxAge}; HttpOnly; Secure; ` +
    "SameSite=Strict";
}

/**
 * Why a state-changing request must be refused, or null when it may go on: not JSON (415),
 * from another origin (403), or without the session's CSRF token when `csrf` is given (403).
 */
export function refuseStateChange(
  req: HttpRequest,
  csrf: string | null,
): HttpResponse | null {
  const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    return jsonError(415, "a request that changes something must be JSON (application/json)");
  }
  const origin = req.headers.get("origin");
  if (origin !== null && !sameOrigin(req, origin)) {
    return jsonError(403, "cross-origin request refused");
  }
  const fetchSite = req.headers.get("sec-fetch-site");
  if (fetchSite !== null && fetchSite !== "same-origin" && fetchSite !== "none") {
    return jsonError(403, "cross-site request refused");
  }
  if (csrf !== null) {
    const sent = req.headers.get("x-csrf-token") ?? "";
    if (!sameToken(sent, csrf)) return jsonError(403, "CSRF token missing or wrong");
  }
  return null;
}

// RFC 6454 §7: the Origin a browser sends is scheme://host[:port] of the page.
function sameOrigin(req: HttpRequest, origin: string): boolean {
  const host = req.headers.get("host");
  if (host === null) return false;
  return origin.toLowerCase() === `${req.tls ? "https" : "http"}://${host.toLowerCase()}`;
}

/** The parsed JSON object of a request body, or null when it is not a JSON object. */
export function jsonBody(req: HttpRequest): Record<string, unknown> | null {
  if (req.body.length === 0) return {};
  try {
    const v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(req.body));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}
