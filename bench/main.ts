/**
 * `deno task bench`: postie side by side with Postfix, Haraka and smtp-sink, all on loopback,
 * driven by the same `smtp-source` runs, and postie's IMAP side by side with Dovecot
 * (bench/imap.ts). See bench/README.md for what is measured and how.
 *
 * Exit status: 0 when every case passed its checks, 1 when a check failed (a server
 * acknowledged mail it did not store, an smtp-source run failed, an outbound run did not
 * deliver everything), 2 when the harness itself broke.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { TestDnsServer } from "../tests/support/dns_server.ts";
import { postfixProgram } from "../tests/interop/postfix/processes.ts";
import { VERSION } from "../src/version.ts";
import {
  type BenchServer,
  DOMAIN,
  HELO,
  MAILBOX,
  REMOTE_RCPT,
  REPO,
  SENDER,
  SERVER_NAMES,
  type ServerName,
  type Sink,
  type StartContext,
  startPostfixServer,
  startPostie,
  startSink,
} from "./servers.ts";
import { findHaraka, HARAKA_VERSION, startHaraka } from "./haraka.ts";
import {
  machineInfo,
  median,
  memAvailableKb,
  nofileLimit,
  percentile,
  postieState,
  sleep,
} from "./measure.ts";
import { makeMessage, openIdle, timedTransaction } from "./smtp.ts";
import { type InboundRun, type Report, writeReport } from "./report.ts";
import { IMAP_SERVER_NAMES, imapPhase, type ImapServerName, imapSummary } from "./imap.ts";

// ---------------------------------------------------------------------------------------------
// Options

/** One inbound case: `c<concurrency>_s<size>k`. */
export interface Case {
  name: string;
  concurrency: number;
  /** Payload octets given to smtp-source -l. */
  size: number;
}

const ALL_CASES = ["c1_s1k", "c1_s10k", "c1_s100k", "c20_s1k", "c20_s10k", "c20_s100k"]
  .concat(["c100_s1k", "c100_s10k", "c100_s100k"]);
const SMOKE_CASES = ["c20_s1k", "c1_s1k"];
const TESTS = [
  "inbound",
  "latency",
  "outbound",
  "idle",
  "imap-stress",
  "imap-select",
  "imap-idle",
] as const;
type Test = typeof TESTS[number];

function parseCase(name: string): Case {
  const m = /^c(\d+)_s(\d+)k$/.exec(name);
  if (!m) throw new UsageError(`bad case "${name}" (expected c<connections>_s<KB>k)`);
  return { name, concurrency: Number(m[1]), size: Number(m[2]) * 1024 };
}

class UsageError extends Error {}

interface Options {
  smoke: boolean;
  servers: ServerName[];
  /** The IMAP tests' servers (postie, dovecot). */
  imapServers: ImapServerName[];
  cases: Case[];
  reps: number;
  count: number;
  tests: Set<Test>;
  idle: number[];
  latency: number;
  outbound: number;
  warmup: number;
  /** imaptest stress: seconds (10 clients). */
  imapSecs: number;
  /** Messages in the mailbox of the SELECT test. */
  imapMessages: number;
  /** Idle IMAP connections. */
  imapIdle: number;
  out: string;
  /** Where every server's data directory goes (TMPDIR for us and the servers we start). */
  dir: string;
}

const USAGE = `usage: deno task bench [--smoke] [--servers postie,postfix,haraka,sink,dovecot]
       [--cases c20_s1k,...] [--reps N] [--count N]
       [--tests inbound,latency,outbound,idle,imap-stress,imap-select,imap-idle]
       [--idle 1000,10000] [--latency N] [--outbound N]
       [--imap-secs S] [--imap-messages N] [--imap-idle N] [--out FILE] [--dir DIR]`;

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      smoke: { type: "boolean" },
      servers: { type: "string" },
      cases: { type: "string" },
      reps: { type: "string" },
      count: { type: "string" },
      tests: { type: "string" },
      idle: { type: "string" },
      latency: { type: "string" },
      outbound: { type: "string" },
      "imap-secs": { type: "string" },
      "imap-messages": { type: "string" },
      "imap-idle": { type: "string" },
      out: { type: "string" },
      dir: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) throw new UsageError("");
  const smoke = values.smoke ?? false;
  const list = (s: string | undefined) => s?.split(",").map((x) => x.trim()).filter((x) => x);
  const int = (s: string | undefined, def: number, what: string, min = 0) => {
    if (s === undefined) return def;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`bad ${what} "${s}"`);
    return n;
  };
  const known: readonly string[] = [...SERVER_NAMES, ...IMAP_SERVER_NAMES];
  const servers = (list(values.servers) ?? [...known]).map((s) => {
    if (!known.includes(s)) {
      throw new UsageError(`unknown server "${s}" (${[...new Set(known)].join(", ")})`);
    }
    return s;
  });
  const tests = new Set((list(values.tests) ?? [...TESTS]).map((t) => {
    if (!(TESTS as readonly string[]).includes(t)) throw new UsageError(`unknown test "${t}"`);
    return t as Test;
  }));
  const count = int(values.count, smoke ? 100 : 2000, "--count", 1);
  return {
    smoke,
    servers: SERVER_NAMES.filter((s) => servers.includes(s)),
    imapServers: IMAP_SERVER_NAMES.filter((s) => servers.includes(s)),
    cases: (list(values.cases) ?? (smoke ? SMOKE_CASES : ALL_CASES)).map(parseCase),
    reps: int(values.reps, smoke ? 1 : 3, "--reps", 1),
    count,
    tests,
    idle: (list(values.idle) ?? (smoke ? ["200"] : ["1000", "10000"])).map((s) =>
      int(s, 0, "--idle", 1)
    ),
    latency: int(values.latency, smoke ? 30 : 200, "--latency", 1),
    outbound: int(values.outbound, smoke ? 100 : count, "--outbound", 1),
    warmup: smoke ? 20 : 200,
    imapSecs: int(values["imap-secs"], smoke ? 2 : 30, "--imap-secs", 1),
    imapMessages: int(values["imap-messages"], smoke ? 1000 : 10_000, "--imap-messages", 1),
    imapIdle: int(values["imap-idle"], smoke ? 10 : 1000, "--imap-idle", 1),
    out: values.out ?? join(REPO, "bench", "results", smoke ? "smoke.md" : "latest.md"),
    dir: values.dir ?? "/var/tmp/postie-bench",
  };
}

// ---------------------------------------------------------------------------------------------
// Output

const enc = new TextEncoder();
/** A result line on stdout. */
function out(line: string): void {
  Deno.stdout.writeSync(enc.encode(line + "\n"));
}
/** Progress on stderr. */
function progress(line: string): void {
  Deno.stderr.writeSync(enc.encode(`# ${line}\n`));
}
const fmt = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "n/a";

// ---------------------------------------------------------------------------------------------
// Running servers

/** What a signal must stop. */
interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

const running = new Set<Stoppable>();

async function start(name: ServerName, ctx: StartContext): Promise<BenchServer> {
  const s = name === "postie"
    ? await startPostie(ctx)
    : name === "postfix"
    ? await startPostfixServer(ctx)
    : name === "haraka"
    ? await startHaraka(ctx)
    : await startSink(ctx.connections);
  running.add(s);
  return s;
}

async function stop(s: Stoppable): Promise<void> {
  running.delete(s);
  await s.stop().catch((e) => progress(`stopping ${s.name}: ${e}`));
}

async function stopAll(): Promise<void> {
  await Promise.all([...running].map(stop));
}

/** Why a server cannot take part at all (Haraka not installable...). */
const unavailable = new Map<ServerName, string>();
/** Failed checks, for the exit status and the report. */
const failures: string[] = [];

function fail(what: string): void {
  failures.push(what);
  progress(`FAIL ${what}`);
}

function oneLine(text: string, max = 300): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > max ? t.slice(0, max) + "..." : t;
}

// ---------------------------------------------------------------------------------------------
// smtp-source

interface SourceRun {
  ms: number;
  code: number;
  /** Killed by a signal that the benchmark did not send (someone else's kill). */
  killedBy: Deno.Signal | null;
  stderr: string;
}

let smtpSource = "";

/**
 * One smtp-source run: `sessions` parallel sessions, `count` messages of `size` payload
 * octets, one message per session (no -d), HELO client.source.test. Without -A smtp-source
 * exits non-zero at the first reply that is not the expected one, so exit 0 means every
 * message got its 250.
 */
async function runSource(
  port: number,
  sessions: number,
  count: number,
  size: number,
  rcpt = MAILBOX,
  timeoutMs = 900_000,
): Promise<SourceRun> {
  const args = ["-4", "-s", String(sessions), "-m", String(count), "-l", String(size)]
    .concat(["-M", HELO, "-f", SENDER, "-t", rcpt, `127.0.0.1:${port}`]);
  const t0 = performance.now();
  const child = new Deno.Command(smtpSource, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
  }, timeoutMs);
  const o = await child.output();
  clearTimeout(timer);
  const ms = performance.now() - t0;
  let stderr = new TextDecoder().decode(o.stderr);
  if (timedOut) stderr += ` (killed after ${timeoutMs / 1000} s)`;
  const killedBy = o.signal !== null && !timedOut ? o.signal : null;
  if (killedBy) stderr += ` (killed by ${killedBy}, not sent by the benchmark)`;
  return { ms, code: o.code, killedBy, stderr };
}

/** Poll `fn` until it returns true or `ms` pass; returns the elapsed time or null. */
async function until(fn: () => Promise<boolean>, ms: number, every = 50): Promise<number | null> {
  const t0 = performance.now();
  for (;;) {
    if (await fn()) return performance.now() - t0;
    if (performance.now() - t0 > ms) return null;
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------------------------
// Inbound

/** smtp-source was killed from outside the benchmark: the run says nothing about the server. */
class Disturbed extends Error {}

async function inboundRun(
  s: BenchServer,
  c: Case,
  count: number,
  dns: TestDnsServer,
): Promise<InboundRun> {
  await s.clear();
  const cpu0 = await s.cpuMs();
  const dns0 = dns.queries.length;
  const src = await runSource(s.port, c.concurrency, count, c.size);
  if (src.killedBy) throw new Disturbed(src.stderr);
  const run: InboundRun = {
    msgsPerSec: count / (src.ms / 1000),
    acked: src.code === 0 ? count : NaN,
    stored: null,
    cpuMsPerMsg: NaN,
    dnsPerMsg: NaN,
  };
  const finish = async () => {
    run.dnsPerMsg = (dns.queries.length - dns0) / count;
    if (s.alive()) run.cpuMsPerMsg = (await s.cpuMs() - cpu0) / count;
    else run.error = (run.error ? run.error + "; " : "") + "server process died";
    return run;
  };
  if (src.code !== 0) {
    run.error = `smtp-source exited ${src.code}: ${oneLine(src.stderr)}`;
    run.msgsPerSec = NaN;
  }
  if (s.name === "sink") {
    const received = await (s as Sink).received();
    if (src.code === 0 && received !== count) {
      run.error = `smtp-sink counted ${received} of ${count} messages`;
    }
    return await finish();
  }
  // Wait until the mailbox holds what was acknowledged (Postfix and postie deliver into the
  // Maildir after their 250: Postfix from its fsynced queue file, postie from its journal).
  const want = src.code === 0 ? count : 0;
  let stored = 0;
  const settled = await until(
    async () => (stored = (await s.stored()) ?? 0) >= want,
    60_000 + count * 20,
  );
  if (settled !== null && src.code === 0) {
    run.storedPerSec = count / ((src.ms + settled) / 1000);
    await sleep(200); // anything beyond the acknowledged count would be a duplicate
    stored = (await s.stored()) ?? 0;
  }
  run.stored = stored;
  return await finish();
}

// ---------------------------------------------------------------------------------------------
// The phases

interface Ctx {
  opts: Options;
  dns: TestDnsServer;
  report: Report;
}

async function inboundPhase(ctx: Ctx): Promise<void> {
  const { opts } = ctx;
  const servers: BenchServer[] = [];
  for (const name of opts.servers) {
    if (unavailable.has(name)) continue;
    try {
      progress(`starting ${name}`);
      const s = await start(name, { dns: ctx.dns });
      // Warm-up (not measured): JIT, caches, smtpd processes, first files in the Maildir.
      const w = await runSource(s.port, 10, opts.warmup, 1024);
      if (w.code !== 0) throw new Error(`warm-up failed: ${oneLine(w.stderr)}`);
      if (s.name !== "sink") await until(async () => (await s.stored()) === opts.warmup, 60_000);
      servers.push(s);
    } catch (e) {
      unavailable.set(name, oneLine(String(e), 500));
      progress(`${name}: unavailable: ${unavailable.get(name)}`);
    }
  }
  try {
    if (opts.tests.has("inbound")) {
      for (let rep = 1; rep <= opts.reps; rep++) {
        for (const [ci, c] of opts.cases.entries()) {
          // The order rotates, so that no server always goes first (right after the warm-up
          // or the previous case's burst of writeback).
          const k = (rep - 1 + ci) % servers.length;
          for (const s of [...servers.slice(k), ...servers.slice(0, k)]) {
            let r: InboundRun;
            try {
              r = await inboundRun(s, c, opts.count, ctx.dns);
            } catch (e) {
              if (!(e instanceof Disturbed)) throw e;
              // Another process killed smtp-source (a shared machine): run it again, once.
              progress(`inbound ${c.name} ${s.name}: ${oneLine(e.message)}; running it again`);
              r = await inboundRun(s, c, opts.count, ctx.dns).catch((e2) => {
                if (!(e2 instanceof Disturbed)) throw e2;
                return {
                  msgsPerSec: NaN,
                  acked: NaN,
                  stored: null,
                  cpuMsPerMsg: NaN,
                  dnsPerMsg: NaN,
                  error: `smtp-source: ${oneLine(e2.message)}`,
                };
              });
            }
            const key = `${c.name}|${s.name}`;
            const list = ctx.report.inbound.get(key) ?? [];
            list.push(r);
            ctx.report.inbound.set(key, list);
            progress(
              `inbound ${c.name} ${s.name} rep ${rep}/${opts.reps}: ${fmt(r.msgsPerSec)} msgs/s` +
                ` cpu=${fmt(r.cpuMsPerMsg, 2)}ms/msg dns=${fmt(r.dnsPerMsg, 2)}/msg` +
                (r.stored !== null ? ` stored=${r.stored}/${r.acked}` : "") +
                (r.error ? ` ERROR ${r.error}` : ""),
            );
          }
        }
      }
    }
    if (opts.tests.has("latency")) {
      for (const s of servers) await latencyRun(ctx, s);
    }
  } finally {
    for (const s of servers) await stop(s);
  }
}

async function latencyRun(ctx: Ctx, s: BenchServer): Promise<void> {
  const n = ctx.opts.latency;
  await s.clear();
  const totals: number[] = [];
  const mails: number[] = [];
  const errors: string[] = [];
  for (let i = 0; i < n && errors.length < 5; i++) {
    const msg = makeMessage(SENDER, MAILBOX, 1024, `lat${i}.${Date.now()}`);
    try {
      const t = await timedTransaction(s.port, SENDER, MAILBOX, msg);
      totals.push(t.totalMs);
      mails.push(t.mailMs);
    } catch (e) {
      errors.push(oneLine(String(e)));
    }
  }
  let stored: number | null = null;
  if (s.name !== "sink") {
    await until(async () => ((await s.stored()) ?? 0) >= totals.length, 60_000);
    stored = await s.stored();
  }
  ctx.report.latency.set(s.name, {
    n,
    ok: totals.length,
    p50: percentile(totals, 50),
    p99: percentile(totals, 99),
    mailP50: percentile(mails, 50),
    mailP99: percentile(mails, 99),
    stored,
    errors,
  });
  progress(`latency ${s.name}: p50=${fmt(percentile(totals, 50), 2)} ms`);
}

async function outboundPhase(ctx: Ctx): Promise<void> {
  const n = ctx.opts.outbound;
  for (const name of ctx.opts.servers) {
    if (name !== "postie" && name !== "postfix") continue;
    if (unavailable.has(name)) continue;
    let sink: Sink | undefined;
    let s: BenchServer | undefined;
    try {
      progress(`outbound ${name}: starting smtp-sink and ${name}`);
      sink = await startSink();
      running.add(sink);
      s = await start(name, { dns: ctx.dns, relayPort: sink.port });
      const t0 = performance.now();
      const src = await runSource(s.port, 20, n, 1024, REMOTE_RCPT);
      const injectMs = performance.now() - t0;
      if (src.code !== 0) throw new Error(`injecting: smtp-source: ${oneLine(src.stderr)}`);
      let received = 0;
      let queued = -1;
      const done = await until(
        async () => {
          received = await sink!.received();
          queued = await s!.queued!();
          return received >= n && queued === 0;
        },
        120_000 + n * 50,
        100,
      );
      const totalMs = performance.now() - t0;
      const r = {
        n,
        delivered: received,
        queued,
        msgsPerSec: done === null ? NaN : n / (totalMs / 1000),
        injectPerSec: n / (injectMs / 1000),
        error: done === null ? `timed out: sink has ${received}/${n}, ${queued} queued` : undefined,
      };
      ctx.report.outbound.set(name, r);
      if (r.error || received !== n) fail(`outbound ${name}: ${r.error ?? `${received}/${n}`}`);
      progress(`outbound ${name}: ${fmt(r.msgsPerSec)} msgs/s delivered=${received}/${n}`);
    } catch (e) {
      ctx.report.outbound.set(name, {
        n,
        delivered: 0,
        queued: -1,
        msgsPerSec: NaN,
        injectPerSec: NaN,
        error: oneLine(String(e)),
      });
      fail(`outbound ${name}: ${oneLine(String(e))}`);
    } finally {
      if (s) await stop(s);
      if (sink) await stop(sink);
    }
  }
}

async function idlePhase(ctx: Ctx): Promise<void> {
  const limit = await nofileLimit();
  for (const name of ctx.opts.servers) {
    if (name === "sink" || unavailable.has(name)) continue;
    let perConnKb = NaN;
    for (const n of ctx.opts.idle) {
      const key = `${n}|${name}`;
      if (limit.soft < n + 500) {
        ctx.report.idle.set(key, {
          n,
          skipped: `RLIMIT_NOFILE is ${limit.soft}; run with ulimit -n ${n + 1000} or more`,
        });
        continue;
      }
      const avail = await memAvailableKb();
      if (Number.isFinite(perConnKb) && perConnKb * n * 1.5 > avail * 0.7) {
        ctx.report.idle.set(key, {
          n,
          skipped: `would need ~${Math.round(perConnKb * n / 1024)} MB (${fmt(perConnKb)} KB ` +
            `per connection), ${Math.round(avail / 1024)} MB available`,
        });
        continue;
      }
      let s: BenchServer | undefined;
      let conns: { close(): void }[] = [];
      try {
        progress(`idle ${n} ${name}: starting`);
        s = await start(name, { dns: ctx.dns, connections: n });
        const w = await runSource(s.port, 10, ctx.opts.warmup, 1024);
        if (w.code !== 0) throw new Error(`warm-up failed: ${oneLine(w.stderr)}`);
        await sleep(1500);
        const before = await s.pss();
        const res = await openIdle(s.port, n, 100, 60_000);
        conns = res.conns;
        await sleep(2000);
        const after = await s.pss();
        const greeted = res.conns.length;
        perConnKb = greeted > 0 ? (after.kb - before.kb) / greeted : NaN;
        const stillOpen = s.alive();
        ctx.report.idle.set(key, {
          n,
          greeted,
          connectFailed: res.connectFailed,
          rejected: res.rejected,
          noGreeting: res.noGreeting,
          kbPerConn: perConnKb,
          baseMb: before.kb / 1024,
          afterMb: after.kb / 1024,
          processes: after.processes,
          connectMs: res.ms,
          errors: res.errors,
        });
        progress(
          `idle ${n} ${name}: ${fmt(perConnKb)} KB/conn, greeted ${greeted}/${n}` +
            (stillOpen ? "" : " (server died)"),
        );
      } catch (e) {
        ctx.report.idle.set(key, { n, skipped: `error: ${oneLine(String(e))}` });
        progress(`idle ${n} ${name}: ${e}`);
      } finally {
        for (const c of conns) c.close();
        if (s) await stop(s);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Summary

/** Servers whose 250 comes before the Maildir delivery (their stored rate is reported too). */
const DELIVERS_LATER = new Set<string>(["postie", "postfix"]);

function summarize(ctx: Ctx): void {
  const { opts, report } = ctx;
  for (const [name, why] of unavailable) out(`${name}: unavailable: ${why}`);
  for (const c of opts.tests.has("inbound") ? opts.cases : []) {
    const med = new Map<ServerName, number>();
    for (const name of opts.servers) {
      const runs = report.inbound.get(`${c.name}|${name}`);
      if (!runs) continue;
      const rates = runs.map((r) => r.msgsPerSec);
      med.set(name, median(rates));
      const acked = runs.reduce((a, r) => a + (Number.isNaN(r.acked) ? 0 : r.acked), 0);
      const stored = runs.reduce((a, r) => a + (r.stored ?? 0), 0);
      const problems = runs.filter((r) => r.error || (r.stored !== null && r.stored !== r.acked));
      const unknown = runs.some((r) => Number.isNaN(r.acked)) ? "?" : "";
      const storedText = name === "sink"
        ? "stored=n/a(no disk)"
        : `stored=${stored}/${unknown ? `${acked}+?` : acked}`;
      const e2e = runs.map((r) => r.storedPerSec ?? NaN);
      const cpu = median(runs.map((r) => r.cpuMsPerMsg));
      const line = `inbound ${c.name} ${name} msgs/s min=${fmt(Math.min(...rates))} ` +
        `med=${fmt(median(rates))} max=${fmt(Math.max(...rates))} ${storedText}` +
        (DELIVERS_LATER.has(name) ? ` stored_msgs/s_med=${fmt(median(e2e))}` : "") +
        ` cpu_ms/msg=${fmt(cpu, 2)}`;
      if (problems.length > 0) {
        const why = problems.map((r) => r.error ?? `stored ${r.stored} of ${r.acked}`);
        out(`${line} FAIL ${oneLine(why.join("; "))}`);
        fail(`inbound ${c.name} ${name}: ${oneLine(why.join("; "))}`);
      } else out(line);
    }
    const postie = med.get("postie");
    if (postie !== undefined) {
      const parts = (["postfix", "haraka", "sink"] as const).filter((n) => med.has(n))
        .map((n) => `postie/${n}=${fmt(postie / med.get(n)!, 2)}`);
      if (parts.length > 0) out(`ratio inbound ${c.name} ${parts.join(" ")}`);
    }
  }
  for (const [name, l] of report.latency) {
    out(
      `latency c1_s1k ${name} p50_ms=${fmt(l.p50, 2)} p99_ms=${fmt(l.p99, 2)} ` +
        `n=${l.ok}/${l.n}` + (l.stored !== null ? ` stored=${l.stored}/${l.ok}` : "") +
        (l.errors.length ? ` errors=${oneLine(l.errors.join("; "))}` : ""),
    );
    if (l.errors.length > 0 || (l.stored !== null && l.stored !== l.ok)) {
      fail(`latency ${name}: ${l.errors.length} errors, stored ${l.stored}/${l.ok}`);
    }
  }
  const lp = report.latency.get("postie");
  if (lp) {
    const parts = (["postfix", "haraka", "sink"] as const).filter((n) => report.latency.has(n))
      .map((n) => `postie/${n}=${fmt(lp.p50 / report.latency.get(n)!.p50, 2)}`);
    if (parts.length) out(`ratio latency p50 ${parts.join(" ")}`);
  }
  for (const [name, o] of report.outbound) {
    out(
      `outbound ${name} msgs/s=${fmt(o.msgsPerSec)} delivered=${o.delivered}/${o.n} ` +
        `inject_msgs/s=${fmt(o.injectPerSec)}` + (o.error ? ` FAIL ${o.error}` : ""),
    );
  }
  const op = report.outbound.get("postie");
  const of = report.outbound.get("postfix");
  if (op && of) out(`ratio outbound postie/postfix=${fmt(op.msgsPerSec / of.msgsPerSec, 2)}`);
  for (const [key, i] of report.idle) {
    const name = key.split("|")[1];
    if (i.skipped) {
      out(`idle ${i.n} ${name} skipped: ${i.skipped}`);
      continue;
    }
    const refused = i.connectFailed! + i.rejected! + i.noGreeting!;
    out(
      `idle ${i.n} ${name} kb_per_conn=${fmt(i.kbPerConn!)} greeted=${i.greeted}/${i.n} ` +
        `refused=${refused} base_mb=${fmt(i.baseMb!)} processes=${i.processes}` +
        (i.errors!.length ? ` errors=${oneLine(i.errors!.join("; "), 200)}` : ""),
    );
  }
  if (report.imap) { for (const line of imapSummary(report.imap)) out(line); }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(Deno.args);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    Deno.stderr.writeSync(enc.encode((msg ? `bench: ${msg}\n` : "") + USAGE + "\n"));
    return msg ? 2 : 0;
  }
  const t0 = performance.now();
  // Every temporary directory (ours, Postfix's, Haraka's, postie's) goes under --dir.
  await Deno.mkdir(opts.dir, { recursive: true, mode: 0o755 });
  Deno.env.set("TMPDIR", opts.dir);
  smtpSource = await postfixProgram("smtp-source"); // without it there is no benchmark
  const dns = await TestDnsServer.start();
  // Realistic, cacheable answers for what postie checks on inbound mail (SPF of the HELO name
  // and of the sender domain, DMARC, the client's PTR), and the MX of the relay destination.
  dns.setRecords([
    { name: "source.test", type: "TXT", data: "v=spf1 ip4:127.0.0.0/8 -all" },
    { name: HELO, type: "TXT", data: "v=spf1 ip4:127.0.0.0/8 -all" },
    { name: HELO, type: "A", data: "127.0.0.1" },
    { name: "_dmarc.source.test", type: "TXT", data: "v=DMARC1; p=none" },
    { name: "1.0.0.127.in-addr.arpa", type: "PTR", data: HELO },
    { name: DOMAIN, type: "MX", data: { preference: 10, exchange: "mx.bench.test" } },
    { name: "mx.bench.test", type: "A", data: "127.0.0.1" },
    { name: "remote.test", type: "MX", data: { preference: 10, exchange: "mx.remote.test" } },
    { name: "mx.remote.test", type: "A", data: "127.0.0.1" },
  ]);
  const sources = await postieState();
  const tmp = await Deno.makeTempDir({ prefix: "postie-bench-probe-" });
  const machine = await machineInfo(tmp);
  await Deno.remove(tmp, { recursive: true });
  const report: Report = {
    opts: {
      smoke: opts.smoke,
      servers: opts.servers,
      cases: opts.cases.map((c) => c.name),
      reps: opts.reps,
      count: opts.count,
      latency: opts.latency,
      outbound: opts.outbound,
      idle: opts.idle,
    },
    machine,
    versions: { postie: `${VERSION} (${machine.postieCommit})`, haraka: HARAKA_VERSION },
    nofile: await nofileLimit(),
    inbound: new Map(),
    latency: new Map(),
    outbound: new Map(),
    idle: new Map(),
    unavailable,
    failures,
    seconds: 0,
  };
  const ctx: Ctx = { opts, dns, report };
  const onSignal = async () => {
    await stopAll();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    progress(
      `machine: ${machine.nproc} cpus, ${machine.kernel}, nofile ${report.nofile.soft}; ` +
        `servers ${opts.servers.join(",")}; IMAP ${opts.imapServers.join(",")}`,
    );
    if (opts.servers.includes("haraka")) {
      try {
        await findHaraka();
      } catch (e) {
        unavailable.set("haraka", oneLine(String(e), 500));
      }
    }
    if (opts.tests.has("inbound") || opts.tests.has("latency")) await inboundPhase(ctx);
    if (opts.tests.has("outbound")) await outboundPhase(ctx);
    if (opts.tests.has("idle")) await idlePhase(ctx);
    const imapTests = {
      stress: opts.tests.has("imap-stress"),
      select: opts.tests.has("imap-select"),
      idle: opts.tests.has("imap-idle"),
    };
    if (Object.values(imapTests).some((x) => x) && opts.imapServers.length > 0) {
      report.imap = await imapPhase({
        servers: opts.imapServers,
        tests: imapTests,
        clients: 10,
        secs: opts.imapSecs,
        messages: opts.imapMessages,
        idle: opts.imapIdle,
        dns,
        dir: opts.dir,
        postieLabel: `${VERSION} (${machine.postieCommit})`,
        nofile: (await nofileLimit()).soft,
        progress,
        fail,
        track: (s, add) => add ? running.add(s) : running.delete(s),
      });
    }
  } finally {
    await stopAll();
    await dns.close();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  const after = await postieState();
  if (after.fingerprint !== sources.fingerprint) {
    // Others work in the same tree: say so rather than attribute numbers to the wrong code.
    report.versions.postie += `; CHANGED during the run, now ${after.label}`;
    out(`note: postie's sources changed during the run (now ${after.label})`);
  }
  summarize(ctx);
  report.seconds = (performance.now() - t0) / 1000;
  await writeReport(opts.out, report);
  out(`report: ${opts.out}`);
  out(
    failures.length === 0
      ? `bench: ok (${fmt(report.seconds, 0)} s)`
      : `bench: FAIL: ${failures.length} check(s) failed (${fmt(report.seconds, 0)} s)`,
  );
  return failures.length === 0 ? 0 : 1;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main();
  } catch (e) {
    Deno.stderr.writeSync(
      enc.encode(`bench: harness error: ${e instanceof Error ? e.stack : e}\n`),
    );
    await stopAll();
    code = 2;
  }
  Deno.exit(code);
}
