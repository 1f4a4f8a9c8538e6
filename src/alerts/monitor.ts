/**
 * The periodic checks behind the alerts that no single event raises: the queue above
 * `alerts.queue_size`, more than `alerts.bounce_share` percent of an hour's delivery attempts
 * refused with 5xx (at least 10 attempts), our sending addresses on a DNS blocklist (every
 * `alerts.dnsbl_interval`, with the `postie check` code), free space in `data_dir` below
 * `alerts.min_free_mb`; and the expiry of held mail (it expires like other mail, RFC 5321
 * §4.5.4.1). A condition that is over is cleared, so its next occurrence is a new alert.
 *
 * @module
 */

import { statfs } from "node:fs/promises";
import type { Config } from "../config/config.ts";
import type { Resolver } from "../dns/resolver.ts";
import { checkDnsbl } from "../dnscheck/check.ts";
import { ourAddresses } from "../dnscheck/records.ts";
import type { Logger } from "../log/logger.ts";
import type { QueueStore } from "../queue/store.ts";
import type { Alerter } from "./alerter.ts";
import { bounceAlert, diskAlert, dnsblAlert, queueAlert } from "./alert_texts.ts";

const HOUR = 3600_000;
const MIN_ATTEMPTS = 10;

/** What the monitor looks at. */
export interface MonitorOptions {
  config: () => Config;
  resolver: () => Resolver;
  alerter: Alerter;
  queue: QueueStore;
  log: Logger;
  /** Held mail that expired needs its DSN: wake the delivery worker. */
  kick: () => void;
  /** Default 60 s. */
  tickMs?: number;
  now?: () => Date;
}

/** See the module documentation. */
export class Monitor {
  readonly #o: MonitorOptions;
  readonly #now: () => Date;
  readonly #replies: { t: number; permanent: boolean }[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastDnsbl = 0;
  #diskUnknownSaid = false;
  #running: Promise<void> | null = null;

  constructor(o: MonitorOptions) {
    this.#o = o;
    this.#now = o.now ?? (() => new Date());
  }

  /** Check now and then every tick. */
  start(): void {
    this.#timer = setInterval(() => this.#tick(), this.#o.tickMs ?? 60_000);
    this.#tick();
  }

  /** Stop; a check in progress finishes. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  /** A receiving server's answer (from the delivery worker). */
  noteReply(kind: "ok" | "temporary" | "permanent"): void {
    if (kind === "temporary") return; // a 4xx is a delay, not a refusal
    const t = this.#now().getTime();
    this.#replies.push({ t, permanent: kind === "permanent" });
    while (this.#replies.length > 0 && this.#replies[0]!.t < t - HOUR) this.#replies.shift();
    if (this.#replies.length > 100_000) this.#replies.splice(0, this.#replies.length - 100_000);
  }

  #tick(): void {
    if (this.#running) return;
    this.#running = this.checkNow().catch((e) => {
      this.#o.log.error("alert checks failed: {error}", {
        event: "monitor_failed",
        error: (e as Error).message,
      });
    }).finally(() => this.#running = null);
  }

  /** Run every check once (tests call it directly). */
  async checkNow(): Promise<void> {
    const config = this.#o.config();
    const { alerter, queue } = this.#o;
    const now = this.#now();

    // Held mail expires like other mail: its sender gets a DSN.
    const expired = queue.expireHeld(
      new Date(now.getTime() - config.queue.maxAgeMs),
      "held (rate limit) and not released in time",
    );
    if (expired > 0) this.#o.kick();

    const size = queue.counts().messages;
    if (size > config.alerts.queueSize) {
      await alerter.raise(
        queueAlert({ size, limit: config.alerts.queueSize, configPath: config.source }),
      );
    } else alerter.clear("queue-size");

    const recent = this.#replies.filter((r) => r.t >= now.getTime() - HOUR);
    const permanent = recent.filter((r) => r.permanent).length;
    if (
      recent.length >= MIN_ATTEMPTS && 100 * permanent > config.alerts.bounceShare * recent.length
    ) {
      await alerter.raise(
        bounceAlert({ permanent, total: recent.length, share: config.alerts.bounceShare }),
      );
    } else if (recent.length >= MIN_ATTEMPTS) alerter.clear("bounce-share");

    try {
      const fs = await statfs(config.dataDir);
      const freeMb = Math.floor((Number(fs.bavail) * Number(fs.bsize)) / (1024 * 1024));
      if (freeMb < config.alerts.minFreeMb) {
        await alerter.raise(
          diskAlert({ dataDir: config.dataDir, freeMb, minMb: config.alerts.minFreeMb }),
        );
      } else alerter.clear("disk");
    } catch (e) {
      // Said once: without it (e.g. no --allow-sys=statfs) the disk alert cannot work.
      if (!this.#diskUnknownSaid) {
        this.#diskUnknownSaid = true;
        this.#o.log.warning("free space of {dir} unknown, no disk alert: {error}", {
          event: "monitor_disk_unknown",
          dir: config.dataDir,
          error: (e as Error).message,
        });
      }
    }

    const every = config.alerts.dnsblIntervalMs;
    if (every > 0 && now.getTime() - this.#lastDnsbl >= every && config.check.dnsbl.length > 0) {
      this.#lastDnsbl = now.getTime();
      await this.#checkDnsbl(config);
    }
  }

  async #checkDnsbl(config: Config): Promise<void> {
    const resolver = this.#o.resolver();
    let ips = ourAddresses(config);
    if (ips.length === 0) {
      // Without configured source addresses, the hostname's addresses are what we send from.
      for (const type of ["A", "AAAA"] as const) {
        const r = await resolver.lookup(config.hostname, type);
        if (r.kind === "ok") ips = [...ips, ...r.records];
      }
    }
    const items = await checkDnsbl(ips, config.check.dnsbl, resolver);
    const listed = items.filter((i) => i.status === "WRONG").map((i) => `${i.what}: ${i.detail}`);
    if (listed.length > 0) await this.#o.alerter.raise(dnsblAlert({ listed }));
  }
}
