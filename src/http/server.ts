/**
 * The HTTP service: plain HTTP (port 80) and HTTPS (443, implicit TLS) listeners on the shared
 * listener layer, answering one request per connection through a {@link Router}:
 *
 * - `GET /.well-known/acme-challenge/<token>`: the http-01 key authorization (RFC 8555 §8.3)
 *   from the {@link ChallengeStore}, on HTTP and HTTPS, for any host.
 * - Thunderbird autoconfig and Microsoft autodiscover (autoconfig.ts, autodiscover.ts).
 * - Anything else: on HTTP a 301 to `https://<hostname><path>` when an HTTPS listener exists,
 *   else 404; on HTTPS 404. Later features add routes with {@link HttpService.route}.
 *
 * On HTTPS the handshake is chosen per ClientHello (RFC 8737 §3): a hello offering
 * `acme-tls/1` for a name with a pending tls-alpn-01 challenge is answered by postie's own
 * TLS 1.3 responder (src/acme/tls_alpn_responder.ts) with that challenge's certificate, and the
 * connection closes after the handshake; every other hello gets the {@link TlsContext}
 * certificate with ALPN `http/1.1` from node:tls. (Deno 2.9.6's TLS, rustls, will not serve a
 * certificate with an unknown critical extension, and RFC 8737 §3 makes acmeIdentifier
 * critical: hence the responder.) Without a certificate (before the first one is issued) only
 * tls-alpn-01 handshakes succeed.
 *
 * A connection over the limits gets a 503 on HTTP; on HTTPS, where no cleartext answer makes
 * sense, it is closed.
 *
 * @module
 */

import type { ChallengeStore } from "../acme/challenges.ts";
import { respondTlsAlpn, type TlsAlpnChallenge } from "../acme/tls_alpn_responder.ts";
import type { Connection } from "../listen/connection.ts";
import {
  type BoundAddress,
  type ConnectionHandler,
  type ConnectionLimits,
  ListenerGroup,
  type TlsSelector,
} from "../listen/listener_group.ts";
import type { TlsContext } from "../listen/tls_context.ts";
import { log } from "../log/logger.ts";
import { AUTOCONFIG_PATHS, autoconfigResponse } from "./autoconfig.ts";
import { AUTODISCOVER_PATH, autodiscoverResponse } from "./autodiscover.ts";
import { DEFAULT_REQUEST_LIMITS, type HttpRequest, type RequestLimits } from "./read_request.ts";
import { type HttpResponse, textResponse } from "./response.ts";
import { type Route, Router } from "./router.ts";
import { ACME_TLS_ALPN, refuseHttp, serveHttp } from "./serve_http.ts";
import type { MailSettings } from "./_mail_settings.ts";

import type { HttpListenerKind } from "../config/config.ts";

/** An address to listen on. */
export interface HttpAddress {
  host: string;
  port: number;
}

/** What the HTTP service is started with (plain values, not the Config). */
export interface HttpServiceOptions {
  listen: { http: HttpAddress[]; https: HttpAddress[] };
  /** postie's hostname: the redirect target and the server mail clients are told about. */
  hostname: string;
  /** The local mail domains; the first is the primary one. */
  domains: string[];
  /** The certificate of HTTPS (read at each handshake). */
  tls: TlsContext;
  challenges: ChallengeStore;
  limits: ConnectionLimits;
  /** The ports autoconfiguration names; default 993, 465 and 587. */
  ports?: Partial<MailSettings["ports"]>;
  /** Request size limits and deadlines; {@link DEFAULT_REQUEST_LIMITS} by default. */
  requestLimits?: Partial<RequestLimits>;
  /** How long a response write may wait for a client that does not read; default 10 s. */
  writeTimeoutMs?: number;
}

/** What a reload may change. */
export type HttpServiceReload = Pick<
  HttpServiceOptions,
  "hostname" | "domains" | "limits" | "ports"
>;

// RFC 8555 §8.1: a token is base64url.
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

function settingsOf(o: HttpServiceReload): MailSettings {
  return {
    hostname: o.hostname,
    domains: [...o.domains],
    ports: { imaps: 993, submissions: 465, submission: 587, ...o.ports },
  };
}

/** The HTTP and HTTPS listeners. Create with {@link HttpService.start}. */
export class HttpService {
  readonly #o: HttpServiceOptions;
  #settings: MailSettings;
  readonly #limits: RequestLimits;
  readonly #router = new Router();
  readonly #listeners: ListenerGroup<HttpListenerKind>;
  readonly #log = log("http");

  private constructor(o: HttpServiceOptions) {
    this.#o = o;
    this.#settings = settingsOf(o);
    this.#limits = { ...DEFAULT_REQUEST_LIMITS, ...o.requestLimits };
    this.#listeners = new ListenerGroup({
      protocol: (conn, listener) => this.#connection(conn, listener.kind),
      limits: o.limits,
      tls: o.tls,
      log: this.#log,
    });
    this.#router
      .route({ path: CHALLENGE_PREFIX, prefix: true, methods: ["GET"], handler: this.#challenge })
      .route({ path: AUTOCONFIG_PATHS[0]!, methods: ["GET"], handler: this.#autoconfig })
      .route({ path: AUTOCONFIG_PATHS[1]!, methods: ["GET"], handler: this.#autoconfig })
      .route({
        path: AUTODISCOVER_PATH,
        ignoreCase: true,
        methods: ["POST"],
        handler: (req) => autodiscoverResponse(this.#settings, req),
      })
      .fallback((req) => this.#elsewhere(req));
  }

  /** Bind every configured address (HTTPS with implicit TLS). */
  static async start(o: HttpServiceOptions): Promise<HttpService> {
    const service = new HttpService(o);
    const selectTls = service.#selectTls;
    try {
      for (const { host, port } of o.listen.http) {
        await service.#listeners.listen({ kind: "http", host, port });
      }
      for (const { host, port } of o.listen.https) {
        await service.#listeners.listen({
          kind: "https",
          host,
          port,
          implicitTls: true,
          selectTls,
        });
      }
    } catch (e) {
      await service.stop(0);
      throw e;
    }
    return service;
  }

  /** The addresses bound. */
  get addresses(): readonly BoundAddress<HttpListenerKind>[] {
    return this.#listeners.addresses;
  }

  /** A reload: new hostname, domains, ports and limits for requests from now on. */
  configure(o: HttpServiceReload): void {
    this.#settings = settingsOf(o);
    this.#listeners.configure(o.limits);
  }

  /** Add a route, matched after the built-in ones (see {@link Router.route}). */
  route(route: Route): void {
    this.#router.route(route);
  }

  /** Stop accepting, close idle connections, cut what is left after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    await this.#listeners.stop(graceMs);
  }

  // RFC 8737 §3: the challenge certificate for an `acme-tls/1` hello naming a pending name.
  #selectTls: TlsSelector = (hello) => {
    if (hello?.serverName !== undefined && hello.alpn.includes(ACME_TLS_ALPN)) {
      const name = hello.serverName;
      const challenge = this.#o.challenges.tlsAlpn(name);
      if (challenge) {
        return { respond: (conn, deadline) => this.#tlsAlpn(conn, name, challenge, deadline) };
      }
    }
    const context = this.#o.tls.current;
    return context ? { context, alpn: ["http/1.1"] } : null;
  };

  // RFC 8737 §3: the validation handshake, and nothing after it.
  async #tlsAlpn(
    conn: Connection,
    name: string,
    challenge: TlsAlpnChallenge,
    deadline: number,
  ): Promise<void> {
    const outcome = await respondTlsAlpn(conn, challenge, deadline);
    const fields = { event: "acme_tls_alpn", name, peer: conn.peer.address };
    if (outcome.ok) this.#log.info("tls-alpn-01 handshake done for {name}", fields);
    else {
      this.#log.info("tls-alpn-01 handshake for {name} failed: {reason}", {
        ...fields,
        reason: outcome.reason,
        alert: outcome.alert,
        fromPeer: outcome.fromPeer ?? false,
      });
    }
  }

  // RFC 8555 §8.3: the key authorization, for any host.
  #challenge = (req: HttpRequest): HttpResponse => {
    const token = req.path.slice(CHALLENGE_PREFIX.length);
    const answer = TOKEN.test(token) ? this.#o.challenges.http(token) : undefined;
    if (answer === undefined) return textResponse(404, "Not Found: no such challenge");
    this.#log.info("http-01 challenge answered for {token}", { event: "acme_http", token });
    return { status: 200, contentType: "application/octet-stream", body: answer };
  };

  #autoconfig = (req: HttpRequest): HttpResponse => autoconfigResponse(this.#settings, req);

  #elsewhere(req: HttpRequest): HttpResponse {
    const https = this.#listeners.addresses.find((a) => a.kind === "https");
    if (req.tls || !https) return textResponse(404, "Not Found");
    const port = https.port === 443 ? "" : `:${https.port}`;
    const rest = req.target.startsWith("/")
      ? req.target
      : req.target.replace(/^https?:\/\/[^/?]*/i, "").replace(/^(?!\/)/, "/");
    const location = `https://${this.#settings.hostname}${port}${rest}`;
    return textResponse(301, `Moved to ${location}`, { Location: location });
  }

  #connection(conn: Connection, kind: HttpListenerKind): ConnectionHandler {
    const id = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(36)).join(
      "",
    );
    const clog = log("http").with({ session: id, peer: conn.peer.address, listener: kind });
    const writeTimeoutMs = this.#o.writeTimeoutMs ?? 10_000;
    return {
      log: clog,
      // On HTTPS the refusal would go out before the handshake, in clear: say nothing.
      refuse: (reason) =>
        kind === "http" ? refuseHttp(conn, reason, writeTimeoutMs) : Promise.resolve(conn.close()),
      stop: () => conn.interrupt(),
      serve: () =>
        serveHttp(conn, kind === "https", {
          router: this.#router,
          limits: this.#limits,
          writeTimeoutMs,
          log: clog,
        }),
    };
  }
}
