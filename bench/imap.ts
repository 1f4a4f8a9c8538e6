/**
 * The benchmark's IMAP tests: postie's IMAP server side by side with a private Dovecot 2.3
 * (tests/interop/dovecot.ts) on loopback, both over implicit TLS with the same certificate
 * (postie accepts LOGIN only over TLS, so Dovecot gets TLS too: like with like).
 *
 * - stress: Dovecot's imaptest, 10 clients for S seconds on one mailbox; commands per second
 *   from its Totals line, and its error lines.
 * - select: a Maildir filled with N small messages (the same files for both, written into
 *   `cur/` before the server starts), then SELECT INBOX + `UID FETCH 1:* (FLAGS)` on a first
 *   connection (the index is built) and on a second one.
 * - idle: N connections logged in, INBOX selected, in IDLE; PSS of all the server's processes
 *   before and after, divided by N.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDovecot } from "../tests/interop/dovecot.ts";
import { syntheticMbox } from "../tests/interop/imap.ts";
import { run } from "../tests/interop/tools.ts";
import type { TestDnsServer } from "../tests/support/dns_server.ts";
import { generateSelfSigned } from "../src/tls/certificate.ts";
import { DOMAIN, MAILBOX, PASSWORD, startPostie } from "./servers.ts";
import { familyCpuMs, familyPssKb, sleep } from "./measure.ts";

/** The IMAP servers, in the order they are run. */
export const IMAP_SERVER_NAMES = ["postie", "dovecot"] as const;
export type ImapServerName = typeof IMAP_SERVER_NAMES[number];

/** The name both servers' certificate carries, which the benchmark's client verifies. */
const CERT_NAME = "mx.bench.test";

/**
 * How Dovecot stores the password: Argon2id at Dovecot's defaults (64 MiB, 3 passes), a
 * memory-hard hash of about the cost of postie's scrypt (32 MiB), so each LOGIN costs both
 * servers a comparable hash verification.
 */
const DOVECOT_SCHEME = "ARGON2ID";

const IMAPTEST = fileURLToPath(new URL("../../shared/tools/imaptest/run.sh", import.meta.url));

/** The certificate both servers serve. */
export interface BenchCert {
  certFile: string;
  keyFile: string;
  certPem: string;
}

/** Generate a self-signed certificate for mx.bench.test into `dir` (postie's own generator). */
export async function makeCert(dir: string): Promise<BenchCert> {
  const m = await generateSelfSigned(CERT_NAME);
  const certFile = join(dir, "bench-cert.pem");
  const keyFile = join(dir, "bench-key.pem");
  await Deno.writeTextFile(certFile, m.certPem, { mode: 0o644 });
  await Deno.writeTextFile(keyFile, m.keyPem, { mode: 0o600 });
  return { certFile, keyFile, certPem: m.certPem };
}

/** A running IMAP server under test. */
export interface ImapServer {
  name: ImapServerName;
  /** The implicit-TLS port. */
  port: number;
  pid: number;
  pss(): Promise<{ kb: number; processes: number }>;
  cpuMs(): Promise<number>;
  alive(): boolean;
  logTail(): Promise<string>;
  stop(): Promise<void>;
}

/** How to start an IMAP server. */
export interface ImapStart {
  dns: TestDnsServer;
  cert: BenchCert;
  /** Connections of MAILBOX that must fit at once. */
  connections: number;
  /** Fill the Maildir (the directory holding new/, cur/, tmp/) before the server starts. */
  prepare?: (maildir: string) => Promise<void>;
}

/** Start postie (a fresh instance with an imaps listener) or a private Dovecot. */
export async function startImapServer(
  name: ImapServerName,
  o: ImapStart,
): Promise<ImapServer> {
  if (name === "postie") {
    const s = await startPostie({
      dns: o.dns,
      connections: o.connections,
      imap: { certFile: o.cert.certFile, keyFile: o.cert.keyFile, prepare: o.prepare },
    });
    return { ...s, name: "postie", port: s.imapsPort! };
  }
  const dir = await Deno.makeTempDir({ prefix: "postie-bench-dovecot-" });
  try {
    const mailRoot = join(dir, "mail");
    const maildir = join(mailRoot, DOMAIN, "user");
    for (const sub of ["new", "cur", "tmp"]) {
      await Deno.mkdir(join(maildir, sub), { recursive: true, mode: 0o700 });
    }
    await o.prepare?.(maildir);
    const dv = await startDovecot({
      mailRoot,
      users: { [MAILBOX]: PASSWORD },
      traverseDirs: [dir],
      tls: { certFile: o.cert.certFile, keyFile: o.cert.keyFile },
      connections: o.connections,
      passwordScheme: DOVECOT_SCHEME,
    });
    let exited = false;
    return {
      name: "dovecot",
      port: dv.tlsPort!,
      pid: dv.pid,
      pss: () => familyPssKb(dv.pid),
      cpuMs: () => familyCpuMs(dv.pid),
      alive() {
        if (exited) return false;
        try {
          Deno.kill(dv.pid, "SIGCONT"); // signal 0 is not offered; SIGCONT is harmless
          return true;
        } catch {
          return false;
        }
      },
      logTail: async () => (await dv.log()).split("\n").slice(-15).join("\n"),
      async stop() {
        exited = true;
        const r = await dv.stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        if (r.survivors.length > 0) throw new Error(`dovecot left ${r.survivors.join(",")}`);
      },
    };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** `dovecot --version`, for the report. */
export async function dovecotVersion(): Promise<string> {
  try {
    const r = await run("dovecot", { args: ["--version"], timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim() : "?";
  } catch {
    return "not installed";
  }
}

// ---------------------------------------------------------------------------------------------
// A small IMAP client over TLS

const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** The tagged completion of one command and what came before it. */
export interface Completion {
  status: string;
  line: string;
  untagged: string;
  ms: number;
}

/** One IMAP connection over implicit TLS to 127.0.0.1, verifying mx.bench.test. */
export class ImapConn {
  #conn: Deno.TlsConn;
  #buf = "";
  #tag = 0;
  #chunk = new Uint8Array(65536);

  private constructor(conn: Deno.TlsConn) {
    this.#conn = conn;
  }

  /** Connect, handshake and read the `* OK` greeting. */
  static async open(port: number, caPem: string, timeoutMs = 30_000): Promise<ImapConn> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    let c: ImapConn | undefined;
    try {
      c = new ImapConn(await Deno.startTls(tcp, { hostname: CERT_NAME, caCerts: [caPem] }));
      const greeting = await c.#until(/^\* (\S+)[^\r\n]*\r\n/, timeoutMs);
      if (greeting[1] !== "OK") throw new Error(`greeting: ${greeting[0].trim()}`);
      return c;
    } catch (e) {
      if (c) c.close();
      else tcp.close();
      throw e;
    }
  }

  /** Read until `re` matches the buffer; consume and return the match. */
  async #until(re: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      re.lastIndex = from;
      const m = re.exec(this.#buf);
      if (m) {
        const end = m.index + m[0].length;
        const out = Object.assign([...m], { index: 0, input: this.#buf.slice(0, end) });
        this.#buf = this.#buf.slice(end);
        return out as unknown as RegExpExecArray;
      }
      from = Math.max(0, this.#buf.length - 200);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`IMAP read timed out (have ${this.#buf.slice(-200)})`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.#conn.read(this.#chunk),
        new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left)),
      ]).finally(() => clearTimeout(timer));
      if (n === "timeout") continue;
      if (n === null) throw new Error(`IMAP connection closed (have ${this.#buf.slice(-200)})`);
      this.#buf += latin1.decode(this.#chunk.subarray(0, n));
    }
  }

  async #write(text: string): Promise<void> {
    const b = enc.encode(text);
    for (let off = 0; off < b.length;) off += await this.#conn.write(b.subarray(off));
  }

  /**
   * Send a command and read up to its tagged completion, timed from the write to the end of
   * the tagged line. No literals are expected in what the benchmark asks for.
   */
  async command(text: string, timeoutMs = 120_000): Promise<Completion> {
    const tag = `b${++this.#tag}`;
    const t0 = performance.now();
    await this.#write(`${tag} ${text}\r\n`);
    const re = new RegExp(`(?:^|\\r\\n)${tag} (OK|NO|BAD)([^\\r\\n]*)\\r\\n`, "g");
    const m = await this.#until(re, timeoutMs);
    const ms = performance.now() - t0;
    const all = m.input;
    const start = all.lastIndexOf(`${tag} `);
    return { status: m[1]!, line: all.slice(start).trim(), untagged: all.slice(0, start), ms };
  }

  /** `command`, failing unless the completion is OK. */
  async ok(text: string, timeoutMs?: number): Promise<Completion> {
    const r = await this.command(text, timeoutMs);
    if (r.status !== "OK") throw new Error(`${text.split(" ")[0]}: ${r.line}`);
    return r;
  }

  /** Enter IDLE and wait for the continuation request. */
  async idle(timeoutMs = 30_000): Promise<void> {
    const tag = `b${++this.#tag}`;
    await this.#write(`${tag} IDLE\r\n`);
    await this.#until(/(?:^|\r\n)\+[^\r\n]*\r\n/g, timeoutMs);
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

/** A connection logged in as MAILBOX. */
async function login(port: number, caPem: string): Promise<ImapConn> {
  const c = await ImapConn.open(port, caPem);
  try {
    await c.ok(`LOGIN "${MAILBOX}" "${PASSWORD}"`);
    return c;
  } catch (e) {
    c.close();
    throw e;
  }
}

const oneLine = (t: string, max = 300) => {
  const s = t.replace(/\s+/g, " ").trim();
  return s.length > max ? s.slice(0, max) + "..." : s;
};

// ---------------------------------------------------------------------------------------------
// stress: imaptest

/** One imaptest stress run. */
export interface StressResult {
  clients: number;
  secs: number;
  /** All commands in the Totals line per second. */
  cmdsPerSec: number;
  /** The Totals line's counts by command (Logi, Sele, Fetc, Appe...). */
  totals: Record<string, number>;
  /** imaptest's error lines (the first few) and their number. */
  errors: string[];
  errorCount: number;
  /** CPU time of the server's processes per command, ms. */
  cpuMsPerCmd: number;
  /** The run itself failed (no Totals line, or imaptest died). */
  failed?: string;
}

/** Run imaptest's stress mode against `s`: `clients` clients for `secs` seconds. */
export async function stressRun(
  s: ImapServer,
  mbox: string,
  clients: number,
  secs: number,
): Promise<StressResult> {
  const cpu0 = await s.cpuMs();
  const r = await run(IMAPTEST, {
    args: [
      "host=127.0.0.1",
      `port=${s.port}`,
      "ssl=any-cert",
      `user=${MAILBOX}`,
      `pass=${PASSWORD}`,
      `mbox=${mbox}`,
      `clients=${clients}`,
      `secs=${secs}`,
    ],
    timeoutMs: secs * 1000 + 120_000,
  });
  const cpu = await s.cpuMs() - cpu0;
  const output = r.stdout + "\n" + r.stderr;
  const errors = output.split("\n").filter((l) => /error/i.test(l)).map((l) => oneLine(l, 200));
  const res: StressResult = {
    clients,
    secs,
    cmdsPerSec: NaN,
    totals: {},
    errors: errors.slice(0, 5),
    errorCount: errors.length,
    cpuMsPerCmd: NaN,
  };
  const at = r.stdout.lastIndexOf("Totals:");
  const lines = at < 0 ? [] : r.stdout.slice(at).trim().split("\n");
  // "Totals:", then a header line of command names, then (possibly a percentage line and) the
  // counts line.
  const header = lines[1]?.trim().split(/\s+/) ?? [];
  const counts = lines.slice(2).map((l) => l.trim().split(/\s+/))
    .find((f) => f.length === header.length && f.every((x) => /^\d+$/.test(x)));
  if (!counts || header.length === 0) {
    res.failed = `imaptest exited ${r.code} without a Totals line: ${
      oneLine(r.stdout.slice(-400) + " " + r.stderr.slice(-400))
    }`;
    return res;
  }
  let sum = 0;
  header.forEach((h, i) => {
    res.totals[h] = Number(counts[i]);
    sum += Number(counts[i]);
  });
  res.cmdsPerSec = sum / secs;
  res.cpuMsPerCmd = sum > 0 ? cpu / sum : NaN;
  return res;
}

// ---------------------------------------------------------------------------------------------
// select: a large mailbox

/**
 * Write `n` small messages (about 330 octets each) into `maildir/cur/`, flags none, mtimes a
 * minute apart: the same names and bytes for every server.
 */
export async function fillMaildir(maildir: string, n: number): Promise<void> {
  const t0 = Date.UTC(2026, 0, 1) / 1000;
  for (let i = 0; i < n; i++) {
    const when = t0 + i * 60;
    const date = new Date(when * 1000).toUTCString().replace("GMT", "+0000");
    const msg = `Date: ${date}\r\nFrom: Sender ${i % 23} <sender${i % 23}@source.test>\r\n` +
      `To: <${MAILBOX}>\r\nSubject: message ${i}\r\nMessage-ID: <m${i}@source.test>\r\n\r\n` +
      `Body of message ${i}.\r\n${"Some text on a line of its own.\r\n".repeat(1 + i % 8)}`;
    const file = join(maildir, "cur", `${when}.M${i}P1.bench.test:2,`);
    await Deno.writeTextFile(file, msg);
    await Deno.utime(file, when, when);
  }
}

/** One connection's SELECT and FETCH. */
export interface SelectTiming {
  loginMs: number;
  selectMs: number;
  fetchMs: number;
  /** FETCH responses received. */
  fetched: number;
  exists: number;
}

/** The select test on one server. */
export interface SelectResult {
  n: number;
  first?: SelectTiming;
  second?: SelectTiming;
  /** CPU time of the server's processes during the first connection, ms. */
  firstCpuMs?: number;
  error?: string;
}

async function selectFetch(port: number, caPem: string): Promise<SelectTiming> {
  const t0 = performance.now();
  const c = await login(port, caPem);
  try {
    const loginMs = performance.now() - t0;
    const sel = await c.ok("SELECT INBOX");
    const fetch = await c.ok("UID FETCH 1:* (FLAGS)");
    await c.command("LOGOUT").catch(() => {});
    return {
      loginMs,
      selectMs: sel.ms,
      fetchMs: fetch.ms,
      fetched: fetch.untagged.match(/^\* \d+ FETCH /gm)?.length ?? 0,
      exists: Number(/^\* (\d+) EXISTS/m.exec(sel.untagged)?.[1] ?? NaN),
    };
  } finally {
    c.close();
  }
}

/** First and second SELECT + FETCH of a freshly started server's n-message INBOX. */
export async function selectRun(s: ImapServer, n: number, caPem: string): Promise<SelectResult> {
  const cpu0 = await s.cpuMs();
  const first = await selectFetch(s.port, caPem);
  const firstCpuMs = await s.cpuMs() - cpu0;
  const second = await selectFetch(s.port, caPem);
  const res: SelectResult = { n, first, second, firstCpuMs };
  const bad = [first, second].filter((t) => t.fetched !== n || t.exists !== n);
  if (bad.length > 0) {
    res.error = bad.map((t) => `EXISTS ${t.exists}, ${t.fetched} FETCH responses`).join("; ") +
      ` for ${n} messages`;
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// idle: memory per connection

/** The idle test on one server. */
export interface ImapIdleResult {
  n: number;
  /** Connections logged in, INBOX selected, in IDLE. */
  idling: number;
  failed: number;
  errors: string[];
  kbPerConn: number;
  baseMb: number;
  afterMb: number;
  processes: number;
  /** Time to open all of them, ms. */
  openMs: number;
}

/**
 * Open `n` connections (at most `parallel` being set up at once), each logged in with INBOX
 * selected and in IDLE; PSS of the server's processes before (after a warm-up of a few
 * sessions) and after; (after − before) / idling.
 */
export async function idleRun(
  s: ImapServer,
  n: number,
  caPem: string,
  parallel = 50,
): Promise<ImapIdleResult> {
  for (let i = 0; i < 5; i++) await selectFetch(s.port, caPem); // warm-up, not measured
  await sleep(1500);
  const before = await s.pss();
  const conns: ImapConn[] = [];
  const errors: string[] = [];
  let failed = 0;
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      let c: ImapConn | undefined;
      try {
        c = await login(s.port, caPem);
        await c.ok("SELECT INBOX");
        await c.idle();
        conns.push(c);
      } catch (e) {
        c?.close();
        failed++;
        if (errors.length < 5) errors.push(oneLine(String(e), 200));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker));
    const openMs = performance.now() - t0;
    await sleep(2000);
    const after = await s.pss();
    return {
      n,
      idling: conns.length,
      failed,
      errors,
      kbPerConn: conns.length > 0 ? (after.kb - before.kb) / conns.length : NaN,
      baseMb: before.kb / 1024,
      afterMb: after.kb / 1024,
      processes: after.processes,
      openMs,
    };
  } finally {
    for (const c of conns) c.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The phase and its part of the report

/** Everything the IMAP tests produced. */
export interface ImapReport {
  date: string;
  postie: string;
  dovecot: string;
  stress: Map<ImapServerName, StressResult>;
  select: Map<ImapServerName, SelectResult>;
  idle: Map<ImapServerName, ImapIdleResult | { n: number; skipped: string }>;
  /** Servers that could not be started, with the reason. */
  unavailable: Map<ImapServerName, string>;
  opts: { clients: number; secs: number; messages: number; idle: number };
}

/** What the phase needs from main.ts. */
export interface ImapPhaseOptions {
  servers: ImapServerName[];
  tests: { stress: boolean; select: boolean; idle: boolean };
  clients: number;
  secs: number;
  messages: number;
  idle: number;
  dns: TestDnsServer;
  /** A scratch directory (the certificate and imaptest's mbox go there). */
  dir: string;
  postieLabel: string;
  /** This process's soft RLIMIT_NOFILE (the servers inherit it). */
  nofile: number;
  progress(line: string): void;
  fail(what: string): void;
  /** Started servers are registered here so that a signal can stop them. */
  track(s: { name: string; stop(): Promise<void> }, add: boolean): void;
}

const f = (n: number | undefined, d = 1) =>
  n !== undefined && Number.isFinite(n) ? n.toFixed(d) : "n/a";

/** Run the selected IMAP tests on the selected servers, each test on a fresh instance. */
export async function imapPhase(o: ImapPhaseOptions): Promise<ImapReport> {
  const rep: ImapReport = {
    date: new Date().toISOString(),
    postie: o.postieLabel,
    dovecot: await dovecotVersion(),
    stress: new Map(),
    select: new Map(),
    idle: new Map(),
    unavailable: new Map(),
    opts: { clients: o.clients, secs: o.secs, messages: o.messages, idle: o.idle },
  };
  const work = await Deno.makeTempDir({ dir: o.dir, prefix: "postie-bench-imap-" });
  try {
    const cert = await makeCert(work);
    const mbox = join(work, "stress.mbox");
    await Deno.writeTextFile(mbox, syntheticMbox(300, MAILBOX));
    const withServer = async (
      name: ImapServerName,
      start: Omit<ImapStart, "dns" | "cert">,
      fn: (s: ImapServer) => Promise<void>,
    ) => {
      if (rep.unavailable.has(name)) return;
      let s: ImapServer;
      try {
        s = await startImapServer(name, { ...start, dns: o.dns, cert });
      } catch (e) {
        rep.unavailable.set(name, oneLine(String(e), 500));
        o.progress(`imap ${name}: unavailable: ${rep.unavailable.get(name)}`);
        return;
      }
      o.track(s, true);
      try {
        await fn(s);
        if (!s.alive()) throw new Error(`${name} died:\n${await s.logTail()}`);
      } finally {
        o.track(s, false);
        await s.stop().catch((e) => o.progress(`stopping ${name}: ${e}`));
      }
    };
    if (o.tests.stress) {
      for (const name of o.servers) {
        await withServer(name, { connections: o.clients }, async (s) => {
          const r = await stressRun(s, mbox, o.clients, o.secs);
          rep.stress.set(name, r);
          o.progress(
            `imap stress ${name}: ${f(r.cmdsPerSec)} cmds/s, ${r.errorCount} error lines` +
              (r.failed ? ` FAILED ${r.failed}` : ""),
          );
          if (r.failed) o.fail(`imap stress ${name}: ${r.failed}`);
          // Dovecot's errors are Dovecot's; postie's are bugs (the interop test asserts none).
          if (name === "postie" && r.errorCount > 0) {
            o.fail(`imap stress postie: ${r.errorCount} imaptest errors: ${r.errors.join("; ")}`);
          }
        });
      }
    }
    if (o.tests.select) {
      for (const name of o.servers) {
        const prepare = (maildir: string) => fillMaildir(maildir, o.messages);
        await withServer(name, { connections: 10, prepare }, async (s) => {
          let r: SelectResult;
          try {
            r = await selectRun(s, o.messages, cert.certPem);
          } catch (e) {
            r = { n: o.messages, error: oneLine(String(e)) };
          }
          rep.select.set(name, r);
          o.progress(
            `imap select ${name}: first ${f(r.first?.selectMs)}+${f(r.first?.fetchMs)} ms, ` +
              `second ${f(r.second?.selectMs)}+${f(r.second?.fetchMs)} ms` +
              (r.error ? ` ERROR ${r.error}` : ""),
          );
          if (r.error) o.fail(`imap select ${name}: ${r.error}`);
        });
      }
    }
    if (o.tests.idle) {
      for (const name of o.servers) {
        // Dovecot holds an imap and an imap-login process per TLS connection, its master a
        // few descriptors for each; the benchmark one per connection.
        if (o.nofile < 3 * o.idle + 500) {
          const skipped = `RLIMIT_NOFILE is ${o.nofile}; run with ulimit -n ${3 * o.idle + 500}`;
          rep.idle.set(name, { n: o.idle, skipped });
          continue;
        }
        await withServer(name, { connections: o.idle }, async (s) => {
          try {
            const r = await idleRun(s, o.idle, cert.certPem);
            rep.idle.set(name, r);
            o.progress(
              `imap idle ${o.idle} ${name}: ${f(r.kbPerConn)} KB/conn, ${r.idling} idling, ` +
                `opened in ${f(r.openMs / 1000)} s` +
                (r.failed ? `, ${r.failed} failed: ${r.errors.join("; ")}` : ""),
            );
          } catch (e) {
            rep.idle.set(name, { n: o.idle, skipped: `error: ${oneLine(String(e))}` });
          }
        });
      }
    }
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  return rep;
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** The IMAP section of the markdown report; it carries its own date and versions. */
export function renderImap(r: ImapReport): string {
  const parts: string[] = [
    "## IMAP: postie and Dovecot",
    "",
    `Run ${r.date}: postie ${r.postie}, Dovecot ${r.dovecot}. Both over implicit TLS (imaps) ` +
    "with the same self-signed ECDSA P-256 certificate: postie accepts LOGIN only over TLS, " +
    "so Dovecot, which would take it in clear text, gets TLS as well. At LOGIN both verify " +
    "a memory-hard hash: postie scrypt (32 MiB), Dovecot ARGON2ID at its defaults (64 MiB, 3 " +
    "passes). Dovecot runs with its defaults otherwise (one imap process per connection and, " +
    "for TLS, one imap-login process proxying it), its process and connection limits raised " +
    "for the idle test. Each test on fresh instances.",
    "",
  ];
  for (const [s, why] of r.unavailable) parts.push(`- **${s}** unavailable: ${why}`, "");
  if (r.stress.size > 0) {
    const names = [...new Set([...r.stress.values()].flatMap((x) => Object.keys(x.totals)))];
    parts.push(
      `### imaptest stress (${r.opts.clients} clients, ${r.opts.secs} s, one mailbox)`,
      "",
      "imaptest's default random mix (LOGIN, SELECT, FETCH, STORE, EXPUNGE, APPEND from a " +
        "300-message mbox...) checked against what each client must see; commands per second " +
        "from its Totals line, CPU of the server's processes per command.",
      "",
      table(
        ["server", "cmds/s", "CPU ms/cmd", "error lines", ...names],
        [...r.stress].map(([s, x]) => [
          s,
          x.failed ? `**FAIL** ${x.failed}` : f(x.cmdsPerSec),
          f(x.cpuMsPerCmd, 3),
          x.errorCount === 0 ? "0" : `${x.errorCount}: ${x.errors.join("; ")}`,
          ...names.map((h) => String(x.totals[h] ?? "")),
        ]),
      ),
      "",
    );
  }
  if (r.select.size > 0) {
    parts.push(
      `### SELECT and UID FETCH 1:* (FLAGS) on ${r.opts.messages} messages (ms)`,
      "",
      `${r.opts.messages} small messages (~330 octets) written into the Maildir's cur/ before ` +
        "the server starts (no index yet). A first connection logs in, SELECTs INBOX (the index " +
        "is built) and fetches every message's flags; then a second connection does the same.",
      "",
      table(
        [
          "server",
          "1st SELECT",
          "1st FETCH",
          "1st LOGIN",
          "CPU during 1st",
          "2nd SELECT",
          "2nd FETCH",
          "note",
        ],
        [...r.select].map(([s, x]) => [
          s,
          f(x.first?.selectMs),
          f(x.first?.fetchMs),
          f(x.first?.loginMs),
          f(x.firstCpuMs, 0),
          f(x.second?.selectMs),
          f(x.second?.fetchMs),
          x.error ? `**FAIL** ${x.error}` : "",
        ]),
      ),
      "",
    );
  }
  if (r.idle.size > 0) {
    parts.push(
      "### Idle IMAP connections",
      "",
      "PSS (/proc/PID/smaps_rollup, summed over all the server's processes) before and after " +
        "opening N connections that each logged in, SELECTed INBOX and entered IDLE; " +
        "(after − before) / idling.",
      "",
      table(
        ["N", "server", "KB/conn", "idling", "failed", "PSS before MB", "PSS after MB", "procs"],
        [...r.idle].map(([s, x]) =>
          "skipped" in x ? [String(x.n), s, "skipped", x.skipped, "", "", "", ""] : [
            String(x.n),
            s,
            f(x.kbPerConn),
            `${x.idling}/${x.n}`,
            x.failed ? `${x.failed}: ${x.errors.join("; ")}` : "0",
            f(x.baseMb),
            f(x.afterMb),
            String(x.processes),
          ]
        ),
      ),
      "",
    );
  }
  return parts.join("\n");
}

/** Summary lines for stdout. */
export function imapSummary(r: ImapReport): string[] {
  const out: string[] = [];
  for (const [s, why] of r.unavailable) out.push(`imap ${s}: unavailable: ${why}`);
  for (const [s, x] of r.stress) {
    out.push(
      `imap stress ${s} cmds/s=${f(x.cmdsPerSec)} cpu_ms/cmd=${f(x.cpuMsPerCmd, 3)} ` +
        `errors=${x.errorCount}` + (x.failed ? ` FAIL ${x.failed}` : ""),
    );
  }
  for (const [s, x] of r.select) {
    out.push(
      `imap select ${s} n=${x.n} first_select_ms=${f(x.first?.selectMs)} ` +
        `first_fetch_ms=${f(x.first?.fetchMs)} second_select_ms=${f(x.second?.selectMs)} ` +
        `second_fetch_ms=${f(x.second?.fetchMs)}` + (x.error ? ` FAIL ${x.error}` : ""),
    );
  }
  for (const [s, x] of r.idle) {
    if ("skipped" in x) out.push(`imap idle ${x.n} ${s} skipped: ${x.skipped}`);
    else {
      out.push(
        `imap idle ${x.n} ${s} kb_per_conn=${f(x.kbPerConn)} idling=${x.idling}/${x.n} ` +
          `base_mb=${f(x.baseMb)} processes=${x.processes}`,
      );
    }
  }
  return out;
}
