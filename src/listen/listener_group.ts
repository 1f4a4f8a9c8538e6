/**
 * The listeners of one protocol: binds its addresses (plain, or implicit TLS where the
 * handshake comes before any protocol byte), admits connections within the total and per-IP
 * limits, hands each one to the protocol, and stops gracefully. What is said to a refused or
 * stopping client is the protocol's business (SMTP `421 4.7.0`, IMAP `* BYE`), through the
 * {@link ConnectionHandler} the protocol makes for each connection; the counting, the
 * lifecycle log lines (`refused`, `connect`, `tls_failed`, `disconnect`) and the shutdown
 * deadline are the same for all.
 *
 * @module
 */

import net from "node:net";
import type tls from "node:tls";
import type { Logger } from "../log/logger.ts";
import { type ClientHelloInfo, peekClientHello } from "./client_hello.ts";
import { Connection } from "./connection.ts";
import type { TlsContext } from "./tls_context.ts";

/** An address to bind. */
export interface ListenAddress<K extends string> {
  /** What the protocol calls this listener ("smtp", "imaps", ...). */
  kind: K;
  host: string;
  /** 0 picks a free port; see {@link ListenerGroup.addresses}. */
  port: number;
  /** Handshake TLS before handing the connection over (e.g. RFC 8314 §3: ports 465, 993). */
  implicitTls?: boolean;
  /**
   * With implicit TLS: choose the handshake per connection from its ClientHello (null when the
   * first record is not a complete ClientHello), instead of always using the group's context.
   */
  selectTls?: TlsSelector;
}

/**
 * The handshake a {@link TlsSelector} chose: node:tls with a context, or `respond`, which
 * takes the connection over entirely (its ClientHello is unread, ready to be read again) and
 * closes it; the protocol's `serve` is then not called (the tls-alpn-01 responder).
 */
export type TlsChoice =
  | {
    context: tls.SecureContext;
    /** The ALPN protocols to offer (RFC 7301 §3.2). */
    alpn?: string[];
  }
  | { respond: (conn: Connection, deadline: number) => Promise<void> };

/** Chooses the handshake of one connection; null drops the connection (no TLS to offer). */
export type TlsSelector = (hello: ClientHelloInfo | null) => TlsChoice | null;

/** A bound listener (port 0 in the config becomes the real port). */
export interface BoundAddress<K extends string> {
  kind: K;
  host: string;
  port: number;
}

/** Limits on admission; may change at reload through {@link ListenerGroup.configure}. */
export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** How long an implicit-TLS handshake may take. */
  handshakeTimeoutMs: number;
}

/** Why a connection is refused; also the words for the client and the log. */
export type RefusalReason =
  | "server is stopping"
  | "too many connections"
  | "too many connections from your address";

/** What a protocol does with one accepted connection. */
export interface ConnectionHandler {
  /** The connection's logger (it should carry the peer and a session id). */
  readonly log: Logger;
  /**
   * Say why service is refused, in the protocol's words, and close. This comes before any
   * handshake, so on an implicit-TLS listener the words go out in clear text.
   */
  refuse(reason: RefusalReason): Promise<void>;
  /** Serve the connection until it ends (`conn.tls` is set on an implicit-TLS listener). */
  serve(): Promise<void>;
  /**
   * The server is stopping: close politely (an idle client is told so now; work in flight
   * may finish). What is still open at the deadline is destroyed.
   */
  stop(): void;
}

/** Makes the handler of one connection; called for every accepted socket, refused or not. */
export type Protocol<K extends string> = (
  conn: Connection,
  listener: BoundAddress<K>,
) => ConnectionHandler;

/** What a {@link ListenerGroup} is made of. */
export interface ListenerGroupOptions<K extends string> {
  protocol: Protocol<K>;
  limits: ConnectionLimits;
  /** The context for implicit-TLS handshakes, read at each handshake. */
  tls: TlsContext;
  /** For the listener lines (`listen`, listener errors). */
  log: Logger;
}

/** Cleartext (false), the group's context (true), or a context chosen per handshake. */
type TlsMode = boolean | TlsSelector;

interface Live {
  conn: Connection;
  handler: ConnectionHandler;
}

/** Listeners, limits and connection tracking for one protocol; see the module documentation. */
export class ListenerGroup<K extends string> {
  readonly #protocol: Protocol<K>;
  readonly #tls: TlsContext;
  readonly #log: Logger;
  #limits: ConnectionLimits;
  readonly #servers: net.Server[] = [];
  readonly #bound: BoundAddress<K>[] = [];
  readonly #live = new Set<Live>();
  readonly #perIp = new Map<string, number>();
  readonly #done = new Set<Promise<void>>();
  #stopping = false;

  /** A group with nothing bound yet; see {@link listen}. */
  constructor(options: ListenerGroupOptions<K>) {
    this.#protocol = options.protocol;
    this.#limits = options.limits;
    this.#tls = options.tls;
    this.#log = options.log;
  }

  /** The addresses bound so far, in the order they were bound. */
  get addresses(): readonly BoundAddress<K>[] {
    return this.#bound;
  }

  /** How many connections are being served (refused ones are not counted). */
  get size(): number {
    return this.#live.size;
  }

  /** New limits for connections accepted from now on. */
  configure(limits: ConnectionLimits): void {
    this.#limits = limits;
  }

  /** Bind one address. @throws when it cannot be bound (in use, no permission). */
  listen(address: ListenAddress<K>): Promise<BoundAddress<K>> {
    const { kind, host, port } = address;
    const implicitTls = address.implicitTls ?? false;
    const tlsMode = implicitTls ? address.selectTls ?? true : false;
    let bound: BoundAddress<K> = { kind, host, port };
    return new Promise((resolve, reject) => {
      const srv = net.createServer(
        { pauseOnConnect: false },
        (socket) => this.#accept(bound, tlsMode, socket),
      );
      srv.once("error", reject);
      // ipv6Only so that "0.0.0.0:25" and "[::]:25" can both be bound.
      srv.listen({ host, port, ipv6Only: host.includes(":") }, () => {
        srv.off("error", reject);
        srv.on("error", (e) => this.#log.error("listener error: {error}", { error: String(e) }));
        const a = srv.address() as net.AddressInfo;
        bound = { kind, host: a.address, port: a.port };
        this.#bound.push(bound);
        this.#servers.push(srv);
        this.#log.info("listening for {kind} on {host} port {port}", {
          event: "listen",
          kind,
          host: a.address,
          port: a.port,
        });
        resolve(bound);
      });
    });
  }

  #refusal(ip: string): RefusalReason | undefined {
    if (this.#stopping) return "server is stopping";
    if (this.#live.size >= this.#limits.maxConnections) return "too many connections";
    if ((this.#perIp.get(ip) ?? 0) >= this.#limits.maxConnectionsPerIp) {
      return "too many connections from your address";
    }
    return undefined;
  }

  #accept(listener: BoundAddress<K>, implicitTls: TlsMode, socket: net.Socket): void {
    const ip = (socket.remoteAddress ?? "unknown").replace(/^::ffff:/, "");
    const port = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    socket.on("error", () => {});
    const conn = new Connection(socket, { address: ip, port });
    const handler = this.#protocol(conn, listener);
    const refusal = this.#refusal(ip);
    if (refusal) {
      handler.log.info("connection refused: {reason}", { event: "refused", reason: refusal });
      this.#track(handler.refuse(refusal).catch(() => conn.destroy()));
      return;
    }
    const live = { conn, handler };
    this.#live.add(live);
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    handler.log.info("connect from {peer} port {port}", { event: "connect", peer: ip, port });
    const started = Date.now();
    const p = this.#serve(live, implicitTls).catch((e) => {
      handler.log.error("connection failed: {error}", { event: "error", error: String(e) });
    }).finally(() => {
      this.#live.delete(live);
      const n = (this.#perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, n);
      handler.log.info("disconnect after {ms} ms", {
        event: "disconnect",
        ms: Date.now() - started,
      });
    });
    this.#track(p);
  }

  async #serve({ conn, handler }: Live, implicitTls: TlsMode): Promise<void> {
    if (typeof implicitTls === "function") {
      if (!await this.#selectedTls(conn, handler, implicitTls)) return;
      return await handler.serve();
    }
    const ctx = this.#tls.current;
    // Without a context an implicit-TLS listener serves in the clear, as it always has here.
    if (implicitTls && ctx) {
      // RFC 8314 §3.3: with implicit TLS the handshake comes first.
      if (!await conn.startTls(ctx, this.#limits.handshakeTimeoutMs)) {
        handler.log.info("TLS handshake failed", { event: "tls_failed" });
        conn.destroy();
        return;
      }
    }
    await handler.serve();
  }

  /** Peek at the ClientHello, let `select` choose, handshake; false when the peer is gone. */
  async #selectedTls(
    conn: Connection,
    handler: ConnectionHandler,
    select: TlsSelector,
  ): Promise<boolean> {
    const deadline = Date.now() + this.#limits.handshakeTimeoutMs;
    const choice = select(await peekClientHello(conn, deadline));
    if (choice && "respond" in choice) {
      await choice.respond(conn, deadline);
      conn.close();
      return false;
    }
    const left = deadline - Date.now();
    if (choice && left > 0) {
      const options = { alpn: choice.alpn, replayBuffered: true };
      if (await conn.startTls(choice.context, left, options)) return true;
    }
    handler.log.info("TLS handshake failed", { event: "tls_failed" });
    conn.destroy();
    return false;
  }

  #track(p: Promise<void>): void {
    this.#done.add(p);
    p.finally(() => this.#done.delete(p));
  }

  /**
   * Stop: close the listeners (newcomers in the backlog are refused "server is stopping"), ask
   * every connection to stop politely, wait for them for at most `graceMs`, then destroy
   * what is left. Resolves when every connection is gone and every listener is closed.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    // net.Server.close() only calls back once every connection has ended, so the connections
    // are told to stop before that is awaited.
    const closed = Promise.all(this.#servers.map((s) => new Promise((r) => s.close(r))));
    for (const c of this.#live) c.handler.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all([...this.#done]), grace]);
    clearTimeout(timer);
    for (const c of this.#live) c.conn.destroy();
    await Promise.all([...this.#done]);
    await closed;
  }
}
