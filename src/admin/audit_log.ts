/**
 * The audit log of the admin page: one JSON line per change made through it (who, from which
 * address, what, to what, and whether it worked), appended to `<data_dir>/audit.log` (0600)
 * and synced, so that what was done from the page can be traced afterwards. Passwords and
 * session tokens are never written; a generated password is noted only as "generated".
 *
 * @module
 */

import { join } from "node:path";

/** One change. */
export interface AuditEntry {
  /** The account that made the change ("-" before login). */
  actor: string;
  ip: string;
  /** The API action, e.g. "accounts/add". */
  action: string;
  /** What it was applied to (an address, a queue id), when there is one. */
  target?: string;
  ok: boolean;
  /** The error, when it failed; or a short note. */
  detail?: string;
}

/** Appends {@link AuditEntry} lines; see the module documentation. */
export class AuditLog {
  readonly path: string;
  readonly #now: () => Date;
  // Appends are serialized so that lines never interleave.
  #tail: Promise<void> = Promise.resolve();

  constructor(dataDir: string, now: () => Date = () => new Date()) {
    this.path = join(dataDir, "audit.log");
    this.#now = now;
  }

  /** Append one entry; resolves when it is on disk. Errors are returned, not thrown. */
  write(entry: AuditEntry): Promise<void> {
    const line = JSON.stringify({ time: this.#now().toISOString(), ...entry }) + "\n";
    const next = this.#tail.then(async () => {
      const f = await Deno.open(this.path, {
        read: true,
        append: true,
        create: true,
        mode: 0o600,
      });
      try {
        // A line cut by a crash mid-write is ended first, so that this entry stays whole.
        const size = (await f.stat()).size;
        let text = line;
        if (size > 0) {
          const last = new Uint8Array(1);
          await f.seek(size - 1, Deno.SeekMode.Start);
          await f.read(last);
          if (last[0] !== 0x0a) text = "\n" + line;
        }
        const bytes = new TextEncoder().encode(text);
        let done = 0;
        while (done < bytes.length) done += await f.write(bytes.subarray(done));
        await f.sync();
      } finally {
        f.close();
      }
    });
    this.#tail = next.catch(() => {});
    return next;
  }

  /**
   * The last `limit` entries, newest first, for the page's log view. Only the end of the file
   * is read (at most 256 KiB), however long the log has grown.
   */
  async recent(limit: number): Promise<(AuditEntry & { time: string })[]> {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(this.path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    try {
      const size = (await f.stat()).size;
      const start = Math.max(0, size - 256 * 1024);
      await f.seek(start, Deno.SeekMode.Start);
      const buf = new Uint8Array(size - start);
      let got = 0;
      while (got < buf.length) {
        const n = await f.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      const lines = new TextDecoder().decode(buf.subarray(0, got)).split("\n");
      if (start > 0) lines.shift(); // a partial first line
      const out = [];
      for (const l of lines.reverse()) {
        if (out.length >= limit) break;
        if (l === "") continue;
        try {
          out.push(JSON.parse(l));
        } catch {
          // A line cut by a crash mid-write: skip it.
        }
      }
      return out;
    } finally {
      f.close();
    }
  }

  /** Every entry on disk, oldest first. */
  async read(): Promise<(AuditEntry & { time: string })[]> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  }
}
