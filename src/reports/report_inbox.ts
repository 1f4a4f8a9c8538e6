/**
 * What happens to a mail that arrives for the DMARC report address (`reports.address`): it is
 * parsed as an aggregate report (RFC 7489 §7.2); a valid report about one of our domains goes
 * into the {@link ReportStore} (once per reporter and report id), anything else is kept aside
 * in `<data_dir>/reports/rejected/` as `<time>-<random>.eml` with a `.reason` file beside it
 * (one line: why), so that the operator can look at it and nothing is lost silently.
 *
 * @module
 */

import { join } from "node:path";
import { mkdirDurable, syncDir, writeAll } from "../fs/durable.ts";
import { writeNewFile } from "../fs/write_new_file.ts";
import { log } from "../log/logger.ts";
import { parseReportMessage } from "./aggregate_parser.ts";
import { ReportStore } from "./report_store.ts";

const logger = log("reports");

/** Where rejected report mails are kept, under the data directory. */
export function rejectedReportsDir(dataDir: string): string {
  return join(dataDir, "reports", "rejected");
}

/** The outcome of {@link ingestReport}, for the log. */
export type IngestResult =
  | { outcome: "stored"; orgName: string; reportId: string; domain: string; records: number }
  | { outcome: "duplicate"; orgName: string; reportId: string; domain: string }
  | { outcome: "rejected"; reason: string; file: string };

/** Options of {@link ingestReport}. */
export interface IngestOptions {
  /** The reception time (default: now). */
  now?: Date;
  /**
   * Our domains: a report about another domain is kept aside. Default: any domain (a report
   * can only reach `reports.address` if some record of ours names it).
   */
  domains?: readonly string[];
}

/**
 * Parse `message` (a whole mail) and store the report in `<dataDir>/dmarc-reports.db`, or
 * keep the mail aside with the reason. Throws only on I/O errors.
 */
export async function ingestReport(
  dataDir: string,
  message: Uint8Array,
  options: IngestOptions | Date = {},
): Promise<IngestResult> {
  const opts: IngestOptions = options instanceof Date ? { now: options } : options;
  const now = opts.now ?? new Date();
  const parsed = parseReportMessage(message);
  let reason: string;
  if (!parsed.ok) {
    reason = parsed.reason;
  } else if (opts.domains && !opts.domains.includes(parsed.report.policy.domain)) {
    reason = `the report is about ${parsed.report.policy.domain}, not one of our domains`;
  } else {
    const { report } = parsed;
    const store = await ReportStore.open(dataDir);
    try {
      const base = {
        orgName: report.orgName,
        reportId: report.reportId,
        domain: report.policy.domain,
      };
      if (!store.add(report, now)) {
        logger.info("duplicate DMARC report {reportId} from {orgName} ignored", base);
        return { outcome: "duplicate", ...base };
      }
      logger.info("DMARC report {reportId} from {orgName} about {domain} stored", {
        ...base,
        records: report.records.length,
      });
      return { outcome: "stored", ...base, records: report.records.length };
    } finally {
      store.close();
    }
  }
  const file = await keepAside(dataDir, message, reason, now);
  logger.warn("DMARC report rejected: {reason}", { reason, file });
  return { outcome: "rejected", reason, file };
}

/** Write the mail and its reason into the rejected folder; the path of the `.eml`. */
async function keepAside(
  dataDir: string,
  message: Uint8Array,
  reason: string,
  now: Date,
): Promise<string> {
  const dir = rejectedReportsDir(dataDir);
  await mkdirDurable(dir);
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const base = join(dir, `${stamp}-${crypto.randomUUID().slice(0, 8)}`);
  const eml = `${base}.eml`;
  const f = await Deno.open(eml, { write: true, createNew: true, mode: 0o600 });
  try {
    await writeAll(f, message);
    await f.sync();
  } finally {
    f.close();
  }
  await writeNewFile(`${base}.reason`, reason.replace(/[\r\n]+/g, " ") + "\n", 0o600);
  await syncDir(dir);
  return eml;
}
