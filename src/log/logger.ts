/**
 * Logging: one line per event, through LogTape (a small, dependency-free structured logger
 * that runs on Deno). Every line carries its properties (session id, peer, event, outcome) as
 * logfmt key=value pairs or as JSON lines, chosen by `log.format`.
 *
 * @module
 */

import {
  configureSync,
  getConsoleSink,
  getLogger,
  jsonLinesFormatter,
  logfmtFormatter,
  type Logger,
  resetSync,
} from "@logtape/logtape";
import type { Config } from "../config/config.ts";

export type { Logger };

/** Set up the root "postie" logger. Safe to call again (config reload). */
export function setupLogging(log: Config["log"]): void {
  resetSync();
  configureSync({
    sinks: {
      console: getConsoleSink({
        formatter: log.format === "json" ? jsonLinesFormatter : logfmtFormatter,
      }),
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
