/**
 * Running real third-party programs (swaks, python3, openssl, dovecot) from the interop tests.
 *
 * A missing program is a test failure with a clear message, never a silent skip: CI installs
 * them with apt-get, so their absence means a broken environment. Every child is reaped: a
 * run either ends by itself or is killed at its deadline and then awaited.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { REQUIREMENTS } from "../support/requirements.ts";

/** The Debian package providing a program, from the one list in tests/support/requirements.ts. */
function packageOf(program: string): string {
  return REQUIREMENTS.find((r) => r.programs?.includes(program))?.package ?? program;
}

/** Directory of the interop fixtures. */
export const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

/**
 * Environment for swaks. swaks always calls gethostbyname(hostname()) to guess a HELO name
 * and sender, which goes to the system resolver when the host name is not in /etc/hosts. The
 * fixture Sys::Hostname on PERL5LIB makes "Local Hostname Detection" unavailable, so swaks
 * skips that lookup; the tests always pass --helo and --from.
 */
export const SWAKS_ENV: Record<string, string> = { PERL5LIB: `${FIXTURES}perl` };

/** The error thrown when a required program is not installed. */
export function missingTool(name: string): Error {
  const pkg = packageOf(name);
  return new Error(
    `interop: required program "${name}" was not found on PATH; ` +
      `install it (Debian/Ubuntu: apt-get install ${pkg}). These tests never skip.`,
  );
}

/** The result of a finished child process. */
export interface RunResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  args?: string[];
  /** Written to stdin, which is then closed. */
  stdin?: string;
  env?: Record<string, string>;
  /** Kill the child (SIGKILL) after this long and fail. Default 15 s. */
  timeoutMs?: number;
}

function spawn(cmd: string, opts: RunOptions, stdin: boolean): Deno.ChildProcess {
  try {
    return new Deno.Command(cmd, {
      args: opts.args ?? [],
      env: opts.env,
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw missingTool(cmd);
    throw e;
  }
}

/** Kill a child if it outlives the deadline; returns a cancel function. */
function deadline(child: Deno.ChildProcess, ms: number, onFire: () => void): () => void {
  const timer = setTimeout(() => {
    onFire();
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, ms);
  return () => clearTimeout(timer);
}

/** Run a program to completion, feeding `stdin`, and collect its output. */
export async function run(cmd: string, opts: RunOptions = {}): Promise<RunResult> {
  const child = spawn(cmd, opts, opts.stdin !== undefined);
  let timedOut = false;
  const cancel = deadline(child, opts.timeoutMs ?? 15_000, () => timedOut = true);
  try {
    const writing = (async () => {
      if (opts.stdin === undefined) return;
      const w = child.stdin.getWriter();
      try {
        await w.write(new TextEncoder().encode(opts.stdin));
      } finally {
        await w.close().catch(() => {});
      }
    })();
    const [out, status] = await Promise.all([child.output(), writing.then(() => child.status)]);
    const res: RunResult = {
      code: status.code,
      signal: status.signal,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
    if (timedOut) {
      throw new Error(
        `${cmd} ${(opts.args ?? []).join(" ")} timed out and was killed\n` +
          `stdout: ${res.stdout}\nstderr: ${res.stderr}`,
      );
    }
    return res;
  } finally {
    cancel();
  }
}

/** Run a program that must succeed; returns its stdout. */
export async function runOk(cmd: string, opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, opts);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${(opts.args ?? []).join(" ")} exited with ${r.code}\n` +
        `stdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
  return r.stdout;
}

/**
 * A child driven like a conversation: write to its stdin, wait until its stdout matches.
 * Used for `openssl s_client`, which has to be fed one SMTP command at a time.
 */
export class Conversation {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #readers: Promise<void>;
  readonly #cancelDeadline: () => void;
  #timedOut = false;
  #stdout = "";
  #stderr = "";
  #changed: (() => void) | null = null;
  #ended = false;
  readonly #cmd: string;

  constructor(cmd: string, opts: RunOptions = {}) {
    this.#cmd = `${cmd} ${(opts.args ?? []).join(" ")}`;
    this.#child = spawn(cmd, opts, true);
    this.#writer = this.#child.stdin.getWriter();
    this.#cancelDeadline = deadline(
      this.#child,
      opts.timeoutMs ?? 15_000,
      () => this.#timedOut = true,
    );
    const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
      const dec = new TextDecoder();
      for await (const chunk of s) {
        add(dec.decode(chunk, { stream: true }));
        this.#wake();
      }
    };
    this.#readers = Promise.all([
      pump(this.#child.stdout, (t) => this.#stdout += t),
      pump(this.#child.stderr, (t) => this.#stderr += t),
    ]).then(() => {
      this.#ended = true;
      this.#wake();
    });
  }

  #wake(): void {
    const w = this.#changed;
    this.#changed = null;
    w?.();
  }

  /** Everything the child printed on stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Everything the child printed on stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Write text to the child's stdin. */
  async write(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** Wait until stdout (from `from` on) matches `re`; returns the match. */
  async expect(re: RegExp, from = 0, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.#stdout.slice(from));
      if (m) return m;
      if (this.#ended || Date.now() >= end) {
        throw new Error(
          `${this.#cmd}: ${this.#ended ? "output ended" : "timed out"} before ${re}\n` +
            `stdout: ${this.#stdout}\nstderr: ${this.#stderr}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#changed = resolve;
        timer = setTimeout(resolve, Math.max(0, end - Date.now()));
      });
      clearTimeout(timer);
    }
  }

  /** Close stdin and wait for the child to exit (killed at the deadline). */
  async finish(): Promise<RunResult> {
    await this.#writer.close().catch(() => {});
    try {
      const status = await this.#child.status;
      await this.#readers;
      if (this.#timedOut) {
        throw new Error(
          `${this.#cmd} timed out and was killed\n` +
            `stdout: ${this.#stdout}\nstderr: ${this.#stderr}`,
        );
      }
      return {
        code: status.code,
        signal: status.signal,
        stdout: this.#stdout,
        stderr: this.#stderr,
      };
    } finally {
      this.#cancelDeadline();
    }
  }

  /** Kill the child now and reap it (cleanup path). */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.#writer.close().catch(() => {});
    await this.#child.status;
    await this.#readers.catch(() => {});
    this.#cancelDeadline();
  }
}

/** A loopback TCP port that was free a moment ago (bind port 0, read it, close). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The numeric ids and names of the current user, from `id` (Deno.uid needs --allow-sys). */
export async function currentUser(): Promise<
  { uid: number; gid: number; user: string; group: string }
> {
  const [uid, gid, user, group] = await Promise.all(
    ["-u", "-g", "-un", "-gn"].map(async (f) => (await runOk("id", { args: [f] })).trim()),
  ) as [string, string, string, string];
  return { uid: Number(uid), gid: Number(gid), user, group };
}

/** Look up a system user in the passwd database (getent reads /etc/passwd, not DNS). */
export async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const r = await run("getent", { args: ["passwd", name] });
  if (r.code !== 0) throw new Error(`interop: system user "${name}" does not exist`);
  const f = r.stdout.trim().split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}
