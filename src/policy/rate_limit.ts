/**
 * Outbound rate limits per account: messages per rolling hour and recipients per rolling
 * day. The counts live in `<data_dir>/state.db` (SQLite), so a restart does not reset them.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import type { Config } from "../config/config.ts";

/** The verdict for one more recipient (or message). */
export type RateVerdict =
  | { ok: true; warn: boolean }
  | { ok: false; permanent: boolean; reason: string };

const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** Per-account submission counters. */
export class RateLimiter {
  readonly #db: DatabaseSync;
  #limits: Config["rateLimits"];
  readonly #now: () => number;

  private constructor(db: DatabaseSync, limits: Config["rateLimits"], now: () => number) {
    this.#db = db;
    this.#limits = limits;
    this.#now = now;
  }

  /** Open the counters in `dataDir`. */
  static async open(
    dataDir: string,
    limits: Config["rateLimits"],
    now: () => number = Date.now,
  ): Promise<RateLimiter> {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const db = new DatabaseSync(join(dataDir, "state.db"));
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
    db.exec(`CREATE TABLE IF NOT EXISTS sent (
      account TEXT NOT NULL, ts INTEGER NOT NULL, recipients INTEGER NOT NULL)`);
    db.exec("CREATE INDEX IF NOT EXISTS sent_account_ts ON sent (account, ts)");
    // Who logged in as an account from where: what an alert about the account names.
    db.exec(`CREATE TABLE IF NOT EXISTS logins (
      account TEXT NOT NULL, ip TEXT NOT NULL, ts INTEGER NOT NULL)`);
    db.exec("CREATE INDEX IF NOT EXISTS logins_account_ts ON logins (account, ts)");
    return new RateLimiter(db, limits, now);
  }

  /** Apply new limits (config reload). */
  configure(limits: Config["rateLimits"]): void {
    this.#limits = limits;
  }

  /** Messages in the last hour and recipients in the last day for an account. */
  usage(account: string): { messages: number; recipients: number } {
    const now = this.#now();
    const m = this.#db.prepare("SELECT COUNT(*) AS n FROM sent WHERE account = ? AND ts > ?")
      .get(account, now - HOUR) as { n: number };
    const r = this.#db.prepare(
      "SELECT COALESCE(SUM(recipients), 0) AS n FROM sent WHERE account = ? AND ts > ?",
    ).get(account, now - DAY) as { n: number };
    return { messages: Number(m.n), recipients: Number(r.n) };
  }

  /** May the account start another message? */
  checkMessage(account: string): RateVerdict {
    const { messages } = this.usage(account);
    const limit = this.#limits.messagesPerHour;
    if (messages >= limit) {
      return { ok: false, permanent: false, reason: `limit of ${limit} messages per hour reached` };
    }
    return { ok: true, warn: messages + 1 >= 0.8 * limit };
  }

  /** May the account add one more recipient, with `inMessage` already in this message? */
  checkRecipient(account: string, inMessage: number): RateVerdict {
    const limit = this.#limits.recipientsPerDay;
    if (inMessage + 1 > limit) {
      return {
        ok: false,
        permanent: true,
        reason: `one message may not have more than ${limit} recipients per day`,
      };
    }
    const { recipients } = this.usage(account);
    if (recipients + inMessage + 1 > limit) {
      return {
        ok: false,
        permanent: false,
        reason: `limit of ${limit} recipients per day reached`,
      };
    }
    return { ok: true, warn: recipients + inMessage + 1 >= 0.8 * limit };
  }

  /** Count an accepted message. */
  record(account: string, recipients: number): void {
    const now = this.#now();
    this.#db.prepare("INSERT INTO sent (account, ts, recipients) VALUES (?, ?, ?)")
      .run(account, now, recipients);
    this.#db.prepare("DELETE FROM sent WHERE ts <= ?").run(now - DAY);
  }

  /** Remember a successful login (kept for a day). */
  recordLogin(account: string, ip: string): void {
    const now = this.#now();
    this.#db.prepare("INSERT INTO logins (account, ip, ts) VALUES (?, ?, ?)").run(account, ip, now);
    this.#db.prepare("DELETE FROM logins WHERE ts <= ?").run(now - DAY);
  }

  /** The IPs that logged in as `account` in the last day, most logins first. */
  loginIps(account: string): { ip: string; logins: number; last: Date }[] {
    const rows = this.#db.prepare(
      "SELECT ip, COUNT(*) AS n, MAX(ts) AS last FROM logins WHERE account = ? AND ts > ? " +
        "GROUP BY ip ORDER BY n DESC, ip",
    ).all(account, this.#now() - DAY) as { ip: string; n: number; last: number }[];
    return rows.map((r) => ({ ip: r.ip, logins: Number(r.n), last: new Date(Number(r.last)) }));
  }

  /** Close the database. */
  close(): void {
    this.#db.close();
  }
}
