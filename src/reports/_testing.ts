/**
 * Helpers for the report unit tests: an evaluation with overridable fields, a fake resolver
 * with TXT records and names that fail temporarily, and a log in a temporary directory.
 * Test-only; private to src/reports.
 *
 * @module
 */

import type { DnsResult, RecordType, RecordTypes, Resolver } from "../dns/resolver.ts";
import { type DmarcEvaluation, EvaluationLog } from "./evaluation_log.ts";

/** A passing evaluation for a.test from 192.0.2.1, with `over` applied. */
export function evaluation(over: Partial<DmarcEvaluation> = {}): DmarcEvaluation {
  return {
    time: new Date("2025-01-02T03:04:05Z"),
    sourceIp: "192.0.2.1",
    headerFrom: "a.test",
    envelopeFrom: "a.test",
    policyDomain: "a.test",
    policy: { p: "reject", sp: "reject", pct: 100, adkim: "r", aspf: "r" },
    rua: [{ uri: "mailto:dmarc@a.test" }],
    disposition: "none",
    dkimAligned: "pass",
    spfAligned: "pass",
    dkim: [{ domain: "a.test", selector: "s1", result: "pass" }],
    spf: { domain: "a.test", scope: "mfrom", result: "pass" },
    ...over,
  };
}

/** A resolver answering TXT from `txt` (NXDOMAIN otherwise); names in `fail` are SERVFAIL. */
export function fakeResolver(
  txt: Record<string, string[]>,
  fail: string[] = [],
  asked: string[] = [],
): Resolver {
  return {
    lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<RecordTypes[T]>> {
      asked.push(`${name} ${type}`);
      if (fail.includes(name)) return Promise.resolve({ kind: "temporary", reason: "SERVFAIL" });
      const records = type === "TXT" ? txt[name] : undefined;
      if (!records) return Promise.resolve({ kind: "nxdomain" });
      return Promise.resolve({ kind: "ok", records: records as RecordTypes[T][], ttl: 60 });
    },
  };
}

/** Runs `fn` with an evaluation log in a new temporary directory, removed afterwards. */
export async function withLog(
  fn: (log: EvaluationLog, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-reports-" });
  const log = await EvaluationLog.open(dir);
  try {
    await fn(log, dir);
  } finally {
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** gunzip (RFC 1952) to text. */
export async function gunzip(data: Uint8Array): Promise<string> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}
