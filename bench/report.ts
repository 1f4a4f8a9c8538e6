/**
 * The benchmark's markdown report (bench/results/latest.md): machine, versions, every number,
 * and the checks that failed.
 *
 * @module
 */

import { dirname } from "node:path";
import { run } from "../tests/interop/tools.ts";
import type { MachineInfo } from "./measure.ts";
import { median } from "./measure.ts";
import { type ImapReport, renderImap } from "./imap.ts";

/** One repetition of one inbound case on one server. */
export interface InboundRun {
  msgsPerSec: number;
  /** Messages acknowledged with 250 (NaN when smtp-source failed: unknown). */
  acked: number;
  /** Stored in the mailbox once it settled; null for smtp-sink. */
  stored: number | null;
  /** Messages per second counted until the last one was stored (Postfix stores after 250). */
  storedPerSec?: number;
  /** CPU time of the server's processes per message, ms. */
  cpuMsPerMsg: number;
  /** Queries to the benchmark's DNS server per message. */
  dnsPerMsg: number;
  error?: string;
}

/** Latency of one server. */
export interface LatencyResult {
  n: number;
  ok: number;
  p50: number;
  p99: number;
  mailP50: number;
  mailP99: number;
  stored: number | null;
  errors: string[];
}

/** Outbound delivery rate of one server. */
export interface OutboundResult {
  n: number;
  delivered: number;
  queued: number;
  msgsPerSec: number;
  injectPerSec: number;
  error?: string;
}

/** Idle connections on one server. */
export interface IdleResult {
  n: number;
  skipped?: string;
  greeted?: number;
  connectFailed?: number;
  rejected?: number;
  noGreeting?: number;
  kbPerConn?: number;
  baseMb?: number;
  afterMb?: number;
  processes?: number;
  connectMs?: number;
  errors?: string[];
}

/** Everything a run produced. */
export interface Report {
  opts: {
    smoke: boolean;
    servers: string[];
    cases: string[];
    reps: number;
    count: number;
    latency: number;
    outbound: number;
    idle: number[];
  };
  machine: MachineInfo;
  versions: { postie: string; haraka: string };
  nofile: { soft: number; hard: number };
  /** Key: `<case>|<server>`. */
  inbound: Map<string, InboundRun[]>;
  latency: Map<string, LatencyResult>;
  outbound: Map<string, OutboundResult>;
  /** Key: `<n>|<server>`. */
  idle: Map<string, IdleResult>;
  /** The IMAP tests (postie and Dovecot), when they ran. */
  imap?: ImapReport;
  unavailable: Map<string, string>;
  failures: string[];
  seconds: number;
}

const f = (n: number | undefined, d = 1) =>
  n !== undefined && Number.isFinite(n) ? n.toFixed(d) : "n/a";

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Render the report as markdown. */
export function renderReport(r: Report): string {
  const m = r.machine;
  const o = r.opts;
  const servers = o.servers.filter((s) => !r.unavailable.has(s));
  const parts: string[] = [];
  parts.push(
    `# postie benchmark${o.smoke ? " (smoke run: numbers are not meaningful)" : ""}`,
    "",
    "Written by `deno task bench` (bench/main.ts); method in bench/README.md.",
    "",
    table(["", ""], [
      ["date", m.date],
      ["machine", `${m.nproc} CPUs (${m.cpu}), ${m.memGb} GiB RAM, kernel ${m.kernel}`],
      [
        "data directories",
        `${m.filesystem}; creating a 1 KB file there: ${m.createMs.toFixed(3)} ms`,
      ],
      [
        "versions",
        `postie ${r.versions.postie}, Deno ${m.deno}, Postfix ${m.postfix}, ` +
        `Haraka ${r.versions.haraka} on Node ${m.node}`,
      ],
      ["RLIMIT_NOFILE", `${r.nofile.soft} (hard ${r.nofile.hard})`],
      [
        "run",
        `${o.reps} repetition(s) of ${o.count} messages per case; smtp-source, one message ` +
        `per connection; ${r.seconds.toFixed(0)} s in all`,
      ],
    ]),
    "",
  );
  if (r.unavailable.size > 0) {
    parts.push("## Unavailable servers", "");
    for (const [s, why] of r.unavailable) parts.push(`- **${s}**: ${why}`);
    parts.push("");
  }
  if (r.inbound.size > 0) {
    parts.push(
      "## Inbound (msgs/s: median [min–max])",
      "",
      "Wall time of one `smtp-source` run; every acknowledged message must then be found in the " +
        "mailbox (`stored`). Postfix and postie deliver to the Maildir after their 250 (Postfix's " +
        "queue file, postie's spool journal are fsynced first): their rate until the last " +
        "message was stored is in parentheses.",
      "",
    );
    const ratioServers = ["postfix", "haraka", "sink"].filter((s) => servers.includes(s));
    const head = ["case", ...servers];
    if (servers.includes("postie")) head.push(...ratioServers.map((s) => `postie/${s}`));
    const rows: string[][] = [];
    for (const c of o.cases) {
      const row = [c];
      const med = new Map<string, number>();
      for (const s of servers) {
        const runs = r.inbound.get(`${c}|${s}`);
        if (!runs) {
          row.push("n/a");
          continue;
        }
        const rates = runs.map((x) => x.msgsPerSec);
        med.set(s, median(rates));
        let cell = `${f(median(rates))} [${f(Math.min(...rates))}–${f(Math.max(...rates))}]`;
        if (s === "postfix" || s === "postie") {
          cell += ` (${f(median(runs.map((x) => x.storedPerSec ?? NaN)))})`;
        }
        const bad = runs.filter((x) => x.error || (x.stored !== null && x.stored !== x.acked));
        if (s !== "sink") {
          const stored = runs.reduce((a, x) => a + (x.stored ?? 0), 0);
          const acked = runs.reduce((a, x) => a + (Number.isNaN(x.acked) ? 0 : x.acked), 0);
          cell += ` stored ${stored}/${acked}`;
        }
        if (bad.length > 0) cell += " **FAIL**";
        row.push(cell);
      }
      if (servers.includes("postie")) {
        for (const s of ratioServers) {
          row.push(med.has("postie") && med.has(s) ? f(med.get("postie")! / med.get(s)!, 2) : "");
        }
      }
      rows.push(row);
    }
    parts.push(table(head, rows), "");
    parts.push(
      "CPU time of the server's processes per message (ms, median; user + system, children " +
        "included) and, in parentheses, queries to the benchmark's DNS server per message:",
      "",
      table(
        ["case", ...servers],
        o.cases.map((c) => [
          c,
          ...servers.map((s) => {
            const runs = r.inbound.get(`${c}|${s}`);
            if (!runs) return "n/a";
            return `${f(median(runs.map((x) => x.cpuMsPerMsg)), 2)} ` +
              `(${f(median(runs.map((x) => x.dnsPerMsg)), 2)})`;
          }),
        ]),
      ),
      "",
    );
  }
  if (r.latency.size > 0) {
    parts.push(
      "## Latency of one transaction (c1, 1 KB, ms)",
      "",
      `${o.latency} sequential transactions, each on a new connection: connect, greeting, EHLO, ` +
        "MAIL, RCPT, DATA, message; timed from connect() to the 250 after the message (QUIT " +
        "not included). The MAIL→250 columns leave out connect, greeting and EHLO.",
      "",
      table(
        ["server", "p50", "p99", "MAIL→250 p50", "MAIL→250 p99", "ok", "stored"],
        [...r.latency].map(([s, l]) => [
          s,
          f(l.p50, 2),
          f(l.p99, 2),
          f(l.mailP50, 2),
          f(l.mailP99, 2),
          `${l.ok}/${l.n}`,
          l.stored === null ? "n/a" : `${l.stored}/${l.ok}`,
        ]),
      ),
      "",
    );
  }
  if (r.outbound.size > 0) {
    parts.push(
      "## Outbound delivery to smtp-sink",
      "",
      `${o.outbound} messages (1 KB) injected over SMTP by smtp-source (20 sessions) for ` +
        "user@remote.test while smtp-sink runs; timed from the start of the injection until " +
        "the queue is empty and smtp-sink counted every message. Each server at its default " +
        "delivery concurrency (postie: queue.concurrency 20, per_domain_concurrency 4; " +
        "Postfix: default_destination_concurrency_limit 20).",
      "",
      table(
        ["server", "msgs/s", "injection msgs/s", "delivered", "note"],
        [...r.outbound].map(([s, x]) => [
          s,
          f(x.msgsPerSec),
          f(x.injectPerSec),
          `${x.delivered}/${x.n}`,
          x.error ? `**FAIL** ${x.error}` : "",
        ]),
      ),
      "",
    );
  }
  if (r.idle.size > 0) {
    parts.push(
      "## Idle connections",
      "",
      "A fresh instance, warmed up with a few messages; PSS (from /proc/PID/smaps_rollup, " +
        "summed over all the server's processes) before and after opening N connections that " +
        "each got their 220 greeting and then stay silent; (after − before) / greeted. " +
        "Postfix's process limit is raised to N + 100 for this test (one smtpd per connection).",
      "",
      table(
        ["N", "server", "KB/conn", "greeted", "refused", "PSS before MB", "PSS after MB", "procs"],
        [...r.idle].map(([key, i]) => {
          const s = key.split("|")[1]!;
          if (i.skipped) return [String(i.n), s, "skipped", i.skipped, "", "", "", ""];
          return [
            String(i.n),
            s,
            f(i.kbPerConn),
            `${i.greeted}/${i.n}`,
            String(i.connectFailed! + i.rejected! + i.noGreeting!),
            f(i.baseMb),
            f(i.afterMb),
            String(i.processes),
          ];
        }),
      ),
      "",
    );
  }
  if (r.imap) parts.push(renderImap(r.imap));
  parts.push("## Checks", "");
  if (r.failures.length === 0) parts.push("All checks passed.");
  else for (const x of r.failures) parts.push(`- FAIL ${x}`);
  parts.push("");
  return parts.join("\n");
}

/**
 * Write the report to `path` (creating its directory), then format it with `deno fmt`, so that
 * the project's `deno fmt --check` accepts a report left in the tree.
 */
export async function writeReport(path: string, r: Report): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, renderReport(r));
  const res = await run(Deno.execPath(), {
    args: ["fmt", "--quiet", path],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    timeoutMs: 60_000,
  });
  if (res.code !== 0) throw new Error(`deno fmt ${path}: ${res.stderr}`);
}
