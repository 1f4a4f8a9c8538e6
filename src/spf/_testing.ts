/**
 * Helpers for the SPF unit tests: an in-memory resolver. Test-only; private to src/spf.
 *
 * @module
 */

import type { DnsResult, RecordType, RecordTypes, Resolver } from "../dns/resolver.ts";

/** An in-memory resolver: records per "type name", plus names that fail temporarily. */
export function fakeResolver(
  records: Record<string, unknown[]>,
  temporary: string[] = [],
): Resolver & { count: number } {
  const r = {
    count: 0,
    lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<RecordTypes[T]>> {
      r.count++;
      const key = `${type} ${name.toLowerCase().replace(/\.$/, "")}`;
      if (temporary.includes(key)) return Promise.resolve({ kind: "temporary", reason: "test" });
      const found = records[key];
      if (found) {
        return Promise.resolve({ kind: "ok", records: found as RecordTypes[T][], ttl: 60 });
      }
      const exists = Object.keys(records).some((k) => k.endsWith(` ${name.toLowerCase()}`));
      return Promise.resolve(exists ? { kind: "nodata" } : { kind: "nxdomain" });
    },
  };
  return r;
}
