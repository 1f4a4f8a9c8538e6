/**
 * Which handler answers a request: routes matched in the order they were added, by path
 * (exact or prefix, optionally case-insensitive), scheme and host, then by method (a path
 * that matches with the wrong method is 405 with Allow, RFC 9110 §15.5.6). A request no route
 * matches goes to the fallback (404 unless set).
 *
 * Later features (the MTA-STS policy, an admin page) add their own routes.
 *
 * @module
 */

import type { HttpRequest } from "./read_request.ts";
import { type HttpResponse, textResponse } from "./response.ts";

/** Answers a request. */
export type HttpHandler = (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;

/** One route; see the module documentation. */
export interface Route {
  /** The path to match, e.g. "/mail/config-v1.1.xml". */
  path: string;
  /** Match every path that starts with {@link path}. */
  prefix?: boolean;
  /** Compare paths case-insensitively. */
  ignoreCase?: boolean;
  /** Allowed methods; GET allows HEAD too. */
  methods: readonly ("GET" | "POST")[];
  /** Only over plain HTTP or only over HTTPS; both when absent. */
  scheme?: "http" | "https";
  /** Only for requests whose host passes (the host is lower-cased, without port, or null). */
  host?: (host: string | null) => boolean;
  handler: HttpHandler;
}

/** The routes of one HTTP service; see the module documentation. */
export class Router {
  readonly #routes: Route[] = [];
  #fallback: HttpHandler = () => textResponse(404, "Not Found");

  /** Add a route, matched after the ones added before. */
  route(route: Route): this {
    this.#routes.push(route);
    return this;
  }

  /** Answer requests no route matches with `handler` (instead of 404). */
  fallback(handler: HttpHandler): this {
    this.#fallback = handler;
    return this;
  }

  /** The response to `req`. Handler errors propagate. */
  async handle(req: HttpRequest): Promise<HttpResponse> {
    const allowed = new Set<string>();
    for (const r of this.#routes) {
      if (!matches(r, req)) continue;
      const methods: readonly string[] = r.methods.includes("GET")
        ? [...r.methods, "HEAD"]
        : r.methods;
      if (methods.includes(req.method)) return await r.handler(req);
      for (const m of methods) allowed.add(m);
    }
    if (allowed.size > 0) {
      return textResponse(405, "Method Not Allowed", { Allow: [...allowed].join(", ") });
    }
    return await this.#fallback(req);
  }
}

function matches(r: Route, req: HttpRequest): boolean {
  if (r.scheme && (r.scheme === "https") !== req.tls) return false;
  if (r.host && !r.host(req.host)) return false;
  const [path, want] = r.ignoreCase
    ? [req.path.toLowerCase(), r.path.toLowerCase()]
    : [req.path, r.path];
  return r.prefix ? path.startsWith(want) : path === want;
}
