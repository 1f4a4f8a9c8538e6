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
      const f = await Deno.open(this.path, { append: true, create: true, mode: 0o600 });
      try {
        const bytes = new TextEncoder().encode(line);
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

  /** The entries on disk, oldest first (tests, and the page's log view). */
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
