/**
 * SEARCH arguments as an AST: RFC 3501 §6.4.4 and §9 (`search`, `search-key`), the ESEARCH
 * `RETURN (...)` options of RFC 4731 §3.1 (plus SAVE, RFC 5182 §2), MODSEQ of RFC 7162 §3.1.5
 * and OLDER / YOUNGER of RFC 5032 §3.
 *
 * ```
 * search     = "SEARCH" [search-return-opts] SP ["CHARSET" SP astring SP] search-key *(SP search-key)
 * search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date / ... /
 *              "NOT" SP search-key / "OR" SP search-key SP search-key / sequence-set /
 *              "(" search-key *(SP search-key) ")"
 * ```
 *
 * Keys are normalised: UNSEEN is `{ op: "flag", flag: "\\Seen", set: false }`, NEW is RECENT
 * UNSEEN, OLD is NOT RECENT, FROM/TO/CC/BCC/SUBJECT are `header` keys with an upper-case field
 * name (the matcher may treat address fields specially). Several keys are an `and`. String
 * arguments are decoded with the CHARSET given (TextDecoder labels); an unknown charset is a
 * ParseError with code BADCHARSET (RFC 3501 §6.4.4: reply `NO [BADCHARSET]`). Without CHARSET,
 * strings are read as UTF-8 (US-ASCII is a subset; invalid octets become U+FFFD).
 *
 * @module
 */

import { Cursor, type SearchDate } from "./cursor.ts";
import { ParseError } from "./parse_error.ts";
import type { SequenceSet } from "./sequence_set.ts";

/** A search key. */
export type SearchKey =
  | { readonly op: "all" }
  | { readonly op: "flag"; readonly flag: string; readonly set: boolean }
  | { readonly op: "recent" }
  | { readonly op: "header"; readonly field: string; readonly value: string }
  | { readonly op: "body" | "text"; readonly value: string }
  | {
    readonly op: "date";
    /** "internal": BEFORE/ON/SINCE; "sent": the Date: header, SENT* keys. */
    readonly which: "internal" | "sent";
    readonly cmp: "before" | "on" | "since";
    readonly date: SearchDate;
  }
  | { readonly op: "size"; readonly cmp: "larger" | "smaller"; readonly size: number }
  | { readonly op: "age"; readonly cmp: "older" | "younger"; readonly seconds: number }
  | { readonly op: "modseq"; readonly modseq: number }
  | { readonly op: "uid" | "seq"; readonly set: SequenceSet }
  | { readonly op: "not"; readonly key: SearchKey }
  | { readonly op: "or"; readonly a: SearchKey; readonly b: SearchKey }
  | { readonly op: "and"; readonly keys: readonly SearchKey[] };

/** ESEARCH result options (RFC 4731 §3.1; SAVE per RFC 5182). */
export type SearchReturn = "MIN" | "MAX" | "ALL" | "COUNT" | "SAVE";

/** A parsed SEARCH argument list. */
export interface SearchArgs {
  /** The CHARSET given, upper-cased, if any. */
  readonly charset?: string;
  /**
   * RETURN options when given (ESEARCH response wanted). `RETURN ()` is `["ALL"]` (RFC 4731
   * §3.1: "equivalent to RETURN (ALL)").
   */
  readonly returns?: readonly SearchReturn[];
  readonly key: SearchKey;
}

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ["\\Answered", true],
  DELETED: ["\\Deleted", true],
  DRAFT: ["\\Draft", true],
  FLAGGED: ["\\Flagged", true],
  SEEN: ["\\Seen", true],
  UNANSWERED: ["\\Answered", false],
  UNDELETED: ["\\Deleted", false],
  UNDRAFT: ["\\Draft", false],
  UNFLAGGED: ["\\Flagged", false],
  UNSEEN: ["\\Seen", false],
};

const HEADER_KEYS = new Set(["FROM", "TO", "CC", "BCC", "SUBJECT"]);

const DATE_KEYS: Record<string, ["internal" | "sent", "before" | "on" | "since"]> = {
  BEFORE: ["internal", "before"],
  ON: ["internal", "on"],
  SINCE: ["internal", "since"],
  SENTBEFORE: ["sent", "before"],
  SENTON: ["sent", "on"],
  SENTSINCE: ["sent", "since"],
};

class SearchParser {
  readonly #c: Cursor;
  readonly #decoder: TextDecoder;

  constructor(c: Cursor, decoder: TextDecoder) {
    this.#c = c;
    this.#decoder = decoder;
  }

  #string(): string {
    try {
      return this.#decoder.decode(this.#c.astringBytes());
    } catch (e) {
      if (e instanceof ParseError) throw e;
      throw new ParseError("String is not valid in the given charset", "BADCHARSET");
    }
  }

  /** One search-key; `depth` counts nesting of parentheses, NOT and OR. */
  key(depth: number): SearchKey {
    const c = this.#c;
    if (depth > c.maxDepth) throw new ParseError("Search keys nested too deeply");
    if (c.is("(")) {
      const keys = c.parenList(() => this.key(depth + 1), false);
      return keys.length === 1 ? keys[0]! : { op: "and", keys };
    }
    const b = c.peek();
    if (b !== undefined && ((b >= 0x30 && b <= 0x39) || b === 0x2a || b === 0x24)) {
      return { op: "seq", set: c.sequenceSet() };
    }
    const name = c.keyword("a search key");
    const flag = FLAG_KEYS[name];
    if (flag) return { op: "flag", flag: flag[0], set: flag[1] };
    const dateKey = DATE_KEYS[name];
    if (dateKey) {
      c.sp();
      return { op: "date", which: dateKey[0], cmp: dateKey[1], date: c.date() };
    }
    if (HEADER_KEYS.has(name)) {
      c.sp();
      return { op: "header", field: name, value: this.#string() };
    }
    switch (name) {
      case "ALL":
        return { op: "all" };
      case "RECENT":
        return { op: "recent" };
      case "NEW":
        return { op: "and", keys: [{ op: "recent" }, { op: "flag", flag: "\\Seen", set: false }] };
      case "OLD":
        return { op: "not", key: { op: "recent" } };
      case "KEYWORD":
      case "UNKEYWORD":
        c.sp();
        return { op: "flag", flag: c.flag(), set: name === "KEYWORD" };
      case "BODY":
      case "TEXT":
        c.sp();
        return { op: name === "BODY" ? "body" : "text", value: this.#string() };
      case "HEADER": {
        c.sp();
        const field = this.#string();
        c.sp();
        return { op: "header", field, value: this.#string() };
      }
      case "LARGER":
      case "SMALLER":
        c.sp();
        return { op: "size", cmp: name === "LARGER" ? "larger" : "smaller", size: c.number() };
      case "OLDER":
      case "YOUNGER":
        c.sp();
        return { op: "age", cmp: name === "OLDER" ? "older" : "younger", seconds: c.nzNumber() };
      case "UID":
        c.sp();
        return { op: "uid", set: c.sequenceSet() };
      case "NOT":
        c.sp();
        return { op: "not", key: this.key(depth + 1) };
      case "OR": {
        c.sp();
        const a = this.key(depth + 1);
        c.sp();
        return { op: "or", a, b: this.key(depth + 1) };
      }
      case "MODSEQ": {
        c.sp();
        if (c.is('"')) {
          // RFC 7162 §3.1.5: [SP entry-name SP entry-type-req]; accepted and ignored.
          c.quoted();
          c.sp();
          c.keyword("an entry type");
          c.sp();
        }
        return { op: "modseq", modseq: c.number64() };
      }
      default:
        throw new ParseError(`Unknown search key ${name.slice(0, 40)}`);
    }
  }
}

function returnOptions(c: Cursor): SearchReturn[] {
  c.sp();
  const opts = c.parenList(() => {
    const o = c.keyword("a RETURN option");
    if (o === "MIN" || o === "MAX" || o === "ALL" || o === "COUNT" || o === "SAVE") return o;
    throw new ParseError(`Unknown RETURN option ${o.slice(0, 40)}`);
  });
  return opts.length === 0 ? ["ALL"] : [...new Set(opts)];
}

/**
 * Parse SEARCH's arguments, the cursor placed just after "SEARCH" (before its SP); consumes
 * through the end of the command.
 */
export function parseSearchArgs(c: Cursor): SearchArgs {
  c.sp();
  let returns: SearchReturn[] | undefined;
  let charset: string | undefined;
  const save = c.pos;
  // Only a word can be RETURN or CHARSET; `(`, a number or `*` starts the keys themselves.
  const startsWord = () => {
    const b = c.peek();
    return b !== undefined && ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a);
  };
  let word = startsWord() ? c.keyword("a search key") : "";
  if (word === "RETURN") {
    returns = returnOptions(c);
    c.sp();
    const save2 = c.pos;
    word = startsWord() ? c.keyword("a search key") : "";
    if (word !== "CHARSET") c.pos = save2;
  } else if (word !== "CHARSET") {
    c.pos = save;
  }
  let decoder = new TextDecoder("utf-8");
  if (word === "CHARSET") {
    c.sp();
    charset = c.astring().toUpperCase();
    try {
      decoder = new TextDecoder(charset, { fatal: true });
    } catch {
      throw new ParseError(`Unknown charset ${charset.slice(0, 40)}`, "BADCHARSET");
    }
    c.sp();
  }
  const p = new SearchParser(c, decoder);
  const keys: SearchKey[] = [p.key(0)];
  while (c.skip(" ")) keys.push(p.key(0));
  c.end();
  const key: SearchKey = keys.length === 1 ? keys[0]! : { op: "and", keys };
  return { ...(charset && { charset }), ...(returns && { returns }), key };
}
