/**
 * Logging: one line per event, through LogTape (a small, dependency-free structured logger
 * that runs on Deno). Every line carries its properties (session id, peer, event, outcome) as
 * logfmt key=value pairs or as JSON lines, chosen by `log.format`.
 *
 * @module
 */

import {
  configureSync,
  getLogger,
  jsonLinesFormatter,
  logfmtFormatter,
  type Logger,
  type LogRecord,
  resetSync,
  type Sink,
} from "@logtape/logtape";
import type { Config } from "../config/config.ts";

export type { Logger };

const encoder = new TextEncoder();

/**
 * Lines waiting for standard output / standard error. Info and debug lines are written once
 * per turn of the event loop, all together (a busy server logs a few lines per message; one
 * write for many of them instead of a write each); warnings and errors at once, after what
 * waits before them. Nothing is dropped.
 */
const pending: { out: string[]; timer: ReturnType<typeof setTimeout> | undefined } = {
  out: [],
  timer: undefined,
};

function writeFully(stream: typeof Deno.stdout, text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += stream.writeSync(bytes.subarray(off));
}

/** Write every pending log line now (before exit, and before a warning or error). */
export function flushLogs(): void {
  if (pending.timer !== undefined) clearTimeout(pending.timer);
  pending.timer = undefined;
  if (pending.out.length === 0) return;
  const text = pending.out.join("");
  pending.out = [];
  try {
    writeFully(Deno.stdout, text);
  } catch {
    // stdout closed: nothing sensible to do with a log line
  }
}

function batchedSink(format: (r: LogRecord) => string): Sink {
  return (record: LogRecord) => {
    const line = format(record);
    if (record.level === "debug" || record.level === "info" || record.level === "trace") {
      pending.out.push(line);
      if (pending.timer === undefined) {
        const timer = setTimeout(flushLogs, 0);
        Deno.unrefTimer(timer);
        pending.timer = timer;
      }
      return;
    }
    flushLogs();
    try {
      writeFully(Deno.stderr, line);
    } catch {
      // stderr closed
    }
  };
}

/** Set up the root "postie" logger. Safe to call again (config reload). */
export function setupLogging(log: Config["log"]): void {
  flushLogs();
  resetSync();
  configureSync({
    sinks: {
      console: batchedSink(log.format === "json" ? jsonLinesFormatter : logfmtFormatter),
    },
    loggers: [
      { category: ["postie"], lowestLevel: log.level, sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}

/** A logger for a part of the server, e.g. `log("smtp")`. */
export function log(...category: string[]): Logger {
  return getLogger(["postie", ...category]);
}
