/**
 * What happened to mail, for the admin page and its charts: every message accepted for a local
 * account ("received") or from an account for the outside ("sent"), every SMTP refusal
 * ("rejected", with a short machine-readable reason), and every outbound delivery attempt
 * ("delivered", "deferred", "bounced"). Kept in `<data_dir>/events.db` (SQLite): the events
 * themselves for the log page (searched newest first), and a table of daily counts per day
 * (UTC), kind, account and reason, so that the charts never read the events.
 *
 * These are statistics, not mail: events are written in batches (one transaction at most
 * every 100 ms, and at once when 1000 are waiting), without fsync (`synchronous=NORMAL`), and
 * a failure to write one is logged and never thrown at the SMTP session that made it. Every
 * read writes what is waiting first, so a reader always sees what was recorded before.
 * Events older than `keepDays` and those beyond the newest `maxEvents` are pruned at most once
 * a minute; daily counts are kept for `keepDays`.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import { log, type Logger } from "../log/logger.ts";

/** What kind of thing happened. */
export type MailEventKind =
  | "received"
  | "sent"
  | "rejected"
  | "delivered"
  | "deferred"
  | "bounced";

/** The kinds of {@link MailEvent}, in the order the admin page lists them. */
export const MAIL_EVENT_KINDS: readonly MailEventKind[] = [
  "received",
  "sent",
  "rejected",
  "delivered",
  "deferred",
  "bounced",
];

/**
 * One event. "received": a message accepted for a local recipient (`account` = the local
 * account it reached); "sent": a message accepted from an authenticated account for an
 * external recipient (`account` = the submitter); "rejected": an SMTP refusal (`reason` a
 * short class such as `relay_denied`, `detail` the reply text); "delivered", "deferred",
 * "bounced": an outbound attempt's result for one recipient (`detail` the remote reply).
 */
export interface MailEvent {
  /** When, as an ISO 8601 UTC timestamp. */
  time: string;
  kind: MailEventKind;
  account?: string;
  from?: string;
  to?: string;
  ip?: string;
  reason?: string;
  detail?: string;
  queueId?: string;
}

/** Options of {@link EventLog.open}. */
export interface EventLogOptions {
  /** The clock; default `new Date()`. */
  now?: () => Date;
  /** Days of events and daily counts kept; default 30. */
  keepDays?: number;
  /** The most events kept (the oldest go first); default 100000. */
  maxEvents?: number;
  /** Where failures to write are logged; default the `events` logger. */
  log?: Logger;
}

/** One day of the received/sent chart. */
export interface DayCount {
  /** "YYYY-MM-DD", UTC. */
  date: string;
  received: number;
  sent: number;
}

const FLUSH_MS = 100;
const FLUSH_COUNT = 1000;
const PRUNE_MS = 60_000;
const DAY_MS = 86400_000;
/** Longest text kept per field (a reply text, an address), so no row grows without bound. */
const MAX_FIELD = 1000;

interface Row {
  time: string;
  kind: string;
  account: string | null;
  from_addr: string | null;
  to_addr: string | null;
  ip: string | null;
  reason: string | null;
  detail: string | null;
  queue_id: string | null;
}

const KINDS = new Set<string>(MAIL_EVENT_KINDS);

function field(v: string | undefined): string | null {
  if (v === undefined || v === "") return null;
  return v.length > MAX_FIELD ? v.slice(0, MAX_FIELD) : v;
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function positiveInteger(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  return v;
}

/** Escape `%`, `_` and the escape character itself for `LIKE ... ESCAPE '\'`. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The event log (see the module documentation). Create with {@link EventLog.open}. */
export class EventLog {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;
  readonly #keepDays: number;
  readonly #maxEvents: number;
  readonly #log: Logger;
  readonly #insert: StatementSync;
  readonly #count: StatementSync;
  #pending: Row[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastPrune = -Infinity;
  #closed = false;

  private constructor(db: DatabaseSync, o: EventLogOptions) {
    this.#db = db;
    this.#now = o.now ?? (() => new Date());
    this.#keepDays = positiveInteger("keepDays", o.keepDays ?? 30);
    this.#maxEvents = positiveInteger("maxEvents", o.maxEvents ?? 100000);
    this.#log = o.log ?? log("events");
    this.#insert = db.prepare(
      `INSERT INTO events (time, kind, account, from_addr, to_addr, ip, reason, detail, queue_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#count = db.prepare(
      `INSERT INTO counters (day, kind, account, reason, count) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (day, kind, account, reason) DO UPDATE SET count = count + excluded.count`,
    );
  }

  /** Open (creating) `<dataDir>/events.db`. */
  static async open(dataDir: string, options: EventLogOptions = {}): Promise<EventLog> {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const db = new DatabaseSync(join(dataDir, "events.db"));
    try {
      // Statistics: a crash may lose the last moments, never a message.
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
      db.exec(`CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, account TEXT,
        from_addr TEXT, to_addr TEXT, ip TEXT, reason TEXT, detail TEXT, queue_id TEXT)`);
      db.exec("CREATE INDEX IF NOT EXISTS events_time ON events (time)");
      // account is "" for rejections (counted by reason) and events without an account;
      // reason is "" for everything but rejections.
      db.exec(`CREATE TABLE IF NOT EXISTS counters (
        day TEXT NOT NULL, kind TEXT NOT NULL, account TEXT NOT NULL, reason TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (day, kind, account, reason)) WITHOUT ROWID`);
      const events = new EventLog(db, options);
      events.prune();
      return events;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /**
   * Add one event (its time defaults to now). Cheap: it waits in memory and is written with
   * others in one transaction within 100 ms. Never throws for bad data or a database error.
   */
  record(e: Omit<MailEvent, "time"> & { time?: string }): void {
    if (this.#closed || !KINDS.has(e.kind)) return;
    // Normalized to UTC: the day of the counts is the first ten characters.
    const ms = e.time === undefined ? NaN : Date.parse(e.time);
    const time = (Number.isNaN(ms) ? this.#now() : new Date(ms)).toISOString();
    this.#pending.push({
      time,
      kind: e.kind,
      account: field(e.account),
      from_addr: field(e.from),
      to_addr: field(e.to),
      ip: field(e.ip),
      reason: field(e.reason),
      detail: field(e.detail),
      queue_id: field(e.queueId),
    });
    if (this.#pending.length >= FLUSH_COUNT) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Write the events waiting in memory now (reads and {@link close} do it themselves). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    if (batch.length === 0 || this.#closed) return;
    this.#pending = [];
    // The counts of a batch are added up first: one upsert per (day, kind, account, reason).
    const counts = new Map<string, number>();
    for (const r of batch) {
      const key = JSON.stringify([
        r.time.slice(0, 10),
        r.kind,
        r.kind === "rejected" ? "" : r.account?.toLowerCase() ?? "",
        r.kind === "rejected" ? r.reason ?? "other" : "",
      ]);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    try {
      this.#db.exec("BEGIN");
      try {
        for (const r of batch) {
          this.#insert.run(
            r.time,
            r.kind,
            r.account,
            r.from_addr,
            r.to_addr,
            r.ip,
            r.reason,
            r.detail,
            r.queue_id,
          );
        }
        for (const [key, n] of counts) {
          const [day, kind, account, reason] = JSON.parse(key) as string[];
          this.#count.run(day!, kind!, account!, reason!, n);
        }
        this.#db.exec("COMMIT");
      } catch (e) {
        this.#db.exec("ROLLBACK");
        throw e;
      }
    } catch (e) {
      this.#log.warning("{count} events not recorded: {error}", {
        event: "events_failed",
        count: batch.length,
        error: String(e),
      });
      return;
    }
    if (this.#now().getTime() - this.#lastPrune >= PRUNE_MS) this.prune();
  }

  /**
   * Drop events older than `keepDays` and all but the newest `maxEvents`, and daily counts
   * older than `keepDays` days. Runs by itself at most once a minute; returns the events
   * dropped.
   */
  prune(): number {
    const now = this.#now().getTime();
    this.#lastPrune = now;
    try {
      const cutoff = new Date(now - this.#keepDays * DAY_MS).toISOString();
      let dropped = Number(
        this.#db.prepare("DELETE FROM events WHERE time < ?").run(cutoff).changes,
      );
      dropped += Number(
        this.#db.prepare(
          "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
        ).run(this.#maxEvents).changes,
      );
      this.#db.prepare("DELETE FROM counters WHERE day < ?").run(cutoff.slice(0, 10));
      return dropped;
    } catch (e) {
      this.#log.warning("events not pruned: {error}", {
        event: "events_failed",
        error: String(e),
      });
      return 0;
    }
  }

  // The first day of the last `n` days (today included), UTC.
  #since(n: number): string {
    return dayOf(this.#now().getTime() - (positiveInteger("days", n) - 1) * DAY_MS);
  }

  /**
   * Received and sent messages per day for the last `n` days (today, UTC, last), of one
   * account or of all; days without mail are there with zeros.
   */
  days(n: number, account?: string): DayCount[] {
    this.flush();
    const since = this.#since(n);
    const rows = this.#db.prepare(
      `SELECT day, kind, SUM(count) AS n FROM counters
       WHERE day >= ? AND kind IN ('received', 'sent')${
        account === undefined ? "" : " AND account = ?"
      } GROUP BY day, kind`,
    ).all(...(account === undefined ? [since] : [since, account.toLowerCase()])) as {
      day: string;
      kind: "received" | "sent";
      n: number;
    }[];
    const byDay = new Map<string, DayCount>();
    const today = this.#now().getTime();
    const out: DayCount[] = [];
    for (let i = n - 1; i >= 0; i--) {
      const d: DayCount = { date: dayOf(today - i * DAY_MS), received: 0, sent: 0 };
      byDay.set(d.date, d);
      out.push(d);
    }
    for (const r of rows) {
      const d = byDay.get(r.day);
      if (d) d[r.kind] += Number(r.n);
    }
    return out;
  }

  /** The accounts that received or sent mail in the last `n` days, most active first. */
  accounts(n: number): { account: string; received: number; sent: number }[] {
    this.flush();
    const rows = this.#db.prepare(
      `SELECT account,
         SUM(CASE WHEN kind = 'received' THEN count ELSE 0 END) AS received,
         SUM(CASE WHEN kind = 'sent' THEN count ELSE 0 END) AS sent
       FROM counters WHERE day >= ? AND kind IN ('received', 'sent') AND account != ''
       GROUP BY account ORDER BY received + sent DESC, account`,
    ).all(this.#since(n)) as { account: string; received: number; sent: number }[];
    return rows.map((r) => ({
      account: r.account,
      received: Number(r.received),
      sent: Number(r.sent),
    }));
  }

  /** Refusals per reason in the last `n` days, most first. */
  rejects(n: number): { reason: string; count: number }[] {
    this.flush();
    const rows = this.#db.prepare(
      `SELECT reason, SUM(count) AS count FROM counters WHERE day >= ? AND kind = 'rejected'
       GROUP BY reason ORDER BY count DESC, reason`,
    ).all(this.#since(n)) as { reason: string; count: number }[];
    return rows.map((r) => ({ reason: r.reason, count: Number(r.count) }));
  }

  /**
   * The newest events first, at most `limit` (default 100, at most 1000); with `q`, only those
   * where it is part (ignoring ASCII case) of the kind, account, from, to, ip, reason, detail or
   * queue id.
   */
  recent(o: { q?: string; limit?: number } = {}): MailEvent[] {
    this.flush();
    const limit = Math.min(1000, positiveInteger("limit", o.limit ?? 100));
    const q = o.q?.trim() ?? "";
    const where = q === ""
      ? ""
      : `WHERE ${
        ["kind", "account", "from_addr", "to_addr", "ip", "reason", "detail", "queue_id"]
          .map((c) => `${c} LIKE ?1 ESCAPE '\\'`).join(" OR ")
      }`;
    const sql = `SELECT time, kind, account, from_addr, to_addr, ip, reason, detail, queue_id
      FROM events ${where} ORDER BY id DESC LIMIT ${q === "" ? "?1" : "?2"}`;
    const args = q === "" ? [limit] : [likePattern(q), limit];
    const rows = this.#db.prepare(sql).all(...args) as unknown as Row[];
    return rows.map(eventOf);
  }

  /** Write what is waiting and close the database. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#db.close();
  }
}

function eventOf(r: Row): MailEvent {
  const e: MailEvent = { time: r.time, kind: r.kind as MailEventKind };
  if (r.account !== null) e.account = r.account;
  if (r.from_addr !== null) e.from = r.from_addr;
  if (r.to_addr !== null) e.to = r.to_addr;
  if (r.ip !== null) e.ip = r.ip;
  if (r.reason !== null) e.reason = r.reason;
  if (r.detail !== null) e.detail = r.detail;
  if (r.queue_id !== null) e.queueId = r.queue_id;
  return e;
}
