/**
 * The running SMTP server: the listener group of the configured addresses with SMTP's words
 * for refusals (`421 4.7.0`), a session per connection, config reload (SIGHUP) and graceful
 * stop (SIGTERM). Binding, limits, TLS material and the shutdown deadline are the shared
 * listener layer's (`src/listen/`).
 *
 * @module
 */

import type { Config, ListenerKind } from "../config/config.ts";
import { AccountStore } from "../accounts/store.ts";
import { mailboxDir, MaildirStore } from "../delivery/maildir.ts";
import { Spool } from "../delivery/spool.ts";
import { Router } from "../delivery/router.ts";
import { log } from "../log/logger.ts";
import { closingReply } from "../smtp/reply.ts";
import { CertManager } from "../tls/cert_manager.ts";
import { certificateNames } from "../tls/certificate_names.ts";
import { acmeIssuer } from "../acme/acme_issuer.ts";
import { ChallengeStore } from "../acme/challenges.ts";
import { Srs } from "../forward/srs.ts";
import { loadSrsSecrets } from "../forward/srs_secrets.ts";
import { type Alert, Alerter } from "../alerts/alerter.ts";
import { Monitor } from "../alerts/monitor.ts";
import { ReportMailbox } from "../reports/report_mailbox.ts";
import { lockoutAlert, rateLimitAlert } from "../alerts/alert_texts.ts";
import { Session } from "./session.ts";
import { Transport } from "./transport.ts";
import type { Connection } from "../listen/connection.ts";
import {
  type BoundAddress as Bound,
  type ConnectionHandler,
  type ConnectionLimits,
  ListenerGroup,
} from "../listen/listener_group.ts";
import { TlsContext } from "../listen/tls_context.ts";
import { join } from "node:path";
import type { Resolver } from "../dns/resolver.ts";
import { makeResolver } from "../dns/make.ts";
import { AuthGuard } from "../auth/guard.ts";
import { RateLimiter } from "../policy/rate_limit.ts";
import { QueueStore } from "../queue/store.ts";
import { DeliveryWorker } from "../queue/worker.ts";
import { activeSigningKeys, type DkimSigningKey, loadOrCreateDomainKeys } from "../dkim/mod.ts";
import { inCidr } from "../net/cidr.ts";
import { ImapService } from "../imap/server.ts";
import { MailRegistry } from "../imap/store/mod.ts";
import type { HttpListenerKind, ImapListenerKind } from "../config/config.ts";
import { HttpService } from "../http/server.ts";
import { EvaluationLog } from "../reports/evaluation_log.ts";
import { ReportScheduler } from "../reports/report_scheduler.ts";
import { AdminApp } from "../admin/admin_app.ts";
import { AdminService, mountPublicAdmin } from "../admin/admin_service.ts";
import { AdminViews } from "../admin/admin_views.ts";
import { AuditLog } from "../admin/audit_log.ts";
import { EventLog } from "../events/event_log.ts";
import { deliveryStats, sessionStats } from "../events/stats.ts";
import { Metrics } from "../metrics/metrics.ts";
import type { SessionStats } from "./session_options.ts";

/** A bound listener (SMTP or IMAP). */
export type BoundAddress = Bound<ListenerKind | ImapListenerKind | HttpListenerKind>;

interface Snapshot {
  config: Config;
  router: Router;
  /** The SRS rewriter of forwarded mail (`forwarding.srs`). */
  srs?: Srs;
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
  readonly #tls = new TlsContext();
  readonly #challenges = new ChallengeStore();
  #certs: CertManager | null = null;
  readonly #listeners: ListenerGroup<ListenerKind>;
  /** The accounts' mail as IMAP sees it; SMTP delivery wakes its sessions. */
  readonly #registry: MailRegistry;
  #imap: ImapService | null = null;
  #http: HttpService | null = null;
  /** The admin page (listen.admin, and /admin/ on HTTPS with admin.public). */
  #admin: AdminApp | null = null;
  #adminService: AdminService | null = null;
  #alerter: Alerter | null = null;
  /** Reads the DMARC reports that arrive for `reports.address`. */
  #reportMailbox: ReportMailbox | null = null;
  #monitor: Monitor | null = null;
  /** DMARC evaluations of received mail, and the aggregate reports made of them. */
  readonly #dmarcLog: EvaluationLog;
  #reports: ReportScheduler | null = null;
  /** What happened to mail (the admin page's log and charts), and the Prometheus metrics. */
  readonly #events: EventLog;
  readonly #metrics: Metrics;
  readonly #sessionStats: SessionStats;
  readonly #log = log("server");

  private constructor(
    snap: Snapshot,
    accounts: AccountStore,
    queue: QueueStore,
    rates: RateLimiter,
    maildir: MaildirStore,
    spool: Spool,
    dmarcLog: EvaluationLog,
    stats: { events: EventLog; metrics: Metrics },
  ) {
    this.#snap = snap;
    this.#events = stats.events;
    this.#metrics = stats.metrics;
    this.#sessionStats = sessionStats(stats.events, stats.metrics, log("events"));
    this.#dmarcLog = dmarcLog;
    this.#spool = spool;
    // Files another program drops into a Maildir are found within a second; postie's own
    // deliveries wake the sessions at once.
    this.#registry = new MailRegistry(maildir.root, {
      hostname: snap.config.hostname,
      pollMs: 1000,
    });
    maildir.onDelivered = (dir) => {
      void this.#registry.notifyNewMail(dir).catch(() => {});
      if (dir === this.#reportMailbox?.mailbox) this.#reportMailbox.kick();
    };
    this.#accounts = accounts;
    this.#queue = queue;
    this.#rates = rates;
    this.#guard = new AuthGuard(snap.config.auth);
    this.#guard.onAccountLockout = (account, failures, ip) =>
      void this.#alert(lockoutAlert({
        account,
        failures,
        ip,
        windowSeconds: this.#snap.config.auth.failureWindowSeconds,
        configPath: this.#snap.config.source,
      }));
    this.#listeners = new ListenerGroup({
      protocol: (conn, listener) => this.#connection(conn, listener.kind),
      limits: limitsOf(snap.config),
      tls: this.#tls,
      log: this.#log,
    });
    this.#worker = new DeliveryWorker({
      store: queue,
      resolver: snap.resolver,
      config: snap.config,
      router: snap.router,
      maildir,
      log: log("queue"),
      onReply: (kind) => this.#monitor?.noteReply(kind),
      stats: deliveryStats(stats.events, stats.metrics, log("events")),
    });
  }

  /** The event log (received, sent, rejected, delivery results) for the admin page. */
  get events(): EventLog {
    return this.#events;
  }

  /** The Prometheus metrics (`/metrics` on the admin listener). */
  get metrics(): Metrics {
    return this.#metrics;
  }

  /** The alerter (tests look at what it sent). */
  get alerter(): Alerter {
    return this.#alerter!;
  }

  /** The periodic alert checks (tests run them at once). */
  get monitor(): Monitor {
    return this.#monitor!;
  }

  // Raise an alert; an alert that cannot be delivered is logged, never thrown at a session.
  async #alert(a: Alert): Promise<void> {
    try {
      await this.#alerter?.raise(a);
    } catch (e) {
      this.#log.error("alert failed: {error}", { event: "alert_failed", error: String(e) });
    }
  }

  // rate_limits.on_limit: hold the account's queued mail (nothing more leaves, also what is
  // still on its way from the spool into the queue), and alert.
  #rateLimited(account: string, reason: string): void {
    const config = this.#snap.config;
    const hold = config.rateLimits.onLimit === "hold";
    if (hold) this.#queue.hold({ account }, `rate limit: ${reason}`);
    const key = `rate-limit:${account}`;
    const since = this.#alerter?.since(key) ?? new Date();
    void (async () => {
      await this.#spool.idle(); // the count includes what was accepted a moment ago
      const held = hold
        ? this.#queue.list().filter((m) => m.account === account && m.held).length
        : null;
      await this.#alert(rateLimitAlert({
        account,
        reason,
        since,
        usage: this.#rates.usage(account),
        held,
        logins: this.#rates.loginIps(account),
        configPath: config.source,
      }));
    })();
  }

  /** The inbound spool; `spool.idle()` tells when accepted local mail is in the Maildirs. */
  get spool(): Spool {
    return this.#spool;
  }

  /** The DMARC aggregate report scheduler (tests call `sendNow()`). */
  get reports(): ReportScheduler {
    return this.#reports!;
  }

  /** The delivery worker (tests drive it). */
  get worker(): DeliveryWorker {
    return this.#worker;
  }

  static async #snapshot(
    config: Config,
    accounts: AccountStore,
    metrics: Metrics,
  ): Promise<Snapshot> {
    // SRS (forwarding.srs): the secrets are made on first use and read again at reload.
    const srs = config.forwarding.srs
      ? new Srs({ secrets: await loadSrsSecrets(config.dataDir), domain: config.domains[0]! })
      : undefined;
    return {
      config,
      router: new Router(config, accounts, srs),
      ...(srs ? { srs } : {}),
      resolver: await makeResolver(config.dns, { onTemporary: () => metrics.dnsFailures.inc() }),
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
    // Its gauges are read when rendered, once the server below exists.
    const metrics = new Metrics({
      queue: () => queue.counts(),
      imapSessions: () => server.#imap?.sessions ?? 0,
    });
    const snap = await SmtpServer.#snapshot(config, accounts, metrics);
    const queue = await QueueStore.open(config.dataDir);
    // One Maildir writer for the life of the process, like the spool that feeds it.
    const maildir = new MaildirStore(join(config.dataDir, "mail"), config.hostname);
    let kick = () => {};
    const server: SmtpServer = new SmtpServer(
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
      await EvaluationLog.open(config.dataDir),
      { events: await EventLog.open(config.dataDir), metrics },
    );
    kick = () => server.#worker.kick();
    server.#alerter = await Alerter.open(config, {
      router: () => server.#snap.router,
      maildir,
      enqueue: (req) => queue.enqueue(req),
    }, log("alerts"));
    server.#alerter.onRaise = (key) => metrics.alert(key);
    try {
      // The certificate first (stored, configured or self-signed: never waiting for a CA);
      // ACME orders run in the background and swap it into every TLS listener.
      server.#certs = await CertManager.start({
        config,
        tls: server.#tls,
        issuer: (c) => acmeIssuer(c, { challenges: server.#challenges }),
        names: (c) => certificateNames(c, server.#snap.resolver),
        notify: (subject, body) => server.#alert({ key: "certificate", subject, body }),
      });
      for (const kind of ["smtp", "submission", "submissions"] as const) {
        for (const { host, port } of config.listen[kind]) {
          // RFC 8314 §3.3: the submissions listener (465) is TLS from the first byte.
          await server.#listeners.listen({ kind, host, port, implicitTls: kind === "submissions" });
        }
      }
      server.#imap = await ImapService.start({
        config,
        accounts,
        guard: server.#guard,
        tls: server.#tls,
        registry: server.#registry,
        onLogin: (account, ip) => {
          metrics.imapLogins.inc();
          // The rate-limit alert lists the IPs that logged in as the account, by IMAP too.
          server.#rates.recordLogin(account, ip);
        },
      });
      // ACME http-01 answers and client autoconfiguration (listen.http), the same over TLS and
      // tls-alpn-01 (listen.https, RFC 8737).
      if (config.listen.http.length > 0 || config.listen.https.length > 0) {
        server.#http = await HttpService.start({
          listen: { http: config.listen.http, https: config.listen.https },
          hostname: config.hostname,
          domains: config.domains,
          tls: server.#tls,
          challenges: server.#challenges,
          limits: limitsOf(config),
        });
      }
      server.#admin = new AdminApp({
        config: () => server.#snap.config,
        accounts,
        guard: server.#guard,
        queue,
        events: server.events,
        audit: new AuditLog(config.dataDir),
        views: new AdminViews({
          config: () => server.#snap.config,
          resolver: () => server.#snap.resolver,
          accounts,
          queue,
          events: server.events,
          alerts: () => server.#alerter?.list() ?? [],
          certificate: () => ({
            served: server.#certs?.served ?? null,
            acme: server.#snap.config.acme ? server.#certs?.state ?? null : null,
          }),
        }),
        kick: () => server.#worker.kick(),
        log: log("admin"),
      });
      if (config.admin.public && server.#http) mountPublicAdmin(server.#http, server.#admin);
      if (config.listen.admin.length > 0) {
        server.#adminService = await AdminService.start({
          listen: config.listen.admin,
          app: server.#admin,
          metrics: () => server.metrics.render(),
          hostname: () => server.#snap.config.hostname,
          limits: limitsOf(config),
          tls: server.#tls,
        });
      }
    } catch (e) {
      await server.stop();
      throw e;
    }
    server.#worker.start();
    server.#monitor = new Monitor({
      config: () => server.#snap.config,
      resolver: () => server.#snap.resolver,
      alerter: server.#alerter,
      queue,
      log: log("alerts"),
      kick: () => server.#worker.kick(),
    });
    server.#monitor.start();
    const [rLocal, rDomain] = config.reports.address.split("@") as [string, string];
    server.#reportMailbox = new ReportMailbox({
      dataDir: config.dataDir,
      mailbox: mailboxDir(maildir.root, {
        address: config.reports.address,
        local: rLocal,
        domain: rDomain,
      }),
      domains: () => server.#snap.config.domains,
      log: log("reports"),
    });
    server.#reportMailbox.start();
    // RFC 7489 §7.2: aggregate reports go out through the queue, like any other mail.
    server.#reports = ReportScheduler.start({
      config,
      log: server.#dmarcLog,
      resolver: server.#snap.resolver,
      dkimKeys: server.#snap.dkim,
      enqueue: (req) => server.#spool.enqueue(req),
    });
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
    return [
      ...this.#listeners.addresses,
      ...(this.#imap?.addresses ?? []),
      ...(this.#http?.addresses ?? []),
      ...(this.#adminService?.addresses ?? []),
    ];
  }

  /** The certificate manager (what is served, the ACME state). */
  get certificates(): CertManager {
    return this.#certs!;
  }

  /** The pending ACME challenge answers the HTTP listeners serve. */
  get challenges(): ChallengeStore {
    return this.#challenges;
  }

  /** The admin page (its sessions, for tests). */
  get admin(): AdminApp {
    return this.#admin!;
  }

  /** The account store (shared with the CLI on first start). */
  get accounts(): AccountStore {
    return this.#accounts;
  }

  // The SMTP side of one connection: its session id and logger, the 421 refusal, and the
  // session, made with the config of the moment (a reload does not change it).
  #connection(conn: Connection, kind: ListenerKind): ConnectionHandler {
    const snap = this.#snap;
    const { config } = snap;
    const ip = conn.peer.address;
    const transport = new Transport(conn, {
      maxLineBytes: config.limits.maxLineBytes,
      commandTimeoutMs: config.timeouts.commandSeconds * 1000,
      dataTimeoutMs: config.timeouts.dataSeconds * 1000,
      greetingDelayMs: kind === "smtp" ? config.timeouts.greetingDelayMs : 0,
    }, this.#tls);
    const id = newSessionId();
    const slog = log("smtp").with({ session: id, peer: ip, listener: kind });
    return {
      log: slog,
      // RFC 5321 §3.1: a 421 greeting refuses service.
      refuse: (reason) =>
        transport.refuse(closingReply(421, "4.7.0", `${config.hostname} ${reason}, try later`)),
      stop: () => transport.stop(),
      serve: () => {
        const session = new Session({
          id,
          listener: kind,
          config,
          peer: conn.peer,
          router: snap.router,
          sink: this.#spool,
          log: slog,
          tlsAvailable: this.#tls.current !== null,
          // RFC 7208: SPF on the MX listener; submissions are checked by authentication.
          ...(kind === "smtp" ? { resolver: snap.resolver } : {}),
          credentials: this.#accounts,
          authGuard: this.#guard,
          rateLimiter: this.#rates,
          // Durable in the spool before the 250; into the queue right after.
          queue: { enqueue: (req) => this.#spool.enqueue(req) },
          trusted: config.relay.trustedNetworks.some((n) => inCidr(ip, n.network, n.bits)),
          dkimKeys: snap.dkim,
          dmarcLog: this.#dmarcLog,
          ...(snap.srs ? { srs: snap.srs } : {}),
          onRateLimit: (account, reason) => this.#rateLimited(account, reason),
          onLogin: (account, ip) => this.#rates.recordLogin(account, ip),
          stats: this.#sessionStats,
          ...(conn.tls ? { tls: conn.tls } : {}),
        });
        return transport.run(session);
      },
    };
  }

  /**
   * Apply a new config to new connections (sessions in progress keep theirs). Listener
   * addresses are not changed by a reload; that needs a restart, and is logged.
   */
  async reload(config: Config): Promise<void> {
    const old = this.#snap.config;
    const snap = await SmtpServer.#snapshot(config, this.#accounts, this.#metrics);
    // A bad certificate file fails the reload here, before anything has changed.
    await this.#certs?.configure(config);
    this.#snap = snap;
    this.#listeners.configure(limitsOf(config));
    this.#imap?.configure(config);
    this.#http?.configure({
      hostname: config.hostname,
      domains: config.domains,
      limits: limitsOf(config),
    });
    this.#guard.configure(config.auth);
    this.#admin?.configure(config);
    this.#adminService?.configure(limitsOf(config));
    this.#worker.configure(config, this.#snap.resolver, this.#snap.router);
    this.#rates.configure(config.rateLimits);
    this.#alerter?.configure(config);
    this.#reports?.configure(config, snap.resolver, snap.dkim);
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
    const graceMs = this.#snap.config.timeouts.shutdownSeconds * 1000;
    await Promise.all([
      this.#listeners.stop(graceMs),
      this.#imap?.stop(graceMs),
      this.#http?.stop(graceMs),
      this.#adminService?.stop(graceMs),
    ]);
    await this.#certs?.stop();
    await this.#monitor?.stop();
    await this.#reportMailbox?.stop();
    await this.#reports?.stop();
    await this.#registry.closeAll();
    await this.#worker.stop();
    await this.#spool.close(this.#snap.config.timeouts.shutdownSeconds * 1000);
    this.#accounts.close();
    this.#queue.close();
    this.#rates.close();
    this.#alerter?.close();
    this.#dmarcLog.close();
    this.#events.close();
  }
}

function limitsOf(config: Config): ConnectionLimits {
  return {
    maxConnections: config.limits.maxConnections,
    maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
    handshakeTimeoutMs: config.timeouts.commandSeconds * 1000,
  };
}
