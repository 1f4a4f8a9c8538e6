/**
 * Durable file-system steps shared by everything that stores data: a directory fsync (makes
 * new entries and renames in it survive a crash), directory creation that fsyncs each parent
 * that gained an entry, a write loop that writes everything, and a whole-file replace through a
 * temporary file.
 *
 * @module
 */

import { join } from "node:path";

/** Open a directory and fsync it, making renames and new entries in it durable. */
export async function syncDir(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** Create `dir` and its missing parents (mode 0700), fsyncing each parent that gained an entry. */
export async function mkdirDurable(dir: string): Promise<void> {
  // Walk up to find what exists, then create downwards.
  const missing: string[] = [];
  for (let p = dir;;) {
    try {
      await Deno.stat(p);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      missing.unshift(p);
      const parent = join(p, "..");
      if (parent === p) break;
      p = parent;
    }
  }
  for (const m of missing) {
    await Deno.mkdir(m, { mode: 0o700 }).catch((e) => {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    });
    await syncDir(join(m, ".."));
  }
}

/** Write all of `data` (a single write may be short). */
export async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await file.write(data.subarray(off));
}

/**
 * Replace `path` with `text` atomically: write `<path>.tmp` (with `mode`), fsync it,
 * rename it over `path`. The caller fsyncs the directory ({@link syncDir}) once it has written
 * all its files there, which makes the rename itself durable.
 */
export async function writeDurably(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true, mode });
  try {
    // A leftover temporary file keeps its old mode through open(): set it.
    await Deno.chmod(tmp, mode);
    await writeAll(f, new TextEncoder().encode(text));
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
}
