/**
 * FETCH data items, RFC 3501 §6.4.5 and the §9 grammar (`fetch-att`, `section`, `partial`), with
 * BINARY / BINARY.PEEK / BINARY.SIZE (RFC 3516 §4.2), MODSEQ (RFC 7162 §3.1.4.1) and the
 * CHANGEDSINCE / VANISHED fetch modifiers (RFC 7162 §3.1.4.1, §3.2.6).
 *
 * ```
 * fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
 *             "BODY" ["STRUCTURE"] / "UID" / "BODY" section [partial] / "BODY.PEEK" section [partial]
 * section      = "[" [section-spec] "]"
 * section-spec = section-msgtext / (section-part ["." section-text])
 * section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
 * section-text = section-msgtext / "MIME"
 * partial      = "<" number "." nz-number ">"
 * ```
 *
 * Macros ALL, FAST and FULL (RFC 3501 §6.4.5) are expanded. {@link fetchResponseName} gives the
 * name a FETCH response uses for an item (RFC 3501 §7.4.2: `BODY[section]<origin>`, PEEK dropped).
 *
 * @module
 */

import { Cursor } from "./cursor.ts";
import { ParseError } from "./parse_error.ts";

/** The `section-text` / `section-msgtext` of a section, if any. */
export type SectionText = "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";

/** A body section (RFC 3501 §6.4.5 `BODY[<section>]`). `part: []` is the whole message. */
export interface Section {
  readonly part: readonly number[];
  readonly text?: SectionText;
  /** The field names of HEADER.FIELDS / HEADER.FIELDS.NOT, as given. */
  readonly fields?: readonly string[];
}

/** `<start.count>` of a partial fetch. */
export interface Partial {
  readonly start: number;
  readonly count: number;
}

/** One FETCH data item. */
export type FetchAtt =
  | {
    readonly kind:
      | "ENVELOPE"
      | "FLAGS"
      | "INTERNALDATE"
      | "RFC822"
      | "RFC822.HEADER"
      | "RFC822.SIZE"
      | "RFC822.TEXT"
      | "BODY"
      | "BODYSTRUCTURE"
      | "UID"
      | "MODSEQ";
  }
  | {
    readonly kind: "BODY[]";
    readonly peek: boolean;
    readonly section: Section;
    readonly partial?: Partial;
  }
  | {
    readonly kind: "BINARY[]";
    readonly peek: boolean;
    readonly part: readonly number[];
    readonly partial?: Partial;
  }
  | { readonly kind: "BINARY.SIZE"; readonly part: readonly number[] };

/** FETCH modifiers of RFC 7162. */
export interface FetchModifiers {
  changedSince?: number;
  vanished?: boolean;
}

const latin1 = new TextDecoder("latin1");

const SIMPLE = new Set([
  "ENVELOPE",
  "FLAGS",
  "INTERNALDATE",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.SIZE",
  "RFC822.TEXT",
  "BODY",
  "BODYSTRUCTURE",
  "UID",
  "MODSEQ",
]);

const FAST: FetchAtt[] = [{ kind: "FLAGS" }, { kind: "INTERNALDATE" }, { kind: "RFC822.SIZE" }];
const ALL: FetchAtt[] = [...FAST, { kind: "ENVELOPE" }];
const FULL: FetchAtt[] = [...ALL, { kind: "BODY" }];

/** The item name: letters, digits and dots ("RFC822.SIZE", "BODY.PEEK"). */
function itemName(c: Cursor): string {
  const start = c.pos;
  for (;;) {
    const b = c.peek();
    if (
      b === undefined ||
      !((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
        b === 0x2e)
    ) break;
    c.pos++;
  }
  if (c.pos === start) c.fail("Expected a FETCH data item");
  return latin1.decode(c.bytes.subarray(start, c.pos)).toUpperCase();
}

function sectionPart(c: Cursor): number[] {
  const part: number[] = [];
  while (c.peek() !== undefined && c.peek()! >= 0x30 && c.peek()! <= 0x39) {
    part.push(c.nzNumber());
    if (!c.skip(".")) break;
    if (!(c.peek()! >= 0x30 && c.peek()! <= 0x39)) {
      c.pos--; // the dot introduces section-text
      break;
    }
  }
  return part;
}

/** RFC 3501 §9 `section`, from "[" to "]". */
export function parseSection(c: Cursor): Section {
  c.expect("[");
  const part = sectionPart(c);
  if (c.skip("]")) return { part };
  if (part.length > 0) c.expect(".");
  const text = itemName(c);
  let section: Section;
  if (text === "HEADER" || text === "TEXT" || (text === "MIME" && part.length > 0)) {
    section = { part, text };
  } else if (text === "HEADER.FIELDS" || text === "HEADER.FIELDS.NOT") {
    c.sp();
    const fields = c.parenList(() => c.astring(), false);
    section = { part, text, fields };
  } else {
    throw new ParseError(`Invalid section ${text}`);
  }
  c.expect("]");
  return section;
}

function parsePartial(c: Cursor): Partial | undefined {
  if (!c.skip("<")) return undefined;
  const start = c.number();
  c.expect(".");
  const count = c.nzNumber();
  c.expect(">");
  return { start, count };
}

/** RFC 3516 `section-binary` = "[" [section-part] "]". */
function binaryPart(c: Cursor): number[] {
  c.expect("[");
  const part = sectionPart(c);
  c.expect("]");
  return part;
}

/** One `fetch-att`. */
export function parseFetchAtt(c: Cursor): FetchAtt {
  const name = itemName(c);
  if (name === "BODY" || name === "BODY.PEEK") {
    if (c.is("[")) {
      const section = parseSection(c);
      const partial = parsePartial(c);
      return { kind: "BODY[]", peek: name === "BODY.PEEK", section, ...(partial && { partial }) };
    }
    if (name === "BODY.PEEK") c.fail("Expected a section after BODY.PEEK");
  }
  if (name === "BINARY" || name === "BINARY.PEEK") {
    const part = binaryPart(c);
    const partial = parsePartial(c);
    return { kind: "BINARY[]", peek: name === "BINARY.PEEK", part, ...(partial && { partial }) };
  }
  if (name === "BINARY.SIZE") return { kind: "BINARY.SIZE", part: binaryPart(c) };
  if (SIMPLE.has(name)) return { kind: name as "FLAGS" };
  throw new ParseError(`Unknown FETCH data item ${name.slice(0, 40)}`);
}

/**
 * The FETCH argument after the sequence set: a macro, one item, or a parenthesised list
 * (RFC 3501 §9 `fetch`), with optional RFC 7162 modifiers.
 */
export function parseFetchAtts(c: Cursor): { atts: FetchAtt[]; modifiers: FetchModifiers } {
  let atts: FetchAtt[];
  if (c.is("(")) {
    atts = c.parenList(() => parseFetchAtt(c), false);
  } else {
    const save = c.pos;
    const name = itemName(c);
    if (name === "ALL" || name === "FAST" || name === "FULL") {
      atts = [...(name === "ALL" ? ALL : name === "FAST" ? FAST : FULL)];
    } else {
      c.pos = save;
      atts = [parseFetchAtt(c)];
    }
  }
  const modifiers: FetchModifiers = {};
  if (c.skip(" ")) {
    c.parenList(() => {
      const m = c.keyword("a FETCH modifier");
      if (m === "CHANGEDSINCE") {
        c.sp();
        modifiers.changedSince = c.number64();
      } else if (m === "VANISHED") {
        modifiers.vanished = true;
      } else {
        throw new ParseError(`Unknown FETCH modifier ${m.slice(0, 40)}`);
      }
    }, false);
  }
  return { atts, modifiers };
}

function fieldName(f: string): string {
  return /^[\x21-\x7e]+$/.test(f) && !/[(){%*"\\\]]/.test(f) ? f : JSON.stringify(f);
}

/** RFC 3501 §9 `section-spec` text, e.g. `1.2.HEADER.FIELDS (From Subject)`. */
export function formatSection(s: Section): string {
  const parts = s.part.join(".");
  if (!s.text) return parts;
  const text = s.fields ? `${s.text} (${s.fields.map(fieldName).join(" ")})` : s.text;
  return parts ? `${parts}.${text}` : text;
}

/**
 * The name of an item in a FETCH response (RFC 3501 §7.4.2): `BODY[1.TEXT]<0>` for
 * `BODY.PEEK[1.TEXT]<0.100>` (only the origin octet is echoed), `BINARY[2]`, `FLAGS`.
 */
export function fetchResponseName(att: FetchAtt): string {
  switch (att.kind) {
    case "BODY[]":
      return `BODY[${formatSection(att.section)}]${att.partial ? `<${att.partial.start}>` : ""}`;
    case "BINARY[]":
      return `BINARY[${att.part.join(".")}]${att.partial ? `<${att.partial.start}>` : ""}`;
    case "BINARY.SIZE":
      return `BINARY.SIZE[${att.part.join(".")}]`;
    default:
      return att.kind;
  }
}
