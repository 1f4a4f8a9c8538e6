/**
 * DMARC policy records (RFC 7489 §6.3, §6.4): the TXT record at `_dmarc.<domain>` in which a
 * Domain Owner states the policy for mail that fails DMARC and where reports should go.
 *
 * The grammar (RFC 7489 §6.4, abridged):
 *
 * ```
 * dmarc-record    = dmarc-version dmarc-sep [dmarc-request] [dmarc-sep dmarc-srequest] ...
 *                   ; components other than dmarc-version and dmarc-request may appear in
 *                   ; any order
 * dmarc-sep       = *WSP %x3b *WSP
 * dmarc-version   = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31      ; "DMARC1"
 * dmarc-request   = "p" *WSP "=" *WSP ( "none" / "quarantine" / "reject" )
 * dmarc-srequest  = "sp" *WSP "=" *WSP ( "none" / "quarantine" / "reject" )
 * dmarc-auri      = "rua" *WSP "=" *WSP dmarc-uri *(*WSP "," *WSP dmarc-uri)
 * dmarc-furi      = "ruf" *WSP "=" *WSP dmarc-uri *(*WSP "," *WSP dmarc-uri)
 * dmarc-adkim     = "adkim" *WSP "=" *WSP ( "r" / "s" )
 * dmarc-aspf      = "aspf" *WSP "=" *WSP ( "r" / "s" )
 * dmarc-ainterval = "ri" *WSP "=" *WSP 1*DIGIT
 * dmarc-fo        = "fo" *WSP "=" *WSP ( "0" / "1" / "d" / "s" )
 *                   *(*WSP ":" *WSP ( "0" / "1" / "d" / "s" ))
 * dmarc-rfmt      = "rf" *WSP "=" *WSP Keyword *(*WSP ":" Keyword)
 * dmarc-percent   = "pct" *WSP "=" *WSP 1*3DIGIT
 * dmarc-uri       = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]
 * ```
 *
 * Parsing is liberal where the RFC asks for it: unknown tags are ignored and a recognised tag
 * with a bad value falls back to its default (§6.3: "Syntax errors in the remainder of the
 * record SHOULD be discarded in favor of default values (if any) or ignored outright"). Each
 * such fallback is listed in {@linkcode DmarcRecord.problems}. A missing or invalid `p=` is
 * kept as `null`, for policy discovery to decide (§6.6.3 step 6).
 *
 * @module
 */

/** A requested policy (RFC 7489 §6.3 `p`, `sp`). */
export type DmarcPolicy = "none" | "quarantine" | "reject";

/** An alignment mode (RFC 7489 §6.3 `adkim`, `aspf`): relaxed or strict. */
export type AlignmentMode = "r" | "s";

/** A reporting URI of `rua=` or `ruf=` (RFC 7489 §6.2). */
export interface DmarcUri {
  /** The URI, e.g. "mailto:dmarc@example.com". */
  uri: string;
  /** The `!size` limit in bytes (k, m, g, t are powers of 2^10), when given. */
  maxSize?: number;
}

/** A parsed DMARC record (RFC 7489 §6.3). Defaults are filled in. */
export interface DmarcRecord {
  /** `p=`, or `null` when it is missing or not none/quarantine/reject (§6.6.3 step 6). */
  p: DmarcPolicy | null;
  /** `sp=`, or `null` when absent (then `p` applies to subdomains, §6.3) or invalid. */
  sp: DmarcPolicy | null;
  /** DKIM alignment mode; default relaxed. */
  adkim: AlignmentMode;
  /** SPF alignment mode; default relaxed. */
  aspf: AlignmentMode;
  /** Percentage of failing mail the policy applies to, 0-100; default 100. */
  pct: number;
  /** Aggregate report URIs; only syntactically valid ones. */
  rua: DmarcUri[];
  /** Failure report URIs; only syntactically valid ones. */
  ruf: DmarcUri[];
  /** Failure reporting options (`0`, `1`, `d`, `s`); default `["0"]`. */
  fo: string[];
  /** Failure report formats, lower-case; default `["afrf"]`. */
  rf: string[];
  /** Requested aggregate report interval in seconds; default 86400. */
  ri: number;
  /**
   * Names of recognised tags whose value was invalid (and so replaced by the default, or by
   * `null` for `p`/`sp`). `p` is listed only when present with a bad value.
   */
  invalidTags: string[];
  /** Human-readable notes on everything not taken as written (bad values, duplicates). */
  problems: string[];
}

const POLICIES: readonly string[] = ["none", "quarantine", "reject"];
// RFC 7489 §6.4 dmarc-uri: a URI (RFC 3986 §3: scheme ":" ...) with an optional "!" size.
const URI_SIZE_REGEXP = /^(.*?)(?:!(\d+)([kmgt])?)?$/is;
const URI_SCHEME_REGEXP = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/;
// RFC 5321 §4.1.2 Keyword (rf= values).
const KEYWORD_REGEXP = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
// RFC 7489 §6.4 dmarc-sep and the WSP around "=".
const WSP_REGEXP = /^[ \t]+|[ \t]+$/g;

function trimWsp(s: string): string {
  return s.replace(WSP_REGEXP, "");
}

/**
 * Parses the text of one TXT record (its character-strings already joined, RFC 7489 §6.1) as
 * a DMARC record.
 *
 * Returns `null` when the record does not start with `v=DMARC1`: such records are not DMARC
 * records and are discarded before counting (RFC 7489 §6.6.3 steps 2 and 4). Otherwise the
 * record is returned even when `p=` is missing or invalid; see {@linkcode DmarcRecord.p}.
 *
 * @param text the record text, e.g. `"v=DMARC1; p=reject; rua=mailto:d@example.com"`.
 * @returns the record with defaults filled in, or `null` if it is not a DMARC record.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDmarcRecord } from "./record.ts";
 * const rec = parseDmarcRecord("v=DMARC1; p=quarantine; pct=20; adkim=s");
 * assert.equal(rec?.p, "quarantine");
 * assert.equal(rec?.pct, 20);
 * assert.equal(rec?.aspf, "r");
 * assert.equal(parseDmarcRecord("v=spf1 -all"), null);
 * ```
 */
export function parseDmarcRecord(text: string): DmarcRecord | null {
  const parts = text.split(";").map(trimWsp);
  // RFC 7489 §6.3 "v": "MUST be the first tag"; §6.4 spells the value "DMARC1" with %x
  // codes, so it is case-sensitive. The tag name is a quoted ABNF string, so "V" is allowed.
  const first = /^v[ \t]*=[ \t]*(.*)$/is.exec(parts[0] ?? "");
  if (!first || first[1] !== "DMARC1") return null;

  const record: DmarcRecord = {
    p: null,
    sp: null,
    adkim: "r",
    aspf: "r",
    pct: 100,
    rua: [],
    ruf: [],
    fo: ["0"],
    rf: ["afrf"],
    ri: 86400,
    invalidTags: [],
    problems: [],
  };
  const seen = new Set<string>(["v"]);
  const invalid = (tag: string, value: string, fallback: string) => {
    record.invalidTags.push(tag);
    record.problems.push(`invalid ${tag}=${JSON.stringify(value)}: ${fallback}`);
  };

  for (const part of parts.slice(1)) {
    if (part === "") continue; // a trailing or doubled ";" (§6.4 allows a final dmarc-sep)
    const eq = part.indexOf("=");
    if (eq < 0) {
      record.problems.push(`ignored ${JSON.stringify(part)}: not tag=value`);
      continue;
    }
    const tag = trimWsp(part.slice(0, eq)).toLowerCase();
    const value = trimWsp(part.slice(eq + 1));
    if (seen.has(tag)) {
      record.problems.push(`ignored repeated ${tag}=`);
      continue;
    }
    seen.add(tag);
    const lower = value.toLowerCase();
    switch (tag) {
      // RFC 7489 §6.3 "p": none / quarantine / reject. The order rule ("v" then "p") binds
      // publishers; p= is accepted anywhere after v=, as receivers commonly do.
      case "p":
        if (POLICIES.includes(lower)) record.p = lower as DmarcPolicy;
        else invalid("p", value, "no valid policy");
        break;
      // RFC 7489 §6.3 "sp": like p; absent means p applies to subdomains.
      case "sp":
        if (POLICIES.includes(lower)) record.sp = lower as DmarcPolicy;
        else invalid("sp", value, "no valid subdomain policy");
        break;
      // RFC 7489 §6.3 "adkim", "aspf": "r" or "s", default "r".
      case "adkim":
      case "aspf":
        if (lower === "r" || lower === "s") record[tag] = lower;
        else invalid(tag, value, `using "r"`);
        break;
      // RFC 7489 §6.3 "pct": an integer between 0 and 100 inclusive, default 100.
      case "pct": {
        const n = /^\d{1,3}$/.test(value) ? Number(value) : NaN;
        if (n <= 100) record.pct = n;
        else invalid("pct", value, "using 100");
        break;
      }
      // RFC 7489 §6.3 "rua", "ruf": comma-separated DMARC URIs (§6.2).
      case "rua":
      case "ruf":
        record[tag] = parseUris(value, (bad) => invalid(tag, bad, "URI ignored"));
        break;
      // RFC 7489 §6.3 "fo": colon-separated 0 / 1 / d / s, default "0".
      case "fo": {
        const opts = value.split(":").map((o) => trimWsp(o).toLowerCase());
        if (opts.every((o) => ["0", "1", "d", "s"].includes(o))) record.fo = opts;
        else invalid("fo", value, `using "0"`);
        break;
      }
      // RFC 7489 §6.3 "rf": colon-separated report formats, default "afrf".
      case "rf": {
        const formats = value.split(":").map((f) => trimWsp(f).toLowerCase());
        if (formats.every((f) => KEYWORD_REGEXP.test(f))) record.rf = formats;
        else invalid("rf", value, `using "afrf"`);
        break;
      }
      // RFC 7489 §6.3 "ri": a 32-bit unsigned integer, default 86400.
      case "ri": {
        const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
        if (n <= 0xffffffff) record.ri = n;
        else invalid("ri", value, "using 86400");
        break;
      }
      // RFC 7489 §6.3: "Unknown tags MUST be ignored."
      default:
        break;
    }
  }
  return record;
}

/** Splits a `rua=`/`ruf=` value into its valid URIs (RFC 7489 §6.2, §6.4 dmarc-uri). */
function parseUris(value: string, onInvalid: (uri: string) => void): DmarcUri[] {
  const out: DmarcUri[] = [];
  // §6.2: a comma or "!" inside a URI must be %-encoded, so "," separates URIs.
  for (const item of value.split(",").map(trimWsp)) {
    const m = URI_SIZE_REGEXP.exec(item);
    const uri = m?.[1] ?? "";
    if (!URI_SCHEME_REGEXP.test(uri) || !URL.canParse(uri)) {
      onInvalid(item);
      continue;
    }
    const size = m?.[2];
    if (size === undefined) out.push({ uri });
    else out.push({ uri, maxSize: Number(size) * (UNITS[(m?.[3] ?? "").toLowerCase()] ?? 1) });
  }
  return out;
}
