/**
 * Helpers for the queue's unit tests: a typical enqueue request, a temporary data directory,
 * directory listings and running a command. Test-only; private to src/queue.
 *
 * @module
 */

import type { EnqueueRequest } from "./enqueuer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A message for bob and carol with a trace header and a two-part content. */
export function request(overrides: Partial<EnqueueRequest> = {}): EnqueueRequest {
  return {
    sender: "alice@example.test",
    recipients: ["bob@example.net", "carol@example.org"],
    header: "Received: from client.example (client.example [192.0.2.1])\r\n",
    content: [enc.encode("Subject: hi\r\n\r\n"), enc.encode("hello\r\n")],
    ...overrides,
  };
}

/** The names in `dir`, sorted. */
export async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** Runs `fn` with a fresh temporary directory, removed after. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-queue-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs a command; its stdout, or an error with its stderr when it fails. */
export async function run(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stderr: "piped", stdout: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}
