/**
 * The admin listener (`listen.admin`, default 127.0.0.1:8080): plain HTTP on loopback only,
 * reached through an SSH tunnel (`ssh -L 8080:127.0.0.1:8080 server`). It serves the admin
 * page at `/` and the Prometheus metrics at `/metrics` (no login: only this host can reach
 * them). With `admin.public` the page is also mounted under `/admin/` on `listen.https`
 * ({@link mountPublicAdmin}); the metrics are not.
 *
 * Against DNS rebinding (a web page whose name resolves to 127.0.0.1 talking to this port as
 * its own origin), a request must name this listener by an IP literal, `localhost` or
 * postie's hostname in Host (RFC 9110 §7.2), else it gets 421 (RFC 9110 §15.5.20).
 *
 * @module
 */

import type { Connection } from "../listen/connection.ts";
import {
  type BoundAddress,
  type ConnectionHandler,
  type ConnectionLimits,
  ListenerGroup,
} from "../listen/listener_group.ts";
import type { TlsContext } from "../listen/tls_context.ts";
import { log } from "../log/logger.ts";
import { DEFAULT_REQUEST_LIMITS } from "../http/read_request.ts";
import { textResponse } from "../http/response.ts";
import { type HttpHandler, Router } from "../http/router.ts";
import { METRICS_CONTENT_TYPE } from "../metrics/metrics.ts";
import { refuseHttp, serveHttp } from "../http/serve_http.ts";
import type { HttpService } from "../http/server.ts";
import type { AdminApp } from "./admin_app.ts";

/** What the admin listener serves. */
export interface AdminServiceOptions {
  listen: { host: string; port: number }[];
  app: AdminApp;
  /** The Prometheus text of `/metrics`. */
  metrics: () => string;
  /** postie's hostname (allowed in Host). */
  hostname: () => string;
  limits: ConnectionLimits;
  /** Unused (plain HTTP), but the listener layer wants one. */
  tls: TlsContext;
}

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** Whether a Host value names this server rather than some other site. */
export function allowedAdminHost(host: string | null, hostname: string): boolean {
  if (host === null) return false;
  const h = host.toLowerCase();
  return IPV4.test(h) || h.startsWith("[") || h === "localhost" || h === hostname.toLowerCase();
}

/** The admin listener; see the module documentation. */
export class AdminService {
  readonly #listeners: ListenerGroup<"admin">;
  readonly #router = new Router();

  private constructor(o: AdminServiceOptions) {
    this.#listeners = new ListenerGroup({
      protocol: (conn) => this.#connection(conn),
      limits: o.limits,
      tls: o.tls,
      log: log("admin"),
    });
    const guard = (h: HttpHandler): HttpHandler => (req) =>
      allowedAdminHost(req.host, o.hostname())
        ? h(req)
        : textResponse(421, "Misdirected Request: use http://127.0.0.1:<port>/");
    this.#router
      .route({
        path: "/metrics",
        methods: ["GET"],
        handler: guard(() => ({
          status: 200,
          contentType: METRICS_CONTENT_TYPE,
          body: o.metrics(),
        })),
      })
      .route({
        path: "/",
        prefix: true,
        methods: ["GET", "POST"],
        handler: guard((req) => o.app.handle(req, "/")),
      });
  }

  /** Bind every address of `listen.admin`. */
  static async start(o: AdminServiceOptions): Promise<AdminService> {
    const s = new AdminService(o);
    try {
      for (const { host, port } of o.listen) {
        await s.#listeners.listen({ kind: "admin", host, port });
      }
    } catch (e) {
      await s.stop(0);
      throw e;
    }
    return s;
  }

  /** The addresses bound. */
  get addresses(): readonly BoundAddress<"admin">[] {
    return this.#listeners.addresses;
  }

  /** New limits (reload). */
  configure(limits: ConnectionLimits): void {
    this.#listeners.configure(limits);
  }

  /** Stop accepting; cut what is left after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    await this.#listeners.stop(graceMs);
  }

  #connection(conn: Connection): ConnectionHandler {
    const clog = log("admin").with({ peer: conn.peer.address, listener: "admin" });
    return {
      log: clog,
      refuse: (reason) => refuseHttp(conn, reason, 10_000),
      stop: () => conn.interrupt(),
      serve: () =>
        serveHttp(conn, false, {
          router: this.#router,
          limits: DEFAULT_REQUEST_LIMITS,
          writeTimeoutMs: 10_000,
          log: clog,
        }),
    };
  }
}

/** `admin.public`: the page under `/admin/` on the HTTPS listeners (never on plain HTTP). */
export function mountPublicAdmin(http: HttpService, app: AdminApp): void {
  http.route({
    path: "/admin",
    methods: ["GET"],
    scheme: "https",
    handler: () => textResponse(301, "Moved to /admin/", { Location: "/admin/" }),
  });
  http.route({
    path: "/admin/",
    prefix: true,
    methods: ["GET", "POST"],
    scheme: "https",
    handler: (req) => app.handle(req, "/admin/"),
  });
  // On plain HTTP there is no route: the fallback redirects to HTTPS.
}
