/**
 * Reading the shared conformance data (../shared/conformance, beside the repository) at run
 * time; nothing of it is copied into the project.
 *
 * @module
 */

import type { ZoneRecord } from "./dns_server.ts";

/** The record types a TIMEOUT entry of the openspf suite applies to. */
export const SPF_SUITE_TYPES = ["A", "AAAA", "MX", "TXT", "PTR", "CNAME"];

/**
 * An openspf suite scenario's zonedata as zone records and timeout faults (see
 * ../shared/conformance/spf/README.md "zonedata").
 */
export function zoneFrom(zonedata: Record<string, unknown[]>) {
  const records: ZoneRecord[] = [];
  const faults: [string, string][] = [];
  for (const [owner, entries] of Object.entries(zonedata)) {
    const name = owner.replace(/\.$/, "");
    const hasTxt = entries.some((e) => typeof e === "object" && e !== null && "TXT" in e);
    const seen = new Set<string>();
    for (const e of entries) {
      if (e === "TIMEOUT") {
        // A query for a type not listed before TIMEOUT times out.
        for (const t of SPF_SUITE_TYPES) if (!seen.has(t)) faults.push([name, t]);
        continue;
      }
      const [type, value] = Object.entries(e as Record<string, unknown>)[0]!;
      const asTxt = (v: unknown): string | string[] => Array.isArray(v) ? v.map(String) : String(v);
      switch (type) {
        case "SPF":
          // RFC 7208 has no SPF RR type; the suite's SPF entries are TXT unless TXT is given.
          if (!hasTxt) {
            records.push({ name, type: "TXT", data: asTxt(value) });
            seen.add("TXT");
          }
          break;
        case "TXT":
          // "TXT: NONE" means no TXT records (and a later TIMEOUT then applies to TXT).
          if (value !== "NONE") {
            records.push({ name, type: "TXT", data: asTxt(value) });
            seen.add("TXT");
          }
          break;
        case "MX": {
          const [preference, exchange] = value as [number, string];
          records.push({ name, type: "MX", data: { preference, exchange: exchange || "." } });
          seen.add("MX");
          break;
        }
        case "A":
        case "AAAA":
        case "PTR":
        case "CNAME":
          records.push({ name, type, data: String(value) } as ZoneRecord);
          seen.add(type);
          break;
        default:
          throw new Error(`unknown zonedata type ${type}`);
      }
    }
  }
  return { records, faults };
}

/** One end-of-data variant of SMUGGLING.md's table. */
export interface SmugglingVariant {
  n: number;
  name: string;
  bytes: Uint8Array;
}

const SMUGGLING_MD = new URL("../../../shared/conformance/smtp/SMUGGLING.md", import.meta.url);

/** Parse the variant table ("| 5 | lfcrlf | `0A 2E 0D 0A` | ...") of SMUGGLING.md. */
export function parseSmugglingVariants(md: string): SmugglingVariant[] {
  const out: SmugglingVariant[] = [];
  for (const line of md.split("\n")) {
    const m = /^\|\s*(\d+)\s*\|([^|]*)\|\s*`([0-9A-Fa-f]{2}(?: [0-9A-Fa-f]{2})*)`\s*\|/.exec(line);
    if (!m) continue;
    out.push({
      n: Number(m[1]),
      name: m[2]!.trim(),
      bytes: Uint8Array.from(m[3]!.split(" "), (h) => parseInt(h, 16)),
    });
  }
  return out;
}

/** The twelve variants, read from the shared conformance text. */
export async function smugglingVariants(): Promise<SmugglingVariant[]> {
  return parseSmugglingVariants(await Deno.readTextFile(SMUGGLING_MD));
}
