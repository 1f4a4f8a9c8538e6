/**
 * Writing a file that must not exist yet: created exclusively (`O_EXCL`), written whole and
 * fsynced before it is closed, so that an existing file is never replaced and a crash never
 * leaves a file that looks complete but is not. Fsyncing the directory is the caller's step
 * (it may rename or link the file first).
 *
 * @module
 */

import { dirname } from "node:path";
import { syncDir, writeAll } from "./durable.ts";

/**
 * Create `path` with `text` and `mode`, and fsync it.
 *
 * @example
 * ```ts
 * await writeNewFile("/etc/postie/postie.yaml", "hostname: mail.example.com\n", 0o644);
 * ```
 * @throws {Deno.errors.AlreadyExists} when `path` exists.
 */
export async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  const f = await Deno.open(path, { write: true, createNew: true, mode });
  try {
    await writeAll(f, new TextEncoder().encode(text));
    await f.sync();
  } finally {
    f.close();
  }
}

/**
 * Create `path` with `text` unless it exists, whole or not at all: written and fsynced under a
 * temporary name, then linked into place (a link never replaces a name), then the directory
 * fsynced. Of two processes creating it at once, one file wins and both see it.
 *
 * @returns whether this call created it.
 */
export async function createFileOnce(path: string, text: string, mode: number): Promise<boolean> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  let created = true;
  try {
    await writeNewFile(tmp, text, mode);
    await Deno.link(tmp, path).catch((e) => {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      created = false;
    });
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  await syncDir(dirname(path));
  return created;
}
