/**
 * Measuring for the benchmark: memory from /proc, statistics, file counts, machine facts.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { postfixProgram, processFamily } from "../tests/interop/postfix/processes.ts";
import { run } from "../tests/interop/tools.ts";

/**
 * The contents of files under /proc, concatenated (missing ones are skipped). Deno grants
 * /proc only with --allow-all, so `cat` reads them: the benchmark keeps its narrower flags.
 */
export async function readProc(paths: string[]): Promise<string> {
  if (paths.length === 0) return "";
  return (await run("cat", { args: paths, timeoutMs: 60_000 })).stdout;
}

/**
 * PSS in KiB summed over `root`, its descendants and its process group (from
 * /proc/PID/smaps_rollup, whose "Pss:" line is the process's proportional set size).
 */
export async function familyPssKb(root: number): Promise<{ kb: number; processes: number }> {
  const family = await processFamily(root);
  const text = await readProc(family.map((p) => `/proc/${p.pid}/smaps_rollup`));
  let kb = 0;
  for (const m of text.matchAll(/^Pss:\s+(\d+) kB/gm)) kb += Number(m[1]);
  return { kb, processes: family.length };
}

/**
 * CPU time in milliseconds used by `root`, its descendants and its process group: user +
 * system time of each (threads included), plus that of their children already reaped (so a
 * Postfix smtpd that exited during a run still counts, in master's cutime).
 */
export async function familyCpuMs(root: number): Promise<number> {
  const family = await processFamily(root);
  const text = await readProc(family.map((p) => `/proc/${p.pid}/stat`));
  let ticks = 0;
  for (const line of text.split("\n")) {
    const i = line.lastIndexOf(")"); // the command name may contain anything
    if (i < 0) continue;
    // After "(comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime (proc(5)).
    const f = line.slice(i + 2).split(" ").map(Number);
    ticks += f[11]! + f[12]! + f[13]! + f[14]!;
  }
  return ticks * 1000 / CLK_TCK;
}

/** USER_HZ: Linux reports times in /proc in 1/100 s on every architecture. */
const CLK_TCK = 100;

/** Sorted copy. */
function sorted(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Median (mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(s.length, rank) - 1]!;
}

/** Number of regular files directly in `dir` (0 if it does not exist). */
export async function countFiles(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile) n++;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return n;
}

/** Number of regular files anywhere below `dir`. */
export async function countFilesDeep(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile) n++;
      else if (e.isDirectory) n += await countFilesDeep(join(dir, e.name));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return n;
}

/**
 * Count the messages in a Maildir's `new/` relative to a mark instead of deleting them between
 * runs: on ext4 a mass deletion makes file creation slow for about a minute afterwards (the
 * inode allocator skips recently deleted inodes, `recently_deleted()` in the profile), which
 * would penalise whichever server runs next. The files go when the server stops.
 */
export function mailboxCounter(newDir: string): {
  stored(): Promise<number>;
  clear(): Promise<void>;
} {
  let mark = 0;
  return {
    stored: async () => await countFiles(newDir) - mark,
    async clear() {
      mark = await countFiles(newDir);
    },
  };
}

/** Resolve after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The soft and hard RLIMIT_NOFILE of this process. */
export async function nofileLimit(): Promise<{ soft: number; hard: number }> {
  // A child inherits the limits: its ulimit shows this process's.
  const out = await firstLine("sh", ["-c", "echo $(ulimit -Sn) $(ulimit -Hn)"]);
  const [soft, hard] = out.split(" ").map((s) => s === "unlimited" ? Infinity : Number(s));
  return { soft: soft ?? NaN, hard: hard ?? NaN };
}

/** MemAvailable in KiB. */
export async function memAvailableKb(): Promise<number> {
  const text = await readProc(["/proc/meminfo"]);
  return Number(/^MemAvailable:\s+(\d+)/m.exec(text)?.[1] ?? 0);
}

const REPO = fileURLToPath(new URL("../", import.meta.url));

/** Facts about the machine for the report. */
export interface MachineInfo {
  date: string;
  nproc: number;
  cpu: string;
  memGb: string;
  kernel: string;
  filesystem: string;
  /** What creating one small file costs there (ms; create, write 1 KB, close; no fsync). */
  createMs: number;
  deno: string;
  node: string;
  postfix: string;
  postieCommit: string;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await run(cmd, { args, timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim().split("\n")[0] ?? "?" : "?";
  } catch {
    return "?";
  }
}

/**
 * HEAD of the repository, with a note when postie's sources differ from it, and a fingerprint
 * of those sources (HEAD plus the uncommitted diff), to notice changes during a run.
 */
export async function postieState(): Promise<{ label: string; fingerprint: string }> {
  const head = await firstLine("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]);
  const paths = ["--", "main.ts", "src", "deno.json"];
  const diff = await run("git", { args: ["-C", REPO, "diff", "HEAD", ...paths] })
    .catch(() => null);
  const untracked = await run("git", {
    args: ["-C", REPO, "ls-files", "--others", "--exclude-standard", ...paths],
  }).catch(() => null);
  const changes = (diff?.stdout ?? "") + (untracked?.stdout ?? "");
  const label = changes.trim() === "" ? head : `${head} + uncommitted changes in main.ts/src`;
  return { label, fingerprint: `${head}\n${changes}` };
}

/**
 * Milliseconds to create a 1 KB file in `dir` (median of 200). Every server creates at least
 * one file per message, and on this machine the cost differs twentyfold between directories
 * of one ext4 file system (about 1.2 ms in a much-used /tmp, 0.06 ms in /var/tmp), so the
 * report states it.
 */
function createCost(dir: string): number {
  const data = new Uint8Array(1024);
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    const f = Deno.openSync(join(dir, `probe-${i}`), { write: true, createNew: true });
    f.writeSync(data);
    f.close();
    times.push(performance.now() - t0);
  }
  for (let i = 0; i < 200; i++) Deno.removeSync(join(dir, `probe-${i}`));
  times.sort((a, b) => a - b);
  return times[100]!;
}

/** Gather {@link MachineInfo}; `tmpDir` is where the servers keep their data. */
export async function machineInfo(tmpDir: string): Promise<MachineInfo> {
  const cpuinfo = await readProc(["/proc/cpuinfo"]);
  const meminfo = await readProc(["/proc/meminfo"]);
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  const df = await firstLine("sh", ["-c", `df -T "${tmpDir}" | tail -1`]);
  return {
    date: new Date().toISOString(),
    nproc: navigator.hardwareConcurrency,
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "?",
    memGb: (memKb / 1024 / 1024).toFixed(1),
    kernel: (await readProc(["/proc/sys/kernel/osrelease"])).trim(),
    filesystem: `${dirname(tmpDir)}: ${df.split(/\s+/).slice(0, 2).join(" ")}`,
    createMs: createCost(tmpDir),
    deno: Deno.version.deno,
    node: await firstLine("node", ["--version"]),
    postfix: await postfixProgram("postconf").then(
      (p) => firstLine(p, ["-d", "-h", "mail_version"]),
      () => "not installed",
    ),
    postieCommit: (await postieState()).label,
  };
}
