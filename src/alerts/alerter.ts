/**
 * The one way postie tells its owner that something is wrong: a mail to `alerts.to` (by
 * default the postmaster of the primary domain), put straight into the local Maildir so that it
 * arrives even when outbound delivery is what is broken (an external `alerts.to` goes through
 * the queue), and the same words in the log at warning. Each alert has a key (e.g.
 * `rate-limit:alice@example.com`); the same key is mailed at most once per `alerts.repeat`,
 * remembered in `<data_dir>/state.db` so that a restart does not repeat it either. Every alert
 * says what happened, since when, and the commands that fix it.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import type { MaildirStore } from "../delivery/maildir.ts";
import type { Router } from "../delivery/router.ts";
import { buildNotice } from "./notice_message.ts";

/** What an alert says. */
export interface Alert {
  /** Identifies the condition; the same key is mailed at most once per `alerts.repeat`. */
  key: string;
  subject: string;
  /** What happened, since when, and the commands that fix it. */
  body: string;
}

/** An open alert: a condition raised and not cleared (see {@link Alerter.list}). */
export interface OpenAlert {
  key: string;
  /** The subject of the last raise. */
  subject: string;
  /** When it was first raised, ISO 8601. */
  first: string;
  /** When it was last raised, ISO 8601. */
  last: string;
  /** How often it was raised since `first`. */
  count: number;
}

/** The outcome of {@link Alerter.raise}. */
export type AlertOutcome = "sent" | "repeat" | "undeliverable";

/** Where an alert goes: the local Maildir, or the outbound queue for an external address. */
export interface AlertDelivery {
  router(): Router;
  maildir: MaildirStore;
  /** The outbound queue, for an external `alerts.to`. */
  enqueue?(
    req: { sender: string; recipients: string[]; header: string; content: Uint8Array[] },
  ): Promise<string>;
}

/** See the module documentation. */
export class Alerter {
  #config: Config;
  readonly #db: DatabaseSync;
  readonly #delivery: AlertDelivery;
  readonly #log: Logger;
  readonly #now: () => Date;
  /** Hears of every raise, repeats included (for the metrics); must not throw. */
  onRaise: ((key: string) => void) | undefined;

  private constructor(
    config: Config,
    db: DatabaseSync,
    delivery: AlertDelivery,
    log: Logger,
    now: () => Date,
  ) {
    this.#config = config;
    this.#db = db;
    this.#delivery = delivery;
    this.#log = log;
    this.#now = now;
  }

  /** Open the alert memory in `config.dataDir`. */
  static async open(
    config: Config,
    delivery: AlertDelivery,
    log: Logger,
    now: () => Date = () => new Date(),
  ): Promise<Alerter> {
    await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const db = new DatabaseSync(join(config.dataDir, "state.db"));
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
    db.exec(`CREATE TABLE IF NOT EXISTS alerts (
      key TEXT PRIMARY KEY, first TEXT NOT NULL, last_sent TEXT NOT NULL, count INTEGER NOT NULL)`);
    // Added later: the subject and the time of the last raise (mailed or not).
    const columns = new Set(
      (db.prepare("PRAGMA table_info(alerts)").all() as { name: string }[]).map((c) => c.name),
    );
    if (!columns.has("subject")) {
      db.exec("ALTER TABLE alerts ADD COLUMN subject TEXT NOT NULL DEFAULT ''");
    }
    if (!columns.has("last")) db.exec("ALTER TABLE alerts ADD COLUMN last TEXT");
    return new Alerter(config, db, delivery, log, now);
  }

  /** A new config (reload): `alerts.to`, `alerts.repeat`. */
  configure(config: Config): void {
    this.#config = config;
  }

  /** When this condition was first alerted (it is reset by {@link clear}), if it was. */
  since(key: string): Date | undefined {
    const row = this.#db.prepare("SELECT first FROM alerts WHERE key = ?").get(key) as
      | { first: string }
      | undefined;
    return row ? new Date(row.first) : undefined;
  }

  /** The open alerts (raised and not cleared), the last raised first. */
  list(): OpenAlert[] {
    const rows = this.#db.prepare(
      `SELECT key, subject, first, COALESCE(last, last_sent) AS last, count FROM alerts
       ORDER BY COALESCE(last, last_sent) DESC, key`,
    ).all() as unknown as OpenAlert[];
    return rows.map((r) => ({
      key: r.key,
      subject: r.subject,
      first: r.first,
      last: r.last,
      count: Number(r.count),
    }));
  }

  /** The condition is over: the next time it happens is a new alert. */
  clear(key: string): void {
    this.#db.prepare("DELETE FROM alerts WHERE key = ?").run(key);
  }

  /** Log the alert, and mail it unless the same key was mailed within `alerts.repeat`. */
  async raise(alert: Alert): Promise<AlertOutcome> {
    const now = this.#now();
    this.#log.warning("alert: {subject}", {
      event: "alert",
      key: alert.key,
      subject: alert.subject,
    });
    try {
      this.onRaise?.(alert.key);
    } catch {
      // statistics only
    }
    const row = this.#db.prepare("SELECT last_sent FROM alerts WHERE key = ?").get(alert.key) as
      | { last_sent: string }
      | undefined;
    if (row && now.getTime() - Date.parse(row.last_sent) < this.#config.alerts.repeatMs) {
      this.#db.prepare(
        "UPDATE alerts SET count = count + 1, subject = ?2, last = ?3 WHERE key = ?1",
      ).run(alert.key, alert.subject, now.toISOString());
      return "repeat";
    }
    // Claimed before the (async) delivery, so that alerts raised at the same moment send once.
    this.#db.prepare(
      "INSERT INTO alerts (key, first, last_sent, count, subject, last) " +
        "VALUES (?1, ?2, ?2, 1, ?3, ?2) " +
        "ON CONFLICT(key) DO UPDATE SET last_sent = ?2, count = count + 1, subject = ?3, last = ?2",
    ).run(alert.key, now.toISOString(), alert.subject);
    const delivered = await this.#deliver(alert, now);
    if (!delivered) {
      this.#log.error("alert for {to} not delivered: no such mailbox; {subject}", {
        event: "alert_undeliverable",
        to: this.#config.alerts.to,
        subject: alert.subject,
      });
      return "undeliverable";
    }
    return "sent";
  }

  async #deliver(alert: Alert, now: Date): Promise<boolean> {
    const to = this.#config.alerts.to;
    const at = to.lastIndexOf("@");
    const router = this.#delivery.router();
    const where = router.resolve({
      local: to.slice(0, at),
      domain: to.slice(at + 1),
      quoted: false,
    });
    const message = buildNotice({
      hostname: this.#config.hostname,
      to,
      subject: `[postie] ${alert.subject}`,
      body: alert.body,
      now,
    });
    if (where.kind === "local" && where.mailboxes.length > 0) {
      await this.#delivery.maildir.deliver(
        where.mailboxes,
        (b) => `Return-Path: <>\r\nDelivered-To: ${b.address}\r\n`,
        [message],
      );
      return true;
    }
    if (where.kind === "nonlocal" && this.#delivery.enqueue) {
      await this.#delivery.enqueue({
        sender: "",
        recipients: [to],
        header: "",
        content: [message],
      });
      return true;
    }
    return false;
  }

  /** Close the database. */
  close(): void {
    this.#db.close();
  }
}
