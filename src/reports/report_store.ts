/**
 * The DMARC aggregate reports others sent us (RFC 7489 §7.2), kept in one SQLite database
 * (node:sqlite), `<data_dir>/dmarc-reports.db`, and summed up per reporter and source IP.
 *
 * Tables: `reports(id, org_name, report_id, email, domain, begin, end, received_at, policy)`
 * with `(org_name, report_id)` unique, since RFC 7489 §7.2.1.1 makes `report_id` unique per
 * reporter and reporters do resend; and `records(report, source_ip, count, disposition, dkim,
 * spf, header_from, envelope_from, auth_results)`. Times are Unix seconds.
 *
 * The summary counts messages (the records' `count`), not records: per reporter and per
 * source IP the messages, those whose DKIM passed aligned (`policy_evaluated/dkim`), those
 * whose SPF passed aligned, and those that passed DMARC, i.e. either (RFC 7489 §4.2).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import type { AggregateReport } from "./aggregate_parser.ts";

/** The database file name in the data directory. */
export const REPORT_DB_FILE = "dmarc-reports.db";

/** What {@link ReportStore.summary} is asked for. */
export interface SummaryQuery {
  /** Only reports about this domain (`policy_published/domain`). */
  domain?: string;
  /** Only reports whose period ends at or after this time. */
  since?: Date;
}

/** One reporter's view of one source IP. */
export interface SummaryRow {
  reporter: string;
  sourceIp: string;
  /** Messages the reporter saw from the IP. */
  messages: number;
  /** Of those, messages whose DKIM result was an aligned pass. */
  dkimPass: number;
  /** Of those, messages whose SPF result was an aligned pass. */
  spfPass: number;
  /** Of those, messages that passed DMARC (aligned DKIM or aligned SPF). */
  dmarcPass: number;
  /** The domains (header From) the messages claimed, sorted. */
  headerFrom: string[];
}

/** The summary of the stored reports matching a query. */
export interface ReportSummary {
  /** Reports counted. */
  reports: number;
  /** Earliest begin and latest end of their periods (Unix seconds), when there are reports. */
  begin?: number;
  end?: number;
  /** By reporter, then most DMARC failures first, then IP. */
  rows: SummaryRow[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reports (
  id INTEGER PRIMARY KEY,
  org_name TEXT NOT NULL,
  report_id TEXT NOT NULL,
  email TEXT NOT NULL,
  domain TEXT NOT NULL,
  begin INTEGER NOT NULL,
  end INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  policy TEXT NOT NULL,
  UNIQUE (org_name, report_id)
);
CREATE INDEX IF NOT EXISTS reports_domain ON reports(domain, end);
CREATE TABLE IF NOT EXISTS records (
  report INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
  source_ip TEXT NOT NULL,
  count INTEGER NOT NULL,
  disposition TEXT NOT NULL,
  dkim TEXT NOT NULL,
  spf TEXT NOT NULL,
  header_from TEXT NOT NULL,
  envelope_from TEXT,
  auth_results TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_report ON records(report);
PRAGMA user_version = 1;
`;

/** The report database. */
export class ReportStore {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Open (and create if needed) `<dataDir>/dmarc-reports.db`. */
  static async open(dataDir: string): Promise<ReportStore> {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const db = new DatabaseSync(join(dataDir, REPORT_DB_FILE));
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
    db.exec("PRAGMA foreign_keys=ON;");
    db.exec(SCHEMA);
    return new ReportStore(db);
  }

  /**
   * Store `report`, received at `receivedAt`. False (and nothing stored) when the same
   * reporter's report with this id is already there.
   */
  add(report: AggregateReport, receivedAt: Date): boolean {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const r = db.prepare(
        `INSERT OR IGNORE INTO reports
         (org_name, report_id, email, domain, begin, end, received_at, policy)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        report.orgName,
        report.reportId,
        report.email,
        report.policy.domain,
        report.begin,
        report.end,
        Math.floor(receivedAt.getTime() / 1000),
        JSON.stringify(report.policy),
      );
      if (r.changes === 0) {
        db.exec("ROLLBACK");
        return false;
      }
      const id = r.lastInsertRowid;
      const insert = db.prepare(
        `INSERT INTO records (report, source_ip, count, disposition, dkim, spf, header_from,
         envelope_from, auth_results) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const rec of report.records) {
        insert.run(
          id,
          rec.sourceIp,
          rec.count,
          rec.disposition,
          rec.dkim,
          rec.spf,
          rec.headerFrom,
          rec.envelopeFrom ?? null,
          JSON.stringify(rec.authResults),
        );
      }
      db.exec("COMMIT");
      return true;
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
  }

  /** Pass/fail counts per reporter and source IP of the reports matching `query`. */
  summary(query: SummaryQuery = {}): ReportSummary {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.domain !== undefined) {
      where.push("r.domain = ?");
      args.push(query.domain.toLowerCase().replace(/\.$/, ""));
    }
    if (query.since !== undefined) {
      where.push("r.end >= ?");
      args.push(Math.floor(query.since.getTime() / 1000));
    }
    const cond = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    const totals = this.#db.prepare(
      `SELECT count(*) AS n, min(r.begin) AS b, max(r.end) AS e FROM reports r ${cond}`,
    ).get(...args) as { n: number; b: number | null; e: number | null };
    const rows = this.#db.prepare(
      `SELECT r.org_name AS reporter, x.source_ip AS ip,
         sum(x.count) AS messages,
         sum(CASE WHEN x.dkim = 'pass' THEN x.count ELSE 0 END) AS dkim_pass,
         sum(CASE WHEN x.spf = 'pass' THEN x.count ELSE 0 END) AS spf_pass,
         sum(CASE WHEN x.dkim = 'pass' OR x.spf = 'pass' THEN x.count ELSE 0 END) AS dmarc_pass,
         group_concat(DISTINCT x.header_from) AS header_from
       FROM records x JOIN reports r ON r.id = x.report ${cond}
       GROUP BY r.org_name, x.source_ip
       ORDER BY r.org_name, messages - dmarc_pass DESC, x.source_ip`,
    ).all(...args) as {
      reporter: string;
      ip: string;
      messages: number;
      dkim_pass: number;
      spf_pass: number;
      dmarc_pass: number;
      header_from: string;
    }[];
    return {
      reports: totals.n,
      ...(totals.b !== null ? { begin: totals.b } : {}),
      ...(totals.e !== null ? { end: totals.e } : {}),
      rows: rows.map((r) => ({
        reporter: r.reporter,
        sourceIp: r.ip,
        messages: r.messages,
        dkimPass: r.dkim_pass,
        spfPass: r.spf_pass,
        dmarcPass: r.dmarc_pass,
        headerFrom: r.header_from.split(",").sort(),
      })),
    };
  }

  /** Close the database. */
  close(): void {
    this.#db.close();
  }
}
