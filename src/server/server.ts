/**
 * The running server: listeners for each configured address, connection limits, config
 * reload (SIGHUP) and graceful stop (SIGTERM).
 *
 * @module
 */

import net from "node:net";
import type tls from "node:tls";
import type { Config, ListenerKind } from "../config/config.ts";
import { AccountStore } from "../accounts/store.ts";
import { MaildirStore } from "../delivery/maildir.ts";
import { Spool } from "../delivery/spool.ts";
import { Router } from "../delivery/router.ts";
import { log } from "../log/logger.ts";
import { closingReply } from "../smtp/reply.ts";
import { loadTlsMaterial, secureContext } from "../tls/certificate.ts";
import { Session } from "./session.ts";
import { Transport } from "./transport.ts";
import { join } from "node:path";
import type { Resolver } from "../dns/resolver.ts";
import { makeResolver } from "../dns/make.ts";
import { AuthGuard } from "../auth/guard.ts";
import { RateLimiter } from "../policy/rate_limit.ts";
import { QueueStore } from "../queue/store.ts";
import { DeliveryWorker } from "../queue/worker.ts";
import { activeSigningKeys, type DkimSigningKey, loadOrCreateDomainKeys } from "../dkim/mod.ts";
import { inCidr } from "../net/cidr.ts";

/** A bound listener. */
export interface BoundAddress {
  kind: ListenerKind;
  host: string;
  port: number;
}

interface Snapshot {
  config: Config;
  router: Router;
  tls: tls.SecureContext | null;
  resolver: Resolver;
  /** Active DKIM keys per local domain, created on first start (RFC 6376). */
  dkim: Map<string, DkimSigningKey[]>;
}

function newSessionId(): string {
  const alphabet = "0123456789bcdfghjklmnpqrstvwxyz";
  let s = "";
  for (const b of crypto.getRandomValues(new Uint8Array(10))) s += alphabet[b % alphabet.length];
  return s;
}

/** The SMTP server. Create with {@link SmtpServer.start}. */
export class SmtpServer {
  #snap: Snapshot;
  readonly #accounts: AccountStore;
  readonly #queue: QueueStore;
  readonly #rates: RateLimiter;
  readonly #guard: AuthGuard;
  readonly #worker: DeliveryWorker;
  readonly #spool: Spool;
  readonly #servers: net.Server[] = [];
  readonly #bound: BoundAddress[] = [];
  readonly #conns = new Set<Transport>();
  readonly #perIp = new Map<string, number>();
  readonly #done = new Set<Promise<void>>();
  #stopping = false;
  readonly #log = log("server");

  private constructor(
    snap: Snapshot,
    accounts: AccountStore,
    queue: QueueStore,
    rates: RateLimiter,
    maildir: MaildirStore,
    spool: Spool,
  ) {
    this.#snap = snap;
    this.#spool = spool;
    this.#accounts = accounts;
    this.#queue = queue;
    this.#rates = rates;
    this.#guard = new AuthGuard(snap.config.auth);
    this.#worker = new DeliveryWorker({
      store: queue,
      resolver: snap.resolver,
      config: snap.config,
      router: snap.router,
      maildir,
      log: log("queue"),
    });
  }

  /** The inbound spool; `spool.idle()` tells when accepted local mail is in the Maildirs. */
  get spool(): Spool {
    return this.#spool;
  }

  /** The delivery worker (tests drive it). */
  get worker(): DeliveryWorker {
    return this.#worker;
  }

  static async #snapshot(config: Config, accounts: AccountStore): Promise<Snapshot> {
    const { material } = await loadTlsMaterial(config);
    return {
      config,
      router: new Router(config, accounts),
      tls: secureContext(material),
      resolver: await makeResolver(config.dns),
      dkim: new Map(
        await Promise.all(
          config.domains.map(async (d) =>
            [d, activeSigningKeys(await loadOrCreateDomainKeys(config.dataDir, d))] as [
              string,
              DkimSigningKey[],
            ]
          ),
        ),
      ),
    };
  }

  /** Open the data directory and bind every listener. */
  static async start(config: Config): Promise<SmtpServer> {
    const accounts = await AccountStore.open(config.dataDir);
    const snap = await SmtpServer.#snapshot(config, accounts);
    const queue = await QueueStore.open(config.dataDir);
    // One Maildir writer for the life of the process, like the spool that feeds it.
    const maildir = new MaildirStore(join(config.dataDir, "mail"), config.hostname);
    let kick = () => {};
    const server = new SmtpServer(
      snap,
      accounts,
      queue,
      await RateLimiter.open(config.dataDir, config.rateLimits),
      maildir,
      // One spool for the life of the process (a reload keeps it): accepted mail goes through
      // it into the Maildirs and the outbound queue, and it replays what a crash interrupted.
      await Spool.open(config.dataDir, maildir, log("spool"), {
        queue: {
          has: (id) => queue.has(id),
          enqueue: (req) => queue.enqueue(req),
          kick: () => kick(),
        },
      }),
    );
    kick = () => server.#worker.kick();
    try {
      for (const kind of ["smtp", "submission", "submissions"] as const) {
        for (const addr of config.listen[kind]) await server.#listen(kind, addr.host, addr.port);
      }
    } catch (e) {
      await server.stop();
      throw e;
    }
    server.#worker.start();
    const missing = server.#snap.router.missingPostmasters();
    if (missing.length > 0) {
      server.#log.warning(
        "postmaster@{domains} reaches no mailbox; add an alias (RFC 5321 4.5.1 requires it)",
        { event: "config_warning", domains: missing.join(", postmaster@") },
      );
    }
    return server;
  }

  /** The addresses actually bound (port 0 in the config becomes the real port). */
  get addresses(): readonly BoundAddress[] {
    return this.#bound;
  }

  /** The account store (shared with the CLI on first start). */
  get accounts(): AccountStore {
    return this.#accounts;
  }

  #listen(kind: ListenerKind, host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const srv = net.createServer(
        { pauseOnConnect: false },
        (socket) => this.#accept(kind, socket),
      );
      srv.once("error", reject);
      // ipv6Only so that "0.0.0.0:25" and "[::]:25" can both be bound.
      srv.listen({ host, port, ipv6Only: host.includes(":") }, () => {
        srv.off("error", reject);
        srv.on("error", (e) => this.#log.error("listener error: {error}", { error: String(e) }));
        const a = srv.address() as net.AddressInfo;
        this.#bound.push({ kind, host: a.address, port: a.port });
        this.#servers.push(srv);
        this.#log.info("listening for {kind} on {host} port {port}", {
          event: "listen",
          kind,
          host: a.address,
          port: a.port,
        });
        resolve();
      });
    });
  }

  #accept(kind: ListenerKind, socket: net.Socket): void {
    const snap = this.#snap;
    const { config } = snap;
    const ip = (socket.remoteAddress ?? "unknown").replace(/^::ffff:/, "");
    const port = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    socket.on("error", () => {});
    const transport = new Transport(socket, {
      maxLineBytes: config.limits.maxLineBytes,
      commandTimeoutMs: config.timeouts.commandSeconds * 1000,
      dataTimeoutMs: config.timeouts.dataSeconds * 1000,
      greetingDelayMs: kind === "smtp" ? config.timeouts.greetingDelayMs : 0,
    }, () => snap.tls);
    const id = newSessionId();
    const slog = log("smtp").with({ session: id, peer: ip, listener: kind });
    const perIp = this.#perIp.get(ip) ?? 0;
    let refusal: string | undefined;
    if (this.#stopping) refusal = "server is stopping";
    else if (this.#conns.size >= config.limits.maxConnections) refusal = "too many connections";
    else if (perIp >= config.limits.maxConnectionsPerIp) {
      refusal = "too many connections from your address";
    }
    if (refusal) {
      slog.info("connection refused: {reason}", { event: "refused", reason: refusal });
      // RFC 5321 §3.1: a 421 greeting refuses service.
      const p = transport.refuse(
        closingReply(421, "4.7.0", `${config.hostname} ${refusal}, try later`),
      );
      this.#track(p);
      return;
    }
    this.#conns.add(transport);
    this.#perIp.set(ip, perIp + 1);
    slog.info("connect from {peer} port {port}", { event: "connect", port });
    const started = Date.now();
    const p = (async () => {
      let tlsInfo;
      if (kind === "submissions" && snap.tls) {
        // RFC 8314 §3.3: implicit TLS, the handshake comes first.
        tlsInfo = await transport.startTls(snap.tls);
        if (!tlsInfo) {
          slog.info("TLS handshake failed", { event: "tls_failed" });
          transport.destroy();
          return;
        }
      }
      const session = new Session({
        id,
        listener: kind,
        config,
        peer: { address: ip, port },
        router: snap.router,
        sink: this.#spool,
        log: slog,
        tlsAvailable: snap.tls !== null,
        // RFC 7208: SPF on the MX listener; submissions are checked by authentication.
        ...(kind === "smtp" ? { resolver: snap.resolver } : {}),
        credentials: this.#accounts,
        authGuard: this.#guard,
        rateLimiter: this.#rates,
        // Durable in the spool before the 250; into the queue right after.
        queue: { enqueue: (req) => this.#spool.enqueue(req) },
        trusted: config.relay.trustedNetworks.some((n) => inCidr(ip, n.network, n.bits)),
        dkimKeys: snap.dkim,
        ...(tlsInfo ? { tls: tlsInfo } : {}),
      });
      await transport.run(session);
    })().catch((e) => {
      slog.error("connection failed: {error}", { event: "error", error: String(e) });
    }).finally(() => {
      this.#conns.delete(transport);
      const n = (this.#perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, n);
      slog.info("disconnect after {ms} ms", { event: "disconnect", ms: Date.now() - started });
    });
    this.#track(p);
  }

  #track(p: Promise<void>): void {
    this.#done.add(p);
    p.finally(() => this.#done.delete(p));
  }

  /**
   * Apply a new config to new connections (sessions in progress keep theirs). Listener
   * addresses are not changed by a reload; that needs a restart, and is logged.
   */
  async reload(config: Config): Promise<void> {
    const old = this.#snap.config;
    this.#snap = await SmtpServer.#snapshot(config, this.#accounts);
    this.#guard.configure(config.auth);
    this.#worker.configure(config, this.#snap.resolver, this.#snap.router);
    this.#rates.configure(config.rateLimits);
    if (JSON.stringify(old.listen) !== JSON.stringify(config.listen)) {
      this.#log.warning("listen addresses changed; restart postie to apply them", {
        event: "reload",
      });
    }
    this.#log.info("configuration reloaded from {source}", {
      event: "reload",
      source: config.source,
    });
  }

  /**
   * Stop: close the listeners, tell idle sessions 421, let sessions inside DATA finish, and
   * after `timeouts.shutdown_seconds` cut what is left (nothing unacknowledged is lost: the
   * client will retry what it did not get a 250 for).
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    // net.Server.close() only calls back once every connection has ended, so the sessions
    // are told to stop before that is awaited.
    const closed = Promise.all(this.#servers.map((s) => new Promise((r) => s.close(r))));
    for (const c of this.#conns) c.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#snap.config.timeouts.shutdownSeconds * 1000);
    });
    await Promise.race([Promise.all([...this.#done]), grace]);
    clearTimeout(timer);
    for (const c of this.#conns) c.destroy();
    await Promise.all([...this.#done]);
    await closed;
    await this.#worker.stop();
    await this.#spool.close(this.#snap.config.timeouts.shutdownSeconds * 1000);
    this.#accounts.close();
    this.#queue.close();
    this.#rates.close();
  }
}
