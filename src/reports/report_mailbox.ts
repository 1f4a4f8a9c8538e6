/**
 * The Maildir of `reports.address`: each message that lands in its `new/` is read as a DMARC
 * aggregate report ({@link ingestReport}: stored, or kept aside with the reason) and then moved
 * to `cur/` as seen, so that an account of that name still finds it in a mail client and a
 * restart does not read it twice. It is looked at when a delivery wakes it and once a minute
 * (and at start, for what arrived before a crash).
 *
 * @module
 */

import { join } from "node:path";
import type { Logger } from "../log/logger.ts";
import { ingestReport } from "./report_inbox.ts";

/** What the watcher needs. */
export interface ReportMailboxOptions {
  dataDir: string;
  /** The Maildir of reports.address. */
  mailbox: string;
  /** Only reports about these domains are stored. */
  domains: () => readonly string[];
  log: Logger;
  pollMs?: number;
}

/** See the module documentation. */
export class ReportMailbox {
  readonly #o: ReportMailboxOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | null = null;
  #again = false;

  constructor(o: ReportMailboxOptions) {
    this.#o = o;
  }

  /** The mailbox directory this watches. */
  get mailbox(): string {
    return this.#o.mailbox;
  }

  /** Read what is there now, and keep watching. */
  start(): void {
    this.#timer = setInterval(() => this.kick(), this.#o.pollMs ?? 60_000);
    this.kick();
  }

  /** Look now (a delivery arrived). */
  kick(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#scan().catch((e) => {
      this.#o.log.error("reading DMARC reports failed: {error}", {
        event: "report_failed",
        error: (e as Error).message,
      });
    }).finally(() => {
      this.#running = null;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  /** Resolves once nothing is being read (tests). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stop watching; a scan in progress finishes. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.idle();
  }

  async #scan(): Promise<void> {
    const dir = join(this.#o.mailbox, "new");
    let names: string[];
    try {
      names = [];
      for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      const message = await Deno.readFile(path);
      const r = await ingestReport(this.#o.dataDir, message, { domains: this.#o.domains() });
      this.#o.log.info("DMARC report {name}: {result}", {
        event: "report_read",
        name,
        result: r.outcome,
      });
      // RFC-style Maildir: seen, in cur/ (the `:2,S` info suffix).
      await Deno.rename(path, join(this.#o.mailbox, "cur", `${name}:2,S`));
    }
  }
}
