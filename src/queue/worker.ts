/**
 * The delivery worker: takes due recipients from the queue, groups them by message and
 * destination domain into one SMTP transaction each, routes them (smarthost, per-domain
 * route, or MX per RFC 5321 §5.1), delivers with the SMTP client, and records each
 * recipient's outcome in one transaction:
 *
 * - 2xx: delivered;
 * - 5xx, or a permanent routing answer (NXDOMAIN, null MX): failed, and the sender gets a DSN;
 * - 4xx, connection/TLS trouble, DNS temporary failure: retried after an exponential backoff
 *   (`queue.retry_initial`, doubling, at most `queue.retry_max`, with jitter), until
 *   `queue.max_age`, then failed (4.4.7) with a DSN.
 *
 * Crash window: a recipient is marked delivered only after the remote 250. A crash between
 * that 250 and our commit sends it again after restart (at least once, RFC 5321 §6.1); every
 * other crash loses nothing and duplicates nothing.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import type { Config, Relay } from "../config/config.ts";
import type { Resolver } from "../dns/resolver.ts";
import type { Router } from "../delivery/router.ts";
import type { MaildirStore } from "../delivery/maildir.ts";
import { parseMailbox } from "../smtp/address.ts";
import { type Hop, hostAddresses, resolveDestination } from "../client/route.ts";
import type { ClientOptions } from "../client/client_options.ts";
import { ConnectionCache } from "../client/connection_cache.ts";
import type { deliverMessage } from "../client/deliver_message.ts";
import type { DeliveryResult } from "../client/delivery_result.ts";
import { buildDsn } from "./dsn.ts";
import type { DsnRecipient } from "./dsn_recipient.ts";
import { headerSection } from "./header_section.ts";
import type { DueRecipient, NoticeRecipient, RecipientUpdate } from "./recipient_states.ts";
import type { QueueStore } from "./store.ts";

/** Everything the worker needs. */
export interface WorkerOptions {
  store: QueueStore;
  resolver: Resolver;
  config: Config;
  router: Router;
  maildir: MaildirStore;
  log: Logger;
  /**
   * The SMTP client; tests may replace it. By default a {@link ConnectionCache}, so that
   * messages for the same server share connections.
   */
  deliver?: typeof deliverMessage;
  now?: () => Date;
  random?: () => number;
  /** How often to look for due mail when not kicked, ms. Default 1000. */
  intervalMs?: number;
  /**
   * What a receiving server answered (per recipient, or to the whole transaction): counted for
   * the alert when receivers refuse our mail (`alerts.bounce_share`).
   */
  onReply?: (kind: "ok" | "temporary" | "permanent") => void;
  /** Where each attempt's outcome is reported, for the event log and the metrics. */
  stats?: DeliveryStats;
}

/** One recipient's outcome of one delivery attempt, as the statistics see it. */
export interface DeliveryAttempt {
  /** "deferred": queued for another attempt; "bounced": failed for good (a DSN follows). */
  result: "delivered" | "deferred" | "bounced";
  to: string;
  from: string;
  /** The account that submitted the message, if one did. */
  account?: string;
  queueId: string;
  /** The remote server's reply, or why no server took the message. */
  detail: string;
}

/** Where the worker reports what it did (src/events/stats.ts); an implementation must not throw. */
export interface DeliveryStats {
  attempt(a: DeliveryAttempt): void;
  /** A delivery reached a server (its transaction ran): whether it was over TLS. */
  connection(tls: boolean): void;
}

interface Group {
  messageId: string;
  domain: string;
  recipients: DueRecipient[];
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** Retry delay after `attempts` attempts: initial * 2^(attempts-1), capped, ±10 % jitter. */
export function backoff(config: Config["queue"], attempts: number, random: () => number): number {
  const base = Math.min(config.retryMaxMs, config.retryInitialMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.9 + 0.2 * random()));
}

/** Delivers queued mail. Create one per server; start() it, stop() on shutdown. */
export class DeliveryWorker {
  #o: WorkerOptions;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #perDomain = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #ticking: Promise<void> | null = null;
  #again = false;
  /** A scan is scheduled for the next turn of the event loop. */
  #soon = false;
  readonly #passwords = new Map<string, string>();
  readonly #connections = new ConnectionCache();
  /** When notices (DSNs, delay warnings) and finished messages were last looked for (ms). */
  #lastSweep = -Infinity;
  /** A recipient failed since then: its DSN should not wait for the next periodic sweep. */
  #sweepDue = false;

  constructor(options: WorkerOptions) {
    this.#o = options;
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  /** Use a new config (reload). */
  configure(config: Config, resolver: Resolver, router: Router): void {
    this.#o = { ...this.#o, config, resolver, router };
    this.#passwords.clear();
  }

  /** Start the periodic scan. */
  start(): void {
    this.#running = true;
    this.kick();
  }

  /**
   * Scan soon (after an enqueue or a finished delivery). Kicks in the same turn of the event
   * loop share one scan: under load they come once per message, and a scan reads the queue.
   */
  kick(): void {
    if (!this.#running) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    if (this.#soon) return;
    this.#soon = true;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#soon = false;
      this.#scan();
    }, 0);
  }

  #scan(): void {
    if (!this.#running) return;
    this.#ticking = this.tick().catch((e) => {
      this.#o.log.error("queue scan failed: {error}", { event: "queue_error", error: String(e) });
    }).finally(() => {
      this.#ticking = null;
      if (!this.#running) return;
      if (this.#again) {
        this.#again = false;
        this.kick();
      } else {
        this.#timer = setTimeout(() => this.kick(), this.#o.intervalMs ?? 1000);
      }
    });
  }

  /** Stop scanning, wait for deliveries in progress, and QUIT cached connections. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#soon = false;
    clearTimeout(this.#timer);
    await this.#ticking;
    await Promise.all([...this.#inFlight.values()]);
    await this.#connections.close();
  }

  /** Wait until nothing is in flight (tests). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0 || this.#ticking || this.#soon) {
      const soon = this.#soon ? new Promise((r) => setTimeout(r, 1)) : null;
      await Promise.all([...this.#inFlight.values(), this.#ticking, soon]);
    }
  }

  /** One scheduling pass: launch due groups within the limits, then send notices. */
  async tick(): Promise<void> {
    const { store, config } = this.#o;
    const now = this.#now();
    const groups = new Map<string, Group>();
    for (const r of store.due(now)) {
      const domain = domainOf(r.address);
      const key = `${r.messageId} ${domain}`;
      let g = groups.get(key);
      if (!g) groups.set(key, g = { messageId: r.messageId, domain, recipients: [] });
      g.recipients.push(r);
    }
    for (const [key, g] of groups) {
      if (this.#inFlight.has(key)) continue;
      if (this.#inFlight.size >= config.queue.concurrency) break;
      const n = this.#perDomain.get(g.domain) ?? 0;
      if (n >= config.queue.perDomainConcurrency) continue;
      this.#perDomain.set(g.domain, n + 1);
      const p = this.#deliverGroup(g).catch((e) => {
        this.#o.log.error("delivery of {id} failed: {error}", {
          event: "delivery_error",
          id: g.messageId,
          error: String(e),
        });
      }).finally(() => {
        this.#inFlight.delete(key);
        const left = (this.#perDomain.get(g.domain) ?? 1) - 1;
        if (left <= 0) this.#perDomain.delete(g.domain);
        else this.#perDomain.set(g.domain, left);
        this.kick();
      });
      this.#inFlight.set(key, p);
    }
    // Kicks come after every enqueue and every delivery; the scans below read the whole
    // queue, so they run at the scan interval, or at once when a recipient failed.
    const interval = this.#o.intervalMs ?? 1000;
    if (this.#sweepDue || performance.now() - this.#lastSweep >= interval) {
      this.#sweepDue = false;
      this.#lastSweep = performance.now();
      await this.#sendNotices(now);
      await store.removeFinished();
    }
  }

  #relayFor(domain: string): Relay | undefined {
    const { outbound } = this.#o.config;
    return outbound.routes.get(domain) ?? outbound.smarthost;
  }

  async #password(relay: Relay): Promise<string> {
    const file = relay.passwordFile!;
    let pw = this.#passwords.get(file);
    if (pw === undefined) {
      pw = (await Deno.readTextFile(file)).replace(/\r?\n$/, "");
      this.#passwords.set(file, pw);
    }
    return pw;
  }

  async #deliverGroup(g: Group): Promise<void> {
    const { config, log } = this.#o;
    const now = this.#now();
    const created = g.recipients[0]!.created;
    const sender = g.recipients[0]!.sender;
    const updates: RecipientUpdate[] = [];
    const finish = (
      status: RecipientUpdate["status"],
      fields: Partial<RecipientUpdate>,
      which = g.recipients,
    ) => {
      for (const r of which) {
        const u: RecipientUpdate = {
          messageId: g.messageId,
          seq: r.seq,
          status,
          attempted: true,
          ...fields,
        };
        if (status === "queued") {
          u.nextAttempt = new Date(
            now.getTime() + backoff(config.queue, r.attempts + 1, this.#o.random ?? Math.random),
          );
          // RFC 5321 §4.5.4.1: give up after the configured time.
          if (now.getTime() - created.getTime() >= config.queue.maxAgeMs) {
            u.status = "failed";
            u.statusCode = "4.4.7";
            u.lastError = `gave up after ${Math.round(config.queue.maxAgeMs / 3600_000)} hours: ` +
              (fields.lastError ?? "temporary failures");
            delete u.nextAttempt;
          }
        }
        updates.push(u);
      }
    };

    let content: Uint8Array;
    try {
      content = await this.#o.store.readBody(g.messageId);
    } catch (e) {
      log.error("queue file of {id} is missing: {error}", {
        event: "queue_error",
        id: g.messageId,
        error: String(e),
      });
      finish("failed", { lastError: "message file lost in the queue", statusCode: "5.3.0" });
      await this.#settle(updates, g);
      return;
    }

    // Where to go: a configured relay, or the domain's MX hosts.
    const relay = this.#relayFor(g.domain);
    let hops: Hop[];
    let port = config.outbound.port;
    if (relay) {
      // A configured relay: its own addresses, no MX lookup.
      port = relay.port;
      const a = await hostAddresses(this.#o.resolver, relay.host);
      if (a.kind !== "ok") {
        finish("queued", { lastError: `relay ${relay.host}: no address`, statusCode: "4.4.3" });
        await this.#settle(updates, g);
        return;
      }
      hops = [{ name: relay.host, addresses: a.addresses }];
    } else {
      const dest = await resolveDestination(this.#o.resolver, g.domain, this.#o.random);
      if (dest.kind === "permanent") {
        finish("failed", { lastError: dest.reason, statusCode: dest.status });
        await this.#settle(updates, g);
        this.#logResult(g, "bounced", dest.reason);
        return;
      }
      if (dest.kind === "temporary") {
        finish("queued", { lastError: dest.reason, statusCode: "4.4.3" });
        await this.#settle(updates, g);
        this.#logResult(g, "deferred", dest.reason);
        return;
      }
      hops = dest.hops;
    }

    const to = g.recipients.map((r) => r.address);
    const env = {
      from: sender,
      to,
      size: content.length,
      smtputf8: NON_ASCII.test(sender) || to.some((a) => NON_ASCII.test(a)),
      eightBit: content.some((b) => b >= 0x80),
    };
    const deliver = this.#o.deliver ??
      ((o: ClientOptions, e: typeof env, c: readonly Uint8Array[]) =>
        this.#connections.deliver(o, e, c));
    let lastError = "no host could be reached";
    let allPermanent = true;
    let result: DeliveryResult | undefined;
    let usedHop: Hop | undefined;
    outer: for (const hop of hops) {
      for (const address of hop.addresses) {
        const opts: ClientOptions = {
          host: address,
          port,
          helo: config.hostname,
          tls: this.#tlsFor(relay, hop),
        };
        const source = address.includes(":")
          ? config.outbound.sourceIpv6
          : config.outbound.sourceIpv4;
        if (source) opts.localAddress = source;
        if (relay?.username) {
          opts.auth = { username: relay.username, password: await this.#password(relay) };
        }
        const r = await deliver(opts, env, [content]);
        if (r.connectionError) {
          lastError = `${hop.name}[${address}]: ${r.connectionError.text}`;
          if (!r.connectionError.permanent) allPermanent = false;
          else this.#o.onReply?.("permanent");
          log.info("delivery of {id} to {host} failed: {error}", {
            event: "connect_failed",
            id: g.messageId,
            host: `${hop.name}[${address}]`,
            error: r.connectionError.text,
          });
          continue;
        }
        result = r;
        usedHop = hop;
        break outer;
      }
    }
    if (!result) {
      if (allPermanent && hops.some((h) => h.addresses.length > 0)) {
        finish("failed", { lastError, statusCode: "5.4.0" });
      } else {
        finish("queued", { lastError, statusCode: "4.4.1" });
      }
      await this.#settle(updates, g);
      this.#logResult(g, allPermanent ? "bounced" : "deferred", lastError);
      return;
    }
    this.#o.stats?.connection(result.tls !== undefined);
    const replies = new Map<number, string>();
    for (const [i, rr] of result.recipients.entries()) {
      const r = g.recipients[i]!;
      const text = `${rr.code}${rr.enhanced ? " " + rr.enhanced : ""} ${rr.text}`;
      replies.set(r.seq, text);
      const fields = {
        lastError: text,
        statusCode: rr.enhanced ?? `${String(rr.code)[0]}.0.0`,
        remoteMta: usedHop!.name,
      };
      this.#o.onReply?.(rr.ok ? "ok" : rr.permanent ? "permanent" : "temporary");
      if (rr.ok) finish("delivered", { remoteMta: usedHop!.name }, [r]);
      else if (rr.permanent) finish("failed", fields, [r]);
      else finish("queued", fields, [r]);
    }
    await this.#settle(updates, g, replies);
    for (const u of updates) {
      log.info("{status} {rcpt} via {host}", {
        event: u.status === "delivered"
          ? "delivered"
          : u.status === "failed"
          ? "bounced"
          : "deferred",
        id: g.messageId,
        rcpt: g.recipients.find((r) => r.seq === u.seq)?.address,
        status: u.status,
        host: usedHop!.name,
        reply: u.lastError,
        ...(result.tls ? { tls: result.tls.protocol, verified: result.tls.authorized } : {}),
      });
    }
  }

  /**
   * Commit outcomes (grouped with concurrent deliveries' by the store), then report each to
   * the statistics with the error, or the remote reply of a delivery (`replies`, by seq).
   */
  async #settle(
    updates: RecipientUpdate[],
    g: Group,
    replies?: ReadonlyMap<number, string>,
  ): Promise<void> {
    await this.#o.store.settle(updates);
    if (updates.some((u) => u.status === "failed")) this.#sweepDue = true;
    const stats = this.#o.stats;
    if (!stats) return;
    for (const u of updates) {
      const r = g.recipients.find((x) => x.seq === u.seq);
      if (!r) continue;
      stats.attempt({
        result: u.status === "delivered"
          ? "delivered"
          : u.status === "failed"
          ? "bounced"
          : "deferred",
        to: r.address,
        from: r.sender,
        ...(r.account !== undefined ? { account: r.account } : {}),
        queueId: g.messageId,
        detail: u.lastError ?? replies?.get(u.seq) ?? "",
      });
    }
  }

  #tlsFor(relay: Relay | undefined, hop: Hop): ClientOptions["tls"] {
    const servername = /^[\d.:a-f]+$/i.test(hop.name) ? undefined : hop.name;
    const base = servername ? { servername } : {};
    if (relay) {
      if (relay.tls === "none") return { mode: "none" };
      if (relay.tls === "implicit") return { mode: "implicit", ...base };
      // Credentials go only over verified TLS.
      return { mode: relay.username ? "required" : "opportunistic", ...base };
    }
    return { mode: this.#o.config.outbound.requireTls ? "required" : "opportunistic", ...base };
  }

  #logResult(g: Group, what: string, reason: string): void {
    this.#o.log.info("{what} {count} recipient(s) of {id}: {reason}", {
      event: what,
      id: g.messageId,
      count: g.recipients.length,
      rcpts: g.recipients.map((r) => r.address),
      reason,
    });
  }

  // DSNs (RFC 3464) for failed recipients and, once, delay warnings. Never for a null
  // sender (RFC 5321 §4.5.5: no bounce of a bounce, no loops).
  async #sendNotices(now: Date): Promise<void> {
    const { store, config, log } = this.#o;
    const warnBefore = config.queue.delayWarningMs > 0
      ? new Date(now.getTime() - config.queue.delayWarningMs)
      : undefined;
    const notices = store.notices(warnBefore);
    const byMessage = new Map<string, NoticeRecipient[]>();
    for (const n of notices) {
      const list = byMessage.get(n.messageId) ?? [];
      list.push(n);
      byMessage.set(n.messageId, list);
    }
    for (const [id, list] of byMessage) {
      const sender = list[0]!.sender;
      if (sender !== "") {
        try {
          await this.#sendDsn(id, sender, list, now);
        } catch (e) {
          log.error("could not send the DSN for {id}: {error}", {
            event: "dsn_error",
            id,
            error: String(e),
          });
          continue; // retried on the next scan
        }
      } else {
        log.info("no DSN for {id}: null sender", { event: "dsn_skipped", id });
      }
      store.markNotified(list);
    }
  }

  async #sendDsn(id: string, sender: string, list: NoticeRecipient[], now: Date): Promise<void> {
    const { store, config, router, maildir, log } = this.#o;
    let header: Uint8Array = new Uint8Array();
    try {
      header = headerSection([await store.readBody(id)]);
    } catch {
      // the body is gone: the DSN goes out without the original header
    }
    const recipients: DsnRecipient[] = list.map((n) => {
      const r: DsnRecipient = {
        address: n.address,
        action: n.status === "failed" ? "failed" : "delayed",
        status: n.statusCode && /^[245]\.\d{1,3}\.\d{1,3}$/.test(n.statusCode)
          ? (n.status === "queued" ? n.statusCode.replace(/^5/, "4") : n.statusCode)
          : (n.status === "failed" ? "5.0.0" : "4.0.0"),
      };
      if (n.lastError) r.diagnostic = n.lastError;
      if (n.remoteMta) r.remoteMta = n.remoteMta;
      if (n.status === "queued") {
        r.willRetryUntil = new Date(n.created.getTime() + config.queue.maxAgeMs);
      }
      return r;
    });
    const dsn = buildDsn({
      reportingMta: config.hostname,
      originalSender: sender,
      queueId: id,
      arrivalDate: list[0]!.created,
      recipients,
      originalHeader: header,
      now,
    });
    // A local sender gets it in the Maildir at once; others through the queue, with the null
    // sender so that it can never bounce back.
    let local;
    try {
      const m = parseMailbox(sender);
      local = router.resolve(m);
    } catch {
      local = undefined;
    }
    const srsBounce = local?.kind === "local"
      ? local.forwards?.find((f) => f.srsBounce)
      : undefined;
    if (srsBounce) {
      // The sender was our SRS address (a forwarded message): the DSN goes to the sender it
      // stands for, with the null sender.
      await store.enqueue({
        sender: "",
        recipients: [srsBounce.target],
        header: "",
        content: [dsn],
      });
    } else if (local?.kind === "local") {
      await maildir.deliver(
        local.mailboxes,
        (b) => `Return-Path: <>\r\nDelivered-To: ${b.address}\r\n`,
        [dsn],
      );
    } else if (local?.kind === "nonlocal") {
      await store.enqueue({ sender: "", recipients: [sender], header: "", content: [dsn] });
    } else {
      log.warning("DSN for {id} not sent: sender <{sender}> is unknown here", {
        event: "dsn_skipped",
        id,
        sender,
      });
      return;
    }
    log.info("sent a DSN for {id} to <{sender}>", {
      event: "dsn",
      id,
      sender,
      failed: list.filter((n) => n.status === "failed").map((n) => n.address),
      delayed: list.filter((n) => n.status === "queued").map((n) => n.address),
    });
  }
}
