/**
 * The XML of an aggregate report → a validated {@link AggregateReport} (RFC 7489 Appendix C).
 *
 * Safety: the document is refused outright when it has a `<!DOCTYPE` or `<!ENTITY` (no DTD, so
 * no billion laughs and no external entities); `fast-xml-parser` runs with entity processing
 * off, and only the five predefined entities and character references (XML 1.0 §4.1, §4.6)
 * are decoded here, by us; any other `&name;` is an error. Size (20 MiB), nesting (the
 * parser's 100 levels) and record count (100,000) are bounded.
 *
 * Validation follows the schema: required elements must be there once, enumerations take
 * their listed values (case-insensitively), counts are non-negative integers, IPs are IPv4 or
 * IPv6 text, dates are Unix seconds with begin ≤ end, both before 2100 and at most 366 days
 * apart. Unknown elements (extensions, DMARCbis additions such as `np`, `generator`) are
 * ignored.
 *
 * @module
 */

import { XMLParser, XMLValidator } from "fast-xml-parser";
import { isIP } from "node:net";
import type {
  AggregateReport,
  AlignedResult,
  Disposition,
  DkimResult,
  ReportRecord,
  ReportRejection,
  RequestedPolicy,
  SpfResult,
  SpfScope,
} from "./aggregate_parser.ts";
import { MAX_REPORT_BYTES } from "./_bounded_inflate.ts";

/** The most records accepted in one report. */
export const MAX_RECORDS = 100_000;

/** The largest message count of one record (2^32 - 1), so that sums stay exact. */
const MAX_COUNT = 4_294_967_295;

/** The latest date accepted (2100-01-01T00:00:00Z), in Unix seconds. */
const LATEST = 4_102_444_800;
const LONGEST_RANGE = 366 * 86_400;
const MAX_TEXT = 1024;

const ARRAYS = new Set([
  "feedback.record",
  "feedback.record.auth_results.dkim",
  "feedback.record.auth_results.spf",
]);

const PARSER = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  trimValues: true,
  isArray: (_name: string, jpath: unknown) => ARRAYS.has(String(jpath)),
});

const DISPOSITIONS = ["none", "quarantine", "reject", "pass"] as const;
const POLICIES = ["none", "quarantine", "reject"] as const;
const ALIGNED = ["pass", "fail"] as const;
const DKIM_RESULTS = [
  "none",
  "pass",
  "fail",
  "policy",
  "neutral",
  "temperror",
  "permerror",
] as const;
const SPF_RESULTS = [
  "none",
  "neutral",
  "pass",
  "fail",
  "softfail",
  "temperror",
  "permerror",
] as const;
const SCOPES = ["helo", "mfrom"] as const;
const ALIGNMENTS = ["r", "s"] as const;

const DOMAIN = /^[\p{L}\p{N}_-]+(?:\.[\p{L}\p{N}_-]+)*$/u;

/** A validation failure, caught in {@link reportFromXml}. */
class Invalid extends Error {}

type Node = Record<string, unknown>;

/** The report in `xml`, or why it is not a valid one. Never throws. */
export function reportFromXml(
  xml: Uint8Array,
): { ok: true; report: AggregateReport } | ReportRejection {
  if (xml.length > MAX_REPORT_BYTES) {
    return { ok: false, reason: `xml: larger than ${MAX_REPORT_BYTES} bytes` };
  }
  const text = decodeXml(xml);
  // No DTD at all: entity definitions are how XML bombs and external entities work.
  if (/<!DOCTYPE/i.test(text)) return { ok: false, reason: "xml: a DOCTYPE is not allowed" };
  if (/<!ENTITY/i.test(text)) return { ok: false, reason: "xml: an ENTITY is not allowed" };
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const e = valid.err;
    return { ok: false, reason: `xml: malformed (line ${e.line}: ${e.msg})` };
  }
  let doc: Node;
  try {
    doc = PARSER.parse(text) as Node;
  } catch (e) {
    return { ok: false, reason: `xml: malformed (${(e as Error).message})` };
  }
  try {
    return { ok: true, report: toReport(doc) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, reason: e.message };
    return { ok: false, reason: `xml: ${(e as Error).message}` };
  }
}

/** The text of the document in the encoding its declaration names (UTF-8 by default). */
function decodeXml(xml: Uint8Array): string {
  const head = new TextDecoder("latin1").decode(xml.subarray(0, 200));
  const label = /^\s*<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)?.[1];
  try {
    return new TextDecoder(label ?? "utf-8", { ignoreBOM: false }).decode(xml);
  } catch {
    return new TextDecoder("utf-8").decode(xml);
  }
}

const PREDEFINED: Record<string, string> = {
  lt: "<",
  gt: ">",
  amp: "&",
  quot: '"',
  apos: "'",
};

/** XML 1.0 §4.6 predefined entities and §4.1 character references; others are invalid. */
function decodeEntities(s: string, path: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&([^;&\s]{0,10});?/g, (all, name: string) => {
    if (!all.endsWith(";")) throw new Invalid(`${path}: a bare "&"`);
    const predefined = PREDEFINED[name];
    if (predefined !== undefined) return predefined;
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
    const cp = m ? parseInt(m[1] ?? m[2]!, m[1] ? 16 : 10) : -1;
    if (cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw new Invalid(`${path}: unknown entity "${all}"`);
    }
    return String.fromCodePoint(cp);
  });
}

function node(parent: Node, key: string, path: string): Node {
  const v = parent[key];
  if (v === undefined) throw new Invalid(`missing ${path}/${key}`);
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Invalid(`${path}/${key} must be one element with children`);
  }
  return v as Node;
}

function optText(parent: Node, key: string, path: string): string | undefined {
  const v = parent[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw new Invalid(`${path}/${key} appears more than once`);
  if (typeof v !== "string") throw new Invalid(`${path}/${key} must be text`);
  const s = decodeEntities(v, `${path}/${key}`).trim();
  if (s.length > MAX_TEXT) throw new Invalid(`${path}/${key} is longer than ${MAX_TEXT}`);
  return s === "" ? undefined : s;
}

function text(parent: Node, key: string, path: string): string {
  const s = optText(parent, key, path);
  if (s === undefined) throw new Invalid(`missing ${path}/${key}`);
  return s;
}

function optEnum<T extends string>(
  parent: Node,
  key: string,
  path: string,
  values: readonly T[],
): T | undefined {
  const s = optText(parent, key, path)?.toLowerCase();
  if (s === undefined) return undefined;
  if (!(values as readonly string[]).includes(s)) {
    throw new Invalid(`${path}/${key}: "${s}" is not one of ${values.join(", ")}`);
  }
  return s as T;
}

function oneOf<T extends string>(parent: Node, key: string, path: string, values: readonly T[]): T {
  const v = optEnum(parent, key, path, values);
  if (v === undefined) throw new Invalid(`missing ${path}/${key}`);
  return v;
}

function integer(parent: Node, key: string, path: string, max: number): number {
  const s = text(parent, key, path);
  if (!/^\+?[0-9]{1,16}$/.test(s) || Number(s) > max) {
    throw new Invalid(`${path}/${key}: "${s}" is not an integer from 0 to ${max}`);
  }
  return Number(s);
}

function domain(parent: Node, key: string, path: string): string {
  const d = optDomain(parent, key, path);
  if (d === undefined) throw new Invalid(`missing ${path}/${key}`);
  return d;
}

function optDomain(parent: Node, key: string, path: string): string | undefined {
  const s = optText(parent, key, path)?.toLowerCase().replace(/\.$/, "");
  if (s === undefined) return undefined;
  if (s.length > 253 || !DOMAIN.test(s)) throw new Invalid(`${path}/${key}: "${s}" is no domain`);
  return s;
}

function list(parent: Node, key: string, path: string): Node[] {
  const v = parent[key];
  if (v === undefined) return [];
  const items = Array.isArray(v) ? v : [v];
  return items.map((item, i) => {
    // An empty element (<dkim/>) parses as "".
    if (typeof item !== "object" || item === null) {
      throw new Invalid(`${path}/${key}[${i + 1}] must be an element with children`);
    }
    return item as Node;
  });
}

function toReport(doc: Node): AggregateReport {
  const feedback = node(doc, "feedback", "");
  const meta = node(feedback, "report_metadata", "/feedback");
  const range = node(meta, "date_range", "/feedback/report_metadata");
  const rangePath = "/feedback/report_metadata/date_range";
  const begin = integer(range, "begin", rangePath, LATEST);
  const end = integer(range, "end", rangePath, LATEST);
  if (begin > end) throw new Invalid(`${rangePath}: begin ${begin} is after end ${end}`);
  if (end - begin > LONGEST_RANGE) {
    throw new Invalid(`${rangePath}: a range of more than 366 days`);
  }
  const pp = node(feedback, "policy_published", "/feedback");
  const ppPath = "/feedback/policy_published";
  const adkim = optEnum(pp, "adkim", ppPath, ALIGNMENTS);
  const aspf = optEnum(pp, "aspf", ppPath, ALIGNMENTS);
  const sp = optEnum<RequestedPolicy>(pp, "sp", ppPath, POLICIES);
  const pct = pp.pct === undefined ? undefined : integer(pp, "pct", ppPath, 100);
  const records = list(feedback, "record", "/feedback");
  if (records.length === 0) throw new Invalid("no /feedback/record");
  if (records.length > MAX_RECORDS) throw new Invalid(`more than ${MAX_RECORDS} records`);
  const metaPath = "/feedback/report_metadata";
  return {
    orgName: text(meta, "org_name", metaPath),
    email: text(meta, "email", metaPath),
    reportId: text(meta, "report_id", metaPath),
    begin,
    end,
    policy: {
      domain: domain(pp, "domain", ppPath),
      ...(adkim ? { adkim } : {}),
      ...(aspf ? { aspf } : {}),
      p: oneOf<RequestedPolicy>(pp, "p", ppPath, POLICIES),
      ...(sp ? { sp } : {}),
      ...(pct !== undefined ? { pct } : {}),
    },
    records: records.map((r, i) => toRecord(r, `/feedback/record[${i + 1}]`)),
  };
}

function toRecord(r: Node, path: string): ReportRecord {
  const row = node(r, "row", path);
  const rowPath = `${path}/row`;
  const sourceIp = text(row, "source_ip", rowPath);
  if (isIP(sourceIp) === 0) throw new Invalid(`${rowPath}/source_ip: "${sourceIp}" is no IP`);
  const count = integer(row, "count", rowPath, MAX_COUNT);
  const pe = node(row, "policy_evaluated", rowPath);
  const pePath = `${rowPath}/policy_evaluated`;
  const ids = node(r, "identifiers", path);
  const idPath = `${path}/identifiers`;
  const envelopeFrom = optDomain(ids, "envelope_from", idPath);
  const auth = r.auth_results === undefined ? {} : node(r, "auth_results", path);
  const authPath = `${path}/auth_results`;
  return {
    sourceIp: sourceIp.toLowerCase(),
    count,
    disposition: oneOf<Disposition>(pe, "disposition", pePath, DISPOSITIONS),
    dkim: oneOf<AlignedResult>(pe, "dkim", pePath, ALIGNED),
    spf: oneOf<AlignedResult>(pe, "spf", pePath, ALIGNED),
    headerFrom: domain(ids, "header_from", idPath),
    ...(envelopeFrom !== undefined ? { envelopeFrom } : {}),
    authResults: {
      dkim: list(auth, "dkim", authPath).map((d, i) => {
        const p = `${authPath}/dkim[${i + 1}]`;
        const selector = optText(d, "selector", p);
        return {
          domain: domain(d, "domain", p),
          ...(selector !== undefined ? { selector } : {}),
          result: oneOf<DkimResult>(d, "result", p, DKIM_RESULTS),
        };
      }),
      spf: list(auth, "spf", authPath).map((s, i) => {
        const p = `${authPath}/spf[${i + 1}]`;
        const scope = optEnum<SpfScope>(s, "scope", p, SCOPES);
        return {
          domain: domain(s, "domain", p),
          ...(scope !== undefined ? { scope } : {}),
          result: oneOf<SpfResult>(s, "result", p, SPF_RESULTS),
        };
      }),
    },
  };
}
