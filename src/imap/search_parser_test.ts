import assert from "node:assert/strict";
import { Cursor } from "./cursor.ts";
import { ParseError } from "./parse_error.ts";
import { parseSearchArgs, type SearchArgs, type SearchKey } from "./search_parser.ts";

const search = (s: string | Uint8Array): SearchArgs =>
  parseSearchArgs(
    new Cursor(typeof s === "string" ? new TextEncoder().encode(" " + s + "\r\n") : s),
  );
const key = (s: string): SearchKey => search(s).key;
const seq = (n: number) => ({ kind: "set", ranges: [{ start: n, end: n }] }) as const;

Deno.test("search: flags, NEW/OLD desugared (imaptest search-flags)", () => {
  assert.deepEqual(key("unseen"), { op: "flag", flag: "\\Seen", set: false });
  assert.deepEqual(key("keyword $hello"), { op: "flag", flag: "$hello", set: true });
  assert.deepEqual(key("new"), {
    op: "and",
    keys: [{ op: "recent" }, { op: "flag", flag: "\\Seen", set: false }],
  });
  assert.deepEqual(key("old"), { op: "not", key: { op: "recent" } });
  assert.deepEqual(key("not seen not flagged"), {
    op: "and",
    keys: [
      { op: "not", key: { op: "flag", flag: "\\Seen", set: true } },
      { op: "not", key: { op: "flag", flag: "\\Flagged", set: true } },
    ],
  });
});

Deno.test("search: strings, dates, sizes, sets (imaptest search-*)", () => {
  assert.deepEqual(key('subject "hello beautiful"'), {
    op: "header",
    field: "SUBJECT",
    value: "hello beautiful",
  });
  assert.deepEqual(key("subject NIL"), { op: "header", field: "SUBJECT", value: "NIL" });
  assert.deepEqual(key('header x-extra ""'), { op: "header", field: "x-extra", value: "" });
  assert.deepEqual(key("sentbefore 24-mar-2007"), {
    op: "date",
    which: "sent",
    cmp: "before",
    date: { year: 2007, month: 3, day: 24 },
  });
  assert.deepEqual(key('since "1-Feb-1994"').op, "date");
  assert.deepEqual(key("or smaller 10 larger 20"), {
    op: "or",
    a: { op: "size", cmp: "smaller", size: 10 },
    b: { op: "size", cmp: "larger", size: 20 },
  });
  assert.deepEqual(key("(3) uid 4"), {
    op: "and",
    keys: [{ op: "seq", set: seq(3) }, { op: "uid", set: seq(4) }],
  });
  assert.deepEqual(key("uid 1:4294967295").op, "uid");
  assert.deepEqual(key("$"), { op: "seq", set: { kind: "saved" } });
  assert.deepEqual(key("younger 60"), { op: "age", cmp: "younger", seconds: 60 });
  assert.deepEqual(key('modseq "/flags/\\\\draft" all 620162338'), {
    op: "modseq",
    modseq: 620162338,
  });
});

Deno.test("search: RETURN and CHARSET prefixes (RFC 4731, RFC 3501 §6.4.4)", () => {
  assert.deepEqual(search("return () all"), { returns: ["ALL"], key: { op: "all" } });
  assert.deepEqual(search("return (min max count) seen").returns, ["MIN", "MAX", "COUNT"]);
  assert.deepEqual(search('charset utf-8 text "\xe4"'), {
    charset: "UTF-8",
    key: { op: "text", value: "\xe4" },
  });
  const latin = new Uint8Array([
    ...new TextEncoder().encode(' CHARSET ISO-8859-1 BODY "'),
    0xe4,
    0x22,
    13,
    10,
  ]);
  assert.deepEqual(search(latin).key, { op: "body", value: "\xe4" });
  assert.throws(
    () => search("charset x-bogus all"),
    (e: unknown) => e instanceof ParseError && e.code === "BADCHARSET",
  );
  assert.throws(() => search("return (bogus) all"), ParseError);
});

Deno.test("search: hostile input is a ParseError", () => {
  for (
    const bad of [
      "",
      "bogus",
      "before 30-feb-2007",
      "before 1-foo-2007",
      "larger x",
      "or all",
      "not",
      "(all",
      "()",
      "uid",
      "1:0",
      "(".repeat(100) + "all" + ")".repeat(100),
      "not ".repeat(100) + "all",
      'subject "unterminated',
    ]
  ) {
    assert.throws(() => search(bad), ParseError, bad);
  }
  assert.ok(search("(".repeat(20) + "all" + ")".repeat(20)));
});
