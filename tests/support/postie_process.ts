/**
 * postie as a separate process, for the tests that kill it (-9) or run its CLI: the program,
 * the permissions it is run with, and `serve --config FILE` with its output discarded.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The program's entry point. */
export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** `deno run` and the permissions the compiled program is given. */
export const DENO_RUN_FLAGS = [
  "run",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=hostname,statfs",
];

/**
 * `postie serve --config configPath` as a child process. Its log goes to null: an unread pipe
 * would fill up and stall the server.
 */
export function servePostie(configPath: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    env: { DENO_NO_UPDATE_CHECK: "1" },
    args: [...DENO_RUN_FLAGS, MAIN, "serve", "--config", configPath],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Run `postie ARGS` to the end, with no stdin; its exit code and output as text. */
export async function runPostie(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    env: { DENO_NO_UPDATE_CHECK: "1" },
    args: [...DENO_RUN_FLAGS, MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
