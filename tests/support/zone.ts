/**
 * Reading back the zone text `postie dns` prints, as a DNS admin would paste it, into records
 * for the test DNS server.
 *
 * @module
 */

import type { ZoneRecord } from "./dns_server.ts";

/** Parse "name. 3600 IN TYPE rdata" lines; comment lines (";") are skipped. */
export function parseZone(text: string): ZoneRecord[] {
  const out: ZoneRecord[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith(";") || line.trim() === "") continue;
    const m = /^(\S+)\. 3600 IN (\S+) (.*)$/.exec(line);
    if (!m) throw new SyntaxError(`Unparseable zone line: ${line}`);
    const [, name, type, rdata] = m as unknown as [string, string, string, string];
    if (type === "TXT") {
      const parts = [...rdata.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((p) =>
        p[1]!.replace(/\\(.)/g, "$1")
      );
      out.push({ name, type: "TXT", data: parts });
    } else if (type === "MX") {
      const [pref, ex] = rdata.split(" ");
      out.push({
        name,
        type: "MX",
        data: { preference: Number(pref), exchange: ex!.replace(/\.$/, "") },
      });
    } else {
      out.push({ name, type, data: rdata.replace(/\.$/, "") } as ZoneRecord);
    }
  }
  return out;
}
