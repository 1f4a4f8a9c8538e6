/**
 * The servers under test, each on its own 127.0.0.1 port and in its own process(es), with the
 * same job: accept mail for user@bench.test durably (250 only once the message is on disk and
 * fsynced) and, for the outbound test, relay mail for other domains to smtp-sink.
 *
 * - postie: `main.ts serve --config FILE` as a separate Deno process (its own CPU, like the
 *   others), the account created with `postie user add`.
 * - postfix: the private instance of the interop tests (tests/interop/postfix/postfix.ts):
 *   virtual(8) Maildir delivery, no DNS. Postfix fsyncs its queue file before the 250, and
 *   virtual(8) fsyncs each Maildir file, so its 250 is durable too (delivery to the Maildir is
 *   asynchronous: the benchmark waits for it, see `stored`).
 * - haraka: bench/haraka.ts.
 * - sink: Postfix's smtp-sink, which stores nothing: the upper bound of the loopback setup.
 *
 * Every server logs at its default level into a file in its temporary directory.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DatabaseSync } from "node:sqlite";
import { startPostfix } from "../tests/interop/postfix/postfix.ts";
import { canConnect, postfixProgram } from "../tests/interop/postfix/processes.ts";
import { freePort, runOk } from "../tests/interop/tools.ts";
import type { TestDnsServer } from "../tests/support/dns_server.ts";
import { countFilesDeep, familyCpuMs, familyPssKb, mailboxCounter, sleep } from "./measure.ts";

/** The names of the servers, in the order they are run. */
export const SERVER_NAMES = ["postie", "postfix", "haraka", "sink"] as const;
export type ServerName = typeof SERVER_NAMES[number];

/** The local domain, its mailbox, the sender and the remote (relayed) recipient. */
export const DOMAIN = "bench.test";
export const MAILBOX = `user@${DOMAIN}`;
export const SENDER = "sender@source.test";
export const HELO = "client.source.test";
export const REMOTE_RCPT = "user@remote.test";
/** The password of MAILBOX (postie's account; Dovecot's passwd-file in the IMAP tests). */
export const PASSWORD = "bench password 1234";

export const REPO = fileURLToPath(new URL("../", import.meta.url));

/** What the benchmark needs from a running server. */
export interface BenchServer {
  name: ServerName;
  port: number;
  /** The root process (its descendants and process group count too, for memory). */
  pid: number;
  /** Messages stored in the test mailbox; null for a server that stores nothing (sink). */
  stored(): Promise<number | null>;
  /** Empty the test mailbox. */
  clear(): Promise<void>;
  /** Messages still in the outbound queue (outbound-capable servers only). */
  queued?(): Promise<number>;
  /** PSS of all its processes, in KiB. */
  pss(): Promise<{ kb: number; processes: number }>;
  /** CPU time used so far by all its processes, in ms. */
  cpuMs(): Promise<number>;
  /** postie started with `imap`: its imaps listener. */
  imapsPort?: number;
  /** The Maildir of MAILBOX (the directory holding new/, cur/ and tmp/), where there is one. */
  maildir?: string;
  /** Whether its root process is still running. */
  alive(): boolean;
  /** The last lines of its log, for error reports. */
  logTail(): Promise<string>;
  stop(): Promise<void>;
}

/** What every server start gets. */
export interface StartContext {
  dns: TestDnsServer;
  /** Connections the server must be able to hold at once (idle test); default 1000. */
  connections?: number;
  /** Relay everything that is not for bench.test to smtp-sink on this port. */
  relayPort?: number;
  /**
   * postie only: also an imaps listener serving this certificate (the IMAP tests), IMAP
   * connection limits of `connections` + 100, and `prepare(maildir)` run after the account
   * exists and before the server starts (to fill the Maildir).
   */
  imap?: {
    certFile: string;
    keyFile: string;
    prepare?: (maildir: string) => Promise<void>;
  };
}

/** A daemon started through `sh -c exec` so that its output goes straight into a file. */
export interface Daemon {
  child: Deno.ChildProcess;
  pid: number;
  exited: boolean;
  status: Promise<Deno.CommandStatus>;
  logFile: string;
}

/** Start `cmd args...` with stdout and stderr appended to `logFile`. */
export function spawnDaemon(
  cmd: string,
  args: string[],
  logFile: string,
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Daemon {
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec "$0" "$@" >>"$BENCH_LOG" 2>&1', cmd, ...args],
    env: { ...opts.env, BENCH_LOG: logFile },
    cwd: opts.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const d: Daemon = { child, pid: child.pid, exited: false, status: child.status, logFile };
  d.status = child.status.then((s) => {
    d.exited = true;
    return s;
  });
  return d;
}

/**
 * The parts of a {@link BenchServer} that come from its daemon alone: its process family's
 * memory and CPU, liveness, the end of its log (`tailLines` lines), and a stop that also
 * removes its directory `dir`.
 */
export function daemonParts(
  d: Daemon,
  dir: string,
  tailLines?: number,
): Pick<BenchServer, "pid" | "pss" | "cpuMs" | "alive" | "logTail" | "stop"> {
  return {
    pid: d.pid,
    pss: () => familyPssKb(d.pid),
    cpuMs: () => familyCpuMs(d.pid),
    alive: () => !d.exited,
    logTail: () => tail(d.logFile, tailLines),
    async stop() {
      await stopDaemon(d);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once reaped. */
export async function stopDaemon(d: Daemon, graceMs = 10_000): Promise<void> {
  if (!d.exited) {
    try {
      d.child.kill("SIGTERM");
    } catch {
      // exited meanwhile
    }
  }
  const timer = setTimeout(() => {
    try {
      d.child.kill("SIGKILL");
    } catch {
      // exited meanwhile
    }
  }, graceMs);
  await d.status;
  clearTimeout(timer);
}

/** The last `bytes` octets of a file as text ("" if unreadable). */
async function readEnd(file: string, bytes: number): Promise<string> {
  try {
    using f = await Deno.open(file);
    const size = (await f.stat()).size;
    await f.seek(Math.max(0, size - bytes), Deno.SeekMode.Start);
    const buf = new Uint8Array(bytes);
    let n = 0;
    for (let r; n < bytes && (r = await f.read(buf.subarray(n))) !== null;) n += r;
    return new TextDecoder().decode(buf.subarray(0, n));
  } catch {
    return "";
  }
}

/** The last `n` lines of a text file ("" if unreadable). */
export async function tail(file: string, n = 15): Promise<string> {
  const text = await Deno.readTextFile(file).catch(() => "");
  return text.split("\n").slice(-n).join("\n");
}

/** Wait until 127.0.0.1:port accepts connections; fails when the daemon exits first. */
export async function waitListening(d: Daemon, port: number, what: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await canConnect(port))) {
    if (d.exited) throw new Error(`${what} exited at start:\n${await tail(d.logFile)}`);
    if (Date.now() > deadline) {
      throw new Error(`${what} did not listen on 127.0.0.1:${port}:\n${await tail(d.logFile)}`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// postie

/** Deno permissions of `postie serve`, as in deno.json's "start" task. */
const POSTIE_FLAGS = [
  "run",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=hostname,statfs",
];

/** Deno would otherwise look up its release server now and then: no traffic off loopback. */
const NO_UPDATE_CHECK = { DENO_NO_UPDATE_CHECK: "1" };

/** Start postie as its own process with a fresh data directory. */
export async function startPostie(ctx: StartContext): Promise<BenchServer> {
  const dir = await Deno.makeTempDir({ prefix: "postie-bench-postie-" });
  try {
    const port = freePort();
    const imapsPort = ctx.imap ? freePort() : undefined;
    const imaps = imapsPort !== undefined ? `"127.0.0.1:${imapsPort}"` : "";
    const conns = Math.max(20_000, (ctx.connections ?? 0) + 100);
    const config = join(dir, "postie.yaml");
    const lines = [
      "hostname: mx.bench.test",
      "data_dir: data",
      `domains: [${DOMAIN}]`,
      `listen: { smtp: ["127.0.0.1:${port}"], submission: [], submissions: [], imap: [], ` +
      `imaps: [${imaps}], admin: [] }`,
      `dns: { nameservers: ["${ctx.dns.address}"] }`,
      `limits: { max_connections: ${conns}, max_connections_per_ip: ${conns} }`,
      "timeouts: { greeting_delay_ms: 0 }",
    ];
    if (ctx.imap) {
      const n = (ctx.connections ?? 0) + 100;
      lines.push(
        `tls: { cert_file: "${ctx.imap.certFile}", key_file: "${ctx.imap.keyFile}" }`,
        `imap: { max_connections_per_account: ${n}, max_connections_per_ip: ${n} }`,
      );
    }
    if (ctx.relayPort !== undefined) {
      lines.push(
        "relay: { trusted_networks: [127.0.0.1] }",
        `outbound: { port: ${ctx.relayPort} }`,
      );
    }
    await Deno.writeTextFile(config, lines.join("\n") + "\n");
    const main = join(REPO, "main.ts");
    await runOk(Deno.execPath(), {
      args: [...POSTIE_FLAGS, main, "user", "add", MAILBOX, "--password-stdin", "--config", config],
      stdin: PASSWORD + "\n",
      env: NO_UPDATE_CHECK,
      timeoutMs: 120_000,
    });
    const maildir = join(dir, "data", "mail", DOMAIN, "user");
    if (ctx.imap?.prepare) {
      for (const sub of ["new", "cur", "tmp"]) {
        await Deno.mkdir(join(maildir, sub), { recursive: true, mode: 0o700 });
      }
      await ctx.imap.prepare(maildir);
    }
    const logFile = join(dir, "postie.log");
    // POSTIE_BENCH_DENO_FLAGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the server.
    const extra = (Deno.env.get("POSTIE_BENCH_DENO_FLAGS") ?? "").split(" ").filter(Boolean);
    const d = spawnDaemon(
      Deno.execPath(),
      [...POSTIE_FLAGS, ...extra, main, "serve", "--config", config],
      logFile,
      { env: NO_UPDATE_CHECK },
    );
    try {
      await waitListening(d, port, "postie");
      if (imapsPort !== undefined) await waitListening(d, imapsPort, "postie imaps");
    } catch (e) {
      await stopDaemon(d);
      throw e;
    }
    const newDir = join(maildir, "new");
    const queueDb = join(dir, "data", "queue", "queue.db");
    return {
      name: "postie",
      port,
      imapsPort,
      maildir,
      ...daemonParts(d, dir),
      ...mailboxCounter(newDir),
      queued() {
        try {
          const db = new DatabaseSync(queueDb, { readOnly: true });
          try {
            db.exec("PRAGMA busy_timeout=5000");
            const row = db.prepare(
              "SELECT COUNT(*) AS n FROM recipients WHERE status = 'queued'",
            ).get() as { n: number };
            return Promise.resolve(Number(row.n));
          } finally {
            db.close();
          }
        } catch (e) {
          return Promise.reject(e);
        }
      },
    };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Postfix

/** Start the private Postfix; with `connections`, its process limit allows that many smtpd. */
export async function startPostfixServer(ctx: StartContext): Promise<BenchServer> {
  const pf = await startPostfix({
    hostname: "mx.bench.test",
    mailboxes: [MAILBOX],
    ...(ctx.relayPort !== undefined ? { relayhost: `[127.0.0.1]:${ctx.relayPort}` } : {}),
  });
  try {
    if ((ctx.connections ?? 0) > 100) {
      // default_process_limit (100) caps smtpd processes, i.e. simultaneous sessions: raise it
      // so that every idle connection gets its own smtpd, as it would on a tuned server.
      const postconf = await postfixProgram("postconf");
      const postfix = await postfixProgram("postfix");
      const limit = String(ctx.connections! + 100);
      await runOk(postconf, { args: ["-c", pf.configDir, "-e", `default_process_limit=${limit}`] });
      await runOk(postfix, { args: ["-c", pf.configDir, "reload"] });
      await sleep(1000);
    }
  } catch (e) {
    await pf.stop();
    throw e;
  }
  const newDir = join(pf.dir, "vmail", DOMAIN, "user", "new");
  const queueDir = join(pf.dir, "queue");
  return {
    name: "postfix",
    port: pf.port,
    pid: pf.masterPid,
    ...mailboxCounter(newDir),
    async queued() {
      let n = 0;
      for (const q of ["maildrop", "incoming", "active", "deferred", "hold"]) {
        n += await countFilesDeep(join(queueDir, q));
      }
      return n;
    },
    pss: () => familyPssKb(pf.masterPid),
    cpuMs: () => familyCpuMs(pf.masterPid),
    alive() {
      try {
        Deno.kill(pf.masterPid, "SIGCONT"); // signal 0 is not offered; SIGCONT is harmless
        return true;
      } catch {
        return false;
      }
    },
    logTail: async () => (await pf.log()).split("\n").slice(-15).join("\n"),
    async stop() {
      await pf.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// smtp-sink

/** A running smtp-sink that counts (`-c`) and stores nothing. */
export interface Sink extends BenchServer {
  /** Messages received so far (smtp-sink's own counter). */
  received(): Promise<number>;
}

/**
 * `smtp-sink -c` on 127.0.0.1: no dump files (unlike tests/interop/postfix/smtp_sink.ts, which
 * captures every transaction with -d), so nothing touches the disk.
 */
export async function startSink(connections = 1000): Promise<Sink> {
  const program = await postfixProgram("smtp-sink");
  const dir = await Deno.makeTempDir({ prefix: "postie-bench-sink-" });
  const port = freePort();
  const logFile = join(dir, "sink.out");
  // -u nobody: as root smtp-sink insists on dropping privileges. -m: simultaneous sessions.
  const d = spawnDaemon(program, [
    "-4",
    "-u",
    "nobody",
    "-c",
    "-m",
    String(Math.max(256, connections + 100)),
    "-h",
    "sink.bench.test",
    `127.0.0.1:${port}`,
    "1024",
  ], logFile);
  try {
    await waitListening(d, port, "smtp-sink");
  } catch (e) {
    await stopDaemon(d);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  let offset = 0;
  const received = async () => {
    // -c prints "sess=N quit=N mesg=N\r" on every event: read the last one.
    const text = await readEnd(logFile, 256);
    const all = [...text.matchAll(/mesg=(\d+)/g)];
    return Number(all.at(-1)?.[1] ?? 0) - offset;
  };
  return {
    name: "sink",
    port,
    ...daemonParts(d, dir, 3),
    stored: () => Promise.resolve(null),
    async clear() {
      offset += await received();
    },
    received,
  };
}
