/**
 * The DMARC evaluations of the mail we receive, kept for the aggregate reports we send to the
 * Domain Owners that ask for them with `rua=` (RFC 7489 §7.2). One row per message in
 * `<data_dir>/dmarc-evaluations.db` (SQLite): when, from which IP, the identifiers (header
 * From, envelope From), the policy record that applied, the disposition, the DMARC-aligned
 * verdicts and the underlying DKIM and SPF results (RFC 7489 Appendix C `record`).
 *
 * Rows are read per policy domain by the report sender ({@linkcode EvaluationLog.pending}),
 * deleted once reported ({@linkcode EvaluationLog.markReported}), and dropped after a
 * retention period if they never could be reported ({@linkcode EvaluationLog.prune}). A small
 * key-value table keeps the scheduler's state (the end of the last reporting period).
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import type { AlignmentMode, DmarcPolicy, DmarcUri } from "../dmarc/dmarc.ts";

/** The policy a domain published (RFC 7489 Appendix C `PolicyPublishedType`). */
export interface PublishedPolicy {
  p: DmarcPolicy;
  /** `sp=`, or the `p=` value when absent (§6.3: then `p` applies to subdomains). */
  sp: DmarcPolicy;
  pct: number;
  adkim: AlignmentMode;
  aspf: AlignmentMode;
}

/** Why the disposition is not the published policy (Appendix C `PolicyOverrideType`). */
export type PolicyOverride = "sampled_out" | "local_policy";

/** One DMARC evaluation of one received message. */
export interface DmarcEvaluation {
  time: Date;
  sourceIp: string;
  /** The RFC5322.From domain. */
  headerFrom: string;
  /** The RFC5321.MailFrom domain; "" for the null sender. */
  envelopeFrom: string;
  /** The domain whose `_dmarc` record applied (A-labels). */
  policyDomain: string;
  policy: PublishedPolicy;
  /** The record's `rua=` URIs. */
  rua: DmarcUri[];
  /** What was done with the message. */
  disposition: DmarcPolicy;
  /** Why the disposition differs from the policy, when it does. */
  override?: PolicyOverride;
  /** The DMARC-aligned DKIM and SPF verdicts (Appendix C `policy_evaluated`). */
  dkimAligned: "pass" | "fail";
  spfAligned: "pass" | "fail";
  /** Every DKIM signature's result. */
  dkim: { domain: string; selector: string; result: string }[];
  /** The SPF result DMARC used: for MAIL FROM, or for HELO with a null sender. */
  spf: { domain: string; scope: "mfrom" | "helo"; result: string };
}

/** The unreported evaluations of one policy domain. */
export interface PendingReport {
  policyDomain: string;
  /** The policy and `rua=` of the newest evaluation (what the domain publishes now). */
  policy: PublishedPolicy;
  rua: DmarcUri[];
  /** The time of the oldest evaluation. */
  begin: Date;
  evaluations: DmarcEvaluation[];
}

/** Evaluations older than this are dropped even if unreported. */
export const RETENTION_MS = 30 * 86400_000;

interface Row {
  time: number;
  source_ip: string;
  header_from: string;
  envelope_from: string;
  policy_domain: string;
  policy: string;
  rua: string;
  disposition: string;
  override: string | null;
  dkim_aligned: string;
  spf_aligned: string;
  dkim: string;
  spf: string;
}

/** The evaluation log (see the module doc). */
export class EvaluationLog {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO evaluations (time, source_ip, header_from, envelope_from, policy_domain,
        policy, rua, disposition, override, dkim_aligned, spf_aligned, dkim, spf)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  /** Open (creating) `<dataDir>/dmarc-evaluations.db`. */
  static async open(dataDir: string): Promise<EvaluationLog> {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const db = new DatabaseSync(join(dataDir, "dmarc-evaluations.db"));
    // A lost evaluation only makes a report a little smaller: no fsync per message.
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
    db.exec(`CREATE TABLE IF NOT EXISTS evaluations (
      time INTEGER NOT NULL, source_ip TEXT NOT NULL, header_from TEXT NOT NULL,
      envelope_from TEXT NOT NULL, policy_domain TEXT NOT NULL, policy TEXT NOT NULL,
      rua TEXT NOT NULL, disposition TEXT NOT NULL, override TEXT,
      dkim_aligned TEXT NOT NULL, spf_aligned TEXT NOT NULL, dkim TEXT NOT NULL,
      spf TEXT NOT NULL)`);
    db.exec(
      "CREATE INDEX IF NOT EXISTS evaluations_domain_time ON evaluations (policy_domain, time)",
    );
    db.exec("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    return new EvaluationLog(db);
  }

  /** Add one evaluation (one prepared INSERT). */
  record(e: DmarcEvaluation): void {
    this.#insert.run(
      e.time.getTime(),
      e.sourceIp,
      e.headerFrom.toLowerCase(),
      e.envelopeFrom.toLowerCase(),
      e.policyDomain.toLowerCase(),
      JSON.stringify(e.policy),
      JSON.stringify(e.rua),
      e.disposition,
      e.override ?? null,
      e.dkimAligned,
      e.spfAligned,
      JSON.stringify(e.dkim),
      JSON.stringify(e.spf),
    );
  }

  /** The evaluations before `until`, grouped per policy domain (sorted by domain). */
  pending(until: Date): PendingReport[] {
    const rows = this.#db.prepare(
      "SELECT * FROM evaluations WHERE time < ? ORDER BY policy_domain, time, rowid",
    ).all(until.getTime()) as unknown as Row[];
    const out: PendingReport[] = [];
    for (const row of rows) {
      const e = evaluationOf(row);
      const last = out.at(-1);
      if (last && last.policyDomain === e.policyDomain) {
        last.evaluations.push(e);
        last.policy = e.policy;
        last.rua = e.rua;
      } else {
        out.push({
          policyDomain: e.policyDomain,
          policy: e.policy,
          rua: e.rua,
          begin: e.time,
          evaluations: [e],
        });
      }
    }
    return out;
  }

  /** The evaluations of `domain` before `until` were reported: they are deleted. */
  markReported(domain: string, until: Date): void {
    this.#db.prepare("DELETE FROM evaluations WHERE policy_domain = ? AND time < ?")
      .run(domain.toLowerCase(), until.getTime());
  }

  /** Drop evaluations older than {@linkcode RETENTION_MS} before `now`; returns how many. */
  prune(now: Date): number {
    const r = this.#db.prepare("DELETE FROM evaluations WHERE time < ?")
      .run(now.getTime() - RETENTION_MS);
    return Number(r.changes);
  }

  /** A stored state value (the report scheduler's). */
  getState(key: string): string | undefined {
    const r = this.#db.prepare("SELECT value FROM state WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return r?.value;
  }

  /** Store a state value. */
  setState(key: string, value: string): void {
    this.#db.prepare("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)").run(key, value);
  }

  /** Close the database. */
  close(): void {
    this.#db.close();
  }
}

function evaluationOf(row: Row): DmarcEvaluation {
  return {
    time: new Date(Number(row.time)),
    sourceIp: row.source_ip,
    headerFrom: row.header_from,
    envelopeFrom: row.envelope_from,
    policyDomain: row.policy_domain,
    policy: JSON.parse(row.policy),
    rua: JSON.parse(row.rua),
    disposition: row.disposition as DmarcPolicy,
    ...(row.override ? { override: row.override as PolicyOverride } : {}),
    dkimAligned: row.dkim_aligned as "pass" | "fail",
    spfAligned: row.spf_aligned as "pass" | "fail",
    dkim: JSON.parse(row.dkim),
    spf: JSON.parse(row.spf),
  };
}
