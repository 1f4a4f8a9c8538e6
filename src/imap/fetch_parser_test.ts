import assert from "node:assert/strict";
import { Cursor } from "./cursor.ts";
import { type FetchAtt, fetchResponseName, parseFetchAtts } from "./fetch_parser.ts";
import { ParseError } from "./parse_error.ts";

const enc = new TextEncoder();
const atts = (s: string): FetchAtt[] => {
  const c = new Cursor(enc.encode(s + "\r\n"));
  const r = parseFetchAtts(c);
  c.end();
  return r.atts;
};

Deno.test("fetch: macros expand (RFC 3501 §6.4.5; imaptest fetch)", () => {
  assert.deepEqual(atts("fast").map((a) => a.kind), ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]);
  assert.deepEqual(atts("ALL").map((a) => a.kind), [
    "FLAGS",
    "INTERNALDATE",
    "RFC822.SIZE",
    "ENVELOPE",
  ]);
  assert.deepEqual(atts("Full").map((a) => a.kind).at(-1), "BODY");
  assert.throws(() => atts("(all)"), ParseError);
});

Deno.test("fetch: sections and partials (imaptest fetch-body)", () => {
  assert.deepEqual(atts("body.peek[header.fields (from subject)]"), [
    {
      kind: "BODY[]",
      peek: true,
      section: { part: [], text: "HEADER.FIELDS", fields: ["from", "subject"] },
    },
  ]);
  assert.deepEqual(atts("body.peek[text]<5.2>"), [
    {
      kind: "BODY[]",
      peek: true,
      section: { part: [], text: "TEXT" },
      partial: { start: 5, count: 2 },
    },
  ]);
  assert.deepEqual(atts("(flags body[])"), [{ kind: "FLAGS" }, {
    kind: "BODY[]",
    peek: false,
    section: { part: [] },
  }]);
  assert.deepEqual(atts("BODY[1.2.3.MIME]"), [{
    kind: "BODY[]",
    peek: false,
    section: { part: [1, 2, 3], text: "MIME" },
  }]);
  assert.deepEqual(atts("body[2.header.fields.not (date)]")[0], {
    kind: "BODY[]",
    peek: false,
    section: { part: [2], text: "HEADER.FIELDS.NOT", fields: ["date"] },
  });
  assert.deepEqual(
    atts("(rfc822.header rfc822.size bodystructure body uid envelope rfc822.text rfc822)").length,
    8,
  );
  assert.deepEqual(atts("binary.peek[1]<0.10>")[0], {
    kind: "BINARY[]",
    peek: true,
    part: [1],
    partial: { start: 0, count: 10 },
  });
  assert.deepEqual(atts("binary.size[1.2]")[0], { kind: "BINARY.SIZE", part: [1, 2] });
});

Deno.test("fetch: invalid sections are ParseErrors", () => {
  for (
    const bad of [
      "body[mime]",
      "body[0]",
      "body[header.fields ()]",
      "body[text",
      "body.peek",
      "body[1.]",
      "body[]<1>",
      "body[]<1.0>",
      "body[bogus]",
      "(flags",
      "()",
      "rfc822.bogus",
    ]
  ) {
    assert.throws(() => atts(bad), ParseError, bad);
  }
});

Deno.test("fetch: response names echo the section, the origin only, no PEEK", () => {
  assert.equal(
    fetchResponseName(atts("body.peek[header.fields (from from)]")[0]!),
    "BODY[HEADER.FIELDS (from from)]",
  );
  assert.equal(fetchResponseName(atts("body.peek[1.text]<3.3>")[0]!), "BODY[1.TEXT]<3>");
  assert.equal(fetchResponseName(atts("body[]")[0]!), "BODY[]");
  assert.equal(
    fetchResponseName(atts('body[header.fields ("x y")]')[0]!),
    'BODY[HEADER.FIELDS ("x y")]',
  );
  assert.equal(fetchResponseName(atts("binary[1]")[0]!), "BINARY[1]");
  assert.equal(fetchResponseName(atts("rfc822.size")[0]!), "RFC822.SIZE");
});
