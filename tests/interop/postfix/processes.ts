/**
 * Finding Postfix's programs and watching the processes it leaves behind, for the Postfix
 * interop tests.
 *
 * @module
 */

import { join } from "node:path";
import { runOk } from "../tools.ts";

/** The Debian package that provides postfix, postconf, postqueue and smtp-sink. */
export const POSTFIX_PACKAGE = "postfix";

/**
 * The absolute path of a Postfix program: PATH first, then /usr/sbin (where Debian installs
 * them, and which is often not on a non-root PATH). A missing one is a clear failure.
 */
export async function postfixProgram(name: string): Promise<string> {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== ""), "/usr/sbin"];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      if ((await Deno.stat(p)).isFile) return p;
    } catch {
      // not here
    }
  }
  throw new Error(
    `interop: required program "${name}" was not found on PATH or in /usr/sbin; ` +
      `install it (Debian/Ubuntu: apt-get install ${POSTFIX_PACKAGE}). These tests never skip.`,
  );
}

/** One row of the process table. */
export interface ProcessRow {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  command: string;
}

/** Every process, from `ps` (Deno only reads /proc with -A). */
export async function processTable(): Promise<ProcessRow[]> {
  const out = await runOk("ps", { args: ["-e", "-o", "pid=,ppid=,pgid=,stat=,comm="] });
  const rows: ProcessRow[] = [];
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 5) {
      rows.push({
        pid: Number(f[0]),
        ppid: Number(f[1]),
        pgid: Number(f[2]),
        state: f[3]!,
        command: f.slice(4).join(" "),
      });
    }
  }
  return rows;
}

/** `root`, its descendants and every member of its process group. */
export async function processFamily(root: number): Promise<ProcessRow[]> {
  const table = await processTable();
  const children = new Map<number, ProcessRow[]>();
  for (const row of table) {
    const list = children.get(row.ppid) ?? [];
    list.push(row);
    children.set(row.ppid, list);
  }
  const found = new Map<number, ProcessRow>();
  for (const row of table) if (row.pid === root || row.pgid === root) found.set(row.pid, row);
  const todo = [root];
  while (todo.length > 0) {
    for (const c of children.get(todo.pop()!) ?? []) {
      if (!found.has(c.pid)) todo.push(c.pid);
      found.set(c.pid, c);
    }
  }
  return [...found.values()].sort((a, b) => a.pid - b.pid);
}

/** Those of `pids` still alive; a zombie holds nothing and only waits for its reaper. */
export async function living(pids: number[]): Promise<number[]> {
  const table = new Map((await processTable()).map((r) => [r.pid, r]));
  return pids.filter((p) => {
    const row = table.get(p);
    return row !== undefined && !row.state.startsWith("Z");
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export async function canConnect(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** Resolve after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` every 100 ms until it returns something other than undefined. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  ms = 15_000,
  detail: () => Promise<string> = () => Promise.resolve(""),
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${await detail()}`);
    await sleep(100);
  }
}
