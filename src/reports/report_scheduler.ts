/**
 * When DMARC aggregate reports are sent: once per `reports.interval`, at the interval's
 * boundaries (multiples of the interval since the epoch, so 24h means at 00:00 UTC; RFC 7489
 * §7.2 asks for reports "at least daily" and the periods should start at the hour). The end
 * of the last period sent is kept in the evaluation log, so a restart neither resends a
 * period nor forgets one that passed while the server was down (it is sent at start).
 *
 * With `reports.send_dmarc: false` evaluations are still recorded (and pruned after 30 days),
 * but nothing is sent.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { DkimSigningKey } from "../dkim/mod.ts";
import type { Resolver } from "../dns/resolver.ts";
import { log as logger } from "../log/logger.ts";
import type { EvaluationLog } from "./evaluation_log.ts";
import { type Enqueue, type SendOutcome, sendReports } from "./report_sender.ts";

/** Options of {@linkcode ReportScheduler.start}. */
export interface ReportSchedulerOptions {
  config: Pick<Config, "hostname" | "domains" | "reports">;
  log: EvaluationLog;
  resolver: Resolver;
  dkimKeys: ReadonlyMap<string, readonly DkimSigningKey[]>;
  enqueue: Enqueue;
  /** The clock. @default {() => new Date()} */
  now?: () => Date;
  /** How often the clock is looked at. @default {60_000} */
  tickMs?: number;
}

/** The state key of the end of the last period reported (ms since the epoch). */
const STATE_KEY = "reported_until";

const slog = logger("reports");

/** Sends the pending reports at each interval boundary. */
export class ReportScheduler {
  #opts: ReportSchedulerOptions;
  readonly #now: () => Date;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> = Promise.resolve();
  /** The boundary of a run already started (so a slow run is not started twice). */
  #scheduled = 0;

  private constructor(opts: ReportSchedulerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => new Date());
  }

  /** Start the timer; a period that ended while the server was down is sent at once. */
  static start(opts: ReportSchedulerOptions): ReportScheduler {
    const s = new ReportScheduler(opts);
    // First start: the current period is the first one to report.
    if (opts.log.getState(STATE_KEY) === undefined) {
      opts.log.setState(STATE_KEY, String(s.#boundary()));
    }
    s.#tick();
    s.#timer = setInterval(() => s.#tick(), opts.tickMs ?? 60_000);
    return s;
  }

  /** Apply a reloaded config, resolver and keys (the next run uses them). */
  configure(
    config: ReportSchedulerOptions["config"],
    resolver: Resolver,
    dkimKeys: ReportSchedulerOptions["dkimKeys"],
  ): void {
    this.#opts = { ...this.#opts, config, resolver, dkimKeys };
  }

  /** Send everything recorded so far now (tests, and an operator's "flush"). */
  sendNow(): Promise<SendOutcome[]> {
    return this.#serial(() => this.#send(new Date(this.#now().getTime() + 1)));
  }

  /** Stop the timer and wait for a run in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** The start of the current period: the last interval boundary. */
  #boundary(): number {
    const interval = Math.max(this.#opts.config.reports.intervalMs, 60_000);
    const now = this.#now().getTime();
    return now - now % interval;
  }

  #tick(): void {
    const boundary = this.#boundary();
    const last = Number(this.#opts.log.getState(STATE_KEY) ?? 0);
    if (boundary <= Math.max(last, this.#scheduled)) return;
    this.#scheduled = boundary;
    void this.#serial(async () => {
      const out = await this.#send(new Date(boundary));
      this.#opts.log.setState(STATE_KEY, String(boundary));
      return out;
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#running.then(fn);
    this.#running = run.catch((e) => {
      slog.error("DMARC reports failed: {error}", {
        event: "dmarc_report_failed",
        error: String(e),
      });
    });
    return run;
  }

  async #send(until: Date): Promise<SendOutcome[]> {
    const o = this.#opts;
    o.log.prune(this.#now());
    if (!o.config.reports.sendDmarc) return [];
    return await sendReports({
      config: o.config,
      log: o.log,
      resolver: o.resolver,
      dkimKeys: o.dkimKeys,
      enqueue: o.enqueue,
      until,
      now: this.#now,
    });
  }
}
