/**
 * Parse one complete IMAP client command (bytes from command_reader.ts) into a typed AST:
 * RFC 3501 §6 commands with the §9 grammar, plus the extensions postie announces:
 * LIST-EXTENDED (RFC 5258 §3), LIST-STATUS (RFC 5819 §2), SPECIAL-USE (RFC 6154), MULTIAPPEND
 * (RFC 3502 §6.3.11 / §7), literal8 in APPEND (RFC 3516 §4.4), UIDPLUS `UID EXPUNGE`
 * (RFC 4315 §2.1), MOVE (RFC 6851), ENABLE (RFC 5161), ID (RFC 2971), IDLE (RFC 2177),
 * NAMESPACE (RFC 2342), UNSELECT (RFC 3691), SASL-IR (RFC 4959), ESEARCH (RFC 4731), CONDSTORE
 * modifiers (RFC 7162). FETCH items live in fetch_parser.ts, SEARCH keys in search_parser.ts,
 * tokens in cursor.ts.
 *
 * Mailbox names are returned in wire form (modified UTF-7, or UTF-8 under UTF8=ACCEPT) with
 * INBOX case-normalised; mutf7.ts turns them into names. Unknown commands, and commands not
 * implemented here (SORT, THREAD, CATENATE, ...), are a ParseError. Every error is a
 * {@link ParseError} whose `tag` is set once the tag could be read.
 *
 * @module
 */

import { Cursor, type DateTime, type ImapValue } from "./cursor.ts";
import { type FetchAtt, type FetchModifiers, parseFetchAtts } from "./fetch_parser.ts";
import { ParseError } from "./parse_error.ts";
import { parseSearchArgs, type SearchArgs } from "./search_parser.ts";
import type { SequenceSet } from "./sequence_set.ts";

export { ParseError } from "./parse_error.ts";

/** STATUS data items (RFC 3501 §6.3.10, SIZE RFC 8438, HIGHESTMODSEQ RFC 7162, DELETED RFC 9051). */
export type StatusItem =
  | "MESSAGES"
  | "RECENT"
  | "UIDNEXT"
  | "UIDVALIDITY"
  | "UNSEEN"
  | "SIZE"
  | "HIGHESTMODSEQ"
  | "DELETED";

const STATUS_ITEMS = new Set<string>([
  "MESSAGES",
  "RECENT",
  "UIDNEXT",
  "UIDVALIDITY",
  "UNSEEN",
  "SIZE",
  "HIGHESTMODSEQ",
  "DELETED",
]);

/** LIST selection options (RFC 5258 §3.1, SPECIAL-USE RFC 6154 §3). */
export interface ListSelect {
  subscribed: boolean;
  remote: boolean;
  recursiveMatch: boolean;
  specialUse: boolean;
}

/** LIST return options (RFC 5258 §3.2, STATUS RFC 5819, SPECIAL-USE RFC 6154). */
export interface ListReturn {
  subscribed: boolean;
  children: boolean;
  specialUse: boolean;
  /** STATUS (items) when asked for (RFC 5819 §2). */
  status?: StatusItem[];
}

/** One message of APPEND (RFC 3501 §6.3.11; several with MULTIAPPEND, RFC 3502). */
export interface AppendMessage {
  readonly flags: readonly string[];
  readonly date?: DateTime;
  /** The message octets: a view into the command bytes. */
  readonly data: Uint8Array;
  /** True for literal8 `~{n}` (RFC 3516). */
  readonly binary: boolean;
}

/** A name with an optional value, for SELECT/EXAMINE and CREATE parameters. */
export interface Param {
  readonly name: string;
  readonly value?: ImapValue;
}

/** A parsed command. `tag` is the client's tag; `name` the upper-cased command name. */
export type Command =
  & { readonly tag: string }
  & (
    | {
      readonly name:
        | "CAPABILITY"
        | "NOOP"
        | "LOGOUT"
        | "STARTTLS"
        | "CHECK"
        | "CLOSE"
        | "UNSELECT"
        | "IDLE"
        | "NAMESPACE";
    }
    | { readonly name: "LOGIN"; readonly user: string; readonly password: string }
    | {
      readonly name: "AUTHENTICATE";
      readonly mechanism: string;
      /** SASL-IR initial response (RFC 4959 §3): base64 text, "" for "=". */
      readonly initial?: string;
    }
    | { readonly name: "ENABLE"; readonly capabilities: readonly string[] }
    | { readonly name: "ID"; readonly params: readonly [string, string | null][] | null }
    | { readonly name: "SELECT" | "EXAMINE"; readonly mailbox: string; readonly params: Param[] }
    | { readonly name: "CREATE"; readonly mailbox: string; readonly params: Param[] }
    | { readonly name: "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE"; readonly mailbox: string }
    | { readonly name: "RENAME"; readonly from: string; readonly to: string }
    | {
      readonly name: "LIST";
      readonly reference: string;
      readonly patterns: readonly string[];
      readonly select: ListSelect;
      readonly returns: ListReturn;
      /** Whether any RFC 5258 syntax was used (selection, pattern list or RETURN). */
      readonly extended: boolean;
    }
    | { readonly name: "LSUB"; readonly reference: string; readonly pattern: string }
    | { readonly name: "STATUS"; readonly mailbox: string; readonly items: readonly StatusItem[] }
    | { readonly name: "APPEND"; readonly mailbox: string; readonly messages: AppendMessage[] }
    | {
      readonly name: "EXPUNGE";
      readonly uid: boolean;
      /** UID EXPUNGE's set (RFC 4315 §2.1); absent for plain EXPUNGE. */
      readonly set?: SequenceSet;
    }
    | ({ readonly name: "SEARCH"; readonly uid: boolean } & SearchArgs)
    | {
      readonly name: "FETCH";
      readonly uid: boolean;
      readonly set: SequenceSet;
      readonly atts: readonly FetchAtt[];
      readonly modifiers: FetchModifiers;
    }
    | {
      readonly name: "STORE";
      readonly uid: boolean;
      readonly set: SequenceSet;
      /** FLAGS replaces, +FLAGS adds, -FLAGS removes (RFC 3501 §6.4.6). */
      readonly op: "replace" | "add" | "remove";
      readonly silent: boolean;
      readonly flags: readonly string[];
      /** RFC 7162 §3.1.3 UNCHANGEDSINCE. */
      readonly unchangedSince?: number;
    }
    | {
      readonly name: "COPY" | "MOVE";
      readonly uid: boolean;
      readonly set: SequenceSet;
      readonly mailbox: string;
    }
  );

/** The tag and upper-cased name of a command, and a cursor after the name. */
export interface CommandHead {
  tag: string;
  name: string;
  uid: boolean;
  cursor: Cursor;
}

/**
 * Read the tag and command name (and `UID` prefix). Useful to answer a command this module does
 * not parse. Throws ParseError (with `tag` once known).
 */
export function parseCommandHead(bytes: Uint8Array): CommandHead {
  const c = new Cursor(bytes);
  const tag = c.tag();
  try {
    c.sp();
    let name = c.keyword("a command name");
    let uid = false;
    if (name === "UID") {
      c.sp();
      uid = true;
      name = c.keyword("a command name");
      if (!["COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE"].includes(name)) {
        throw new ParseError(`Invalid UID command ${name.slice(0, 40)}`);
      }
    }
    return { tag, name, uid, cursor: c };
  } catch (e) {
    if (e instanceof ParseError) e.tag = tag;
    throw e;
  }
}

function params(c: Cursor): Param[] {
  if (!c.skip(" ")) return [];
  const list = c.value();
  if (!Array.isArray(list)) throw new ParseError("Expected a parameter list");
  const out: Param[] = [];
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== "string") throw new ParseError("Expected a parameter name");
    const next = list[i + 1];
    if (Array.isArray(next)) {
      out.push({ name: v.toUpperCase(), value: next });
      i++;
    } else {
      out.push({ name: v.toUpperCase() });
    }
  }
  return out;
}

function statusItems(c: Cursor): StatusItem[] {
  return c.parenList(() => {
    const item = c.keyword("a status item");
    if (!STATUS_ITEMS.has(item)) throw new ParseError(`Unknown status item ${item.slice(0, 40)}`);
    return item as StatusItem;
  }, false);
}

function parseList(c: Cursor): Command & { name: "LIST" } {
  const select: ListSelect = {
    subscribed: false,
    remote: false,
    recursiveMatch: false,
    specialUse: false,
  };
  const returns: ListReturn = { subscribed: false, children: false, specialUse: false };
  let extended = false;
  c.sp();
  if (c.is("(")) {
    extended = true;
    c.parenList(() => {
      const o = c.keyword("a selection option");
      if (o === "SUBSCRIBED") select.subscribed = true;
      else if (o === "REMOTE") select.remote = true;
      else if (o === "RECURSIVEMATCH") select.recursiveMatch = true;
      else if (o === "SPECIAL-USE") select.specialUse = true;
      else throw new ParseError(`Unknown LIST selection option ${o.slice(0, 40)}`);
    });
    // RFC 5258 §3.1: RECURSIVEMATCH needs another (non-REMOTE) selection option.
    if (select.recursiveMatch && !select.subscribed && !select.specialUse) {
      throw new ParseError("RECURSIVEMATCH requires another selection option");
    }
    c.sp();
  }
  const reference = c.mailbox();
  c.sp();
  let patterns: string[];
  if (c.is("(")) {
    extended = true;
    patterns = c.parenList(() => c.listMailbox(), false);
  } else {
    patterns = [c.listMailbox()];
  }
  if (c.skip(" ")) {
    if (c.keyword("RETURN") !== "RETURN") throw new ParseError("Expected RETURN");
    extended = true;
    c.sp();
    c.parenList(() => {
      const o = c.keyword("a return option");
      if (o === "SUBSCRIBED") returns.subscribed = true;
      else if (o === "CHILDREN") returns.children = true;
      else if (o === "SPECIAL-USE") returns.specialUse = true;
      else if (o === "STATUS") {
        c.sp();
        returns.status = statusItems(c);
      } else throw new ParseError(`Unknown LIST return option ${o.slice(0, 40)}`);
    });
  }
  c.end();
  return { tag: "", name: "LIST", reference, patterns, select, returns, extended };
}

function parseAppend(c: Cursor): Command & { name: "APPEND" } {
  c.sp();
  const mailbox = c.mailbox();
  const messages: AppendMessage[] = [];
  do {
    c.sp();
    let flags: string[] = [];
    let date: DateTime | undefined;
    if (c.is("(")) {
      flags = c.flagList();
      c.sp();
    }
    if (c.is('"')) {
      date = c.dateTime();
      c.sp();
    }
    if (!c.is("{") && !c.is("~")) {
      const word = c.keyword("a message literal");
      throw new ParseError(
        word === "CATENATE" || word === "UTF8"
          ? `APPEND ${word} is not supported`
          : "Expected a message literal",
      );
    }
    const binary = c.is("~");
    const data = c.literal(true);
    messages.push({ flags, ...(date && { date }), data, binary });
  } while (!c.atEnd);
  c.end();
  return { tag: "", name: "APPEND", mailbox, messages };
}

function parseStore(c: Cursor, uid: boolean): Command & { name: "STORE" } {
  c.sp();
  const set = c.sequenceSet();
  c.sp();
  let unchangedSince: number | undefined;
  if (c.is("(")) {
    c.parenList(() => {
      const m = c.keyword("a STORE modifier");
      if (m !== "UNCHANGEDSINCE") throw new ParseError(`Unknown STORE modifier ${m.slice(0, 40)}`);
      c.sp();
      unchangedSince = c.number64();
    }, false);
    c.sp();
  }
  const sign = c.skip("+") ? "add" : c.skip("-") ? "remove" : "replace";
  const item = c.keyword("FLAGS");
  if (item !== "FLAGS" && item !== "FLAGS.SILENT") throw new ParseError("Expected FLAGS");
  c.sp();
  let flags: string[];
  if (c.is("(")) {
    flags = c.flagList();
  } else {
    flags = [c.flag()];
    while (c.skip(" ")) flags.push(c.flag());
  }
  c.end();
  return {
    tag: "",
    name: "STORE",
    uid,
    set,
    op: sign,
    silent: item === "FLAGS.SILENT",
    flags,
    ...(unchangedSince !== undefined && { unchangedSince }),
  };
}

function parseId(c: Cursor): Command & { name: "ID" } {
  c.sp();
  if (!c.is("(")) {
    c.nstring() === null || c.fail("Expected a parameter list or NIL");
    c.end();
    return { tag: "", name: "ID", params: null };
  }
  c.expect("(");
  const list: [string, string | null][] = [];
  while (!c.skip(")")) {
    if (list.length > 0) c.sp();
    const k = c.string();
    c.sp();
    list.push([k, c.nstring()]);
  }
  c.end();
  return { tag: "", name: "ID", params: list };
}

function body(head: CommandHead): Command {
  const c = head.cursor;
  const { name, uid } = head;
  const done = <T>(v: T): T => {
    c.end();
    return v;
  };
  switch (name) {
    case "CAPABILITY":
    case "NOOP":
    case "LOGOUT":
    case "STARTTLS":
    case "CHECK":
    case "CLOSE":
    case "UNSELECT":
    case "IDLE":
    case "NAMESPACE":
      return done({ tag: "", name });
    case "EXPUNGE":
      if (!uid) return done({ tag: "", name, uid });
      c.sp();
      return done({ tag: "", name, uid, set: c.sequenceSet() });
    case "LOGIN": {
      c.sp();
      const user = c.astring();
      c.sp();
      return done({ tag: "", name, user, password: c.astring() });
    }
    case "AUTHENTICATE": {
      c.sp();
      const mechanism = c.keyword("a SASL mechanism");
      if (!c.skip(" ")) return done({ tag: "", name, mechanism });
      const ir = c.atom("an initial response");
      if (ir !== "=" && !/^[A-Za-z0-9+/]+={0,2}$/.test(ir)) {
        throw new ParseError("Invalid base64 initial response");
      }
      return done({ tag: "", name, mechanism, initial: ir === "=" ? "" : ir });
    }
    case "ENABLE": {
      const capabilities: string[] = [];
      do {
        c.sp();
        capabilities.push(c.keyword("a capability"));
      } while (!c.atEnd);
      return done({ tag: "", name, capabilities });
    }
    case "ID":
      return parseId(c);
    case "SELECT":
    case "EXAMINE":
    case "CREATE": {
      c.sp();
      const mailbox = c.mailbox();
      return done({ tag: "", name, mailbox, params: params(c) });
    }
    case "DELETE":
    case "SUBSCRIBE":
    case "UNSUBSCRIBE":
      c.sp();
      return done({ tag: "", name, mailbox: c.mailbox() });
    case "RENAME": {
      c.sp();
      const from = c.mailbox();
      c.sp();
      return done({ tag: "", name, from, to: c.mailbox() });
    }
    case "LIST":
      return parseList(c);
    case "LSUB": {
      c.sp();
      const reference = c.mailbox();
      c.sp();
      return done({ tag: "", name, reference, pattern: c.listMailbox() });
    }
    case "STATUS": {
      c.sp();
      const mailbox = c.mailbox();
      c.sp();
      return done({ tag: "", name, mailbox, items: statusItems(c) });
    }
    case "APPEND":
      return parseAppend(c);
    case "SEARCH":
      return { tag: "", name, uid, ...parseSearchArgs(c) };
    case "FETCH": {
      c.sp();
      const set = c.sequenceSet();
      c.sp();
      const { atts, modifiers } = parseFetchAtts(c);
      return done({ tag: "", name, uid, set, atts, modifiers });
    }
    case "STORE":
      return parseStore(c, uid);
    case "COPY":
    case "MOVE": {
      c.sp();
      const set = c.sequenceSet();
      c.sp();
      return done({ tag: "", name, uid, set, mailbox: c.mailbox() });
    }
    default:
      throw new ParseError(`Unknown command ${name.slice(0, 40)}`);
  }
}

/**
 * Parse one complete command.
 *
 * @param bytes the command as yielded by CommandReader (final CRLF optional).
 * @throws ParseError with a message fit for `BAD` (and `tag` set when known).
 */
export function parseCommand(bytes: Uint8Array): Command {
  const head = parseCommandHead(bytes);
  try {
    return { ...body(head), tag: head.tag };
  } catch (e) {
    if (e instanceof ParseError) e.tag = head.tag;
    throw e;
  }
}
