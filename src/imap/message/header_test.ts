/**
 * Tests for header.ts: header blocks, unfolding, RFC 2047 words, MIME parameters (RFC 2231).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  bytesToString,
  decodeEncodedWords,
  findField,
  findFields,
  paramValue,
  parseContentType,
  parseDisposition,
  parseHeaderBlock,
  unfold,
} from "./header.ts";

const enc = new TextEncoder();

Deno.test("header: fields with byte ranges, continuation lines, end after the blank line", () => {
  const text = "From: a@b\r\nSubject: one\r\n two\r\nX-A: 1\r\n\r\nbody";
  const bytes = enc.encode(text);
  const h = parseHeaderBlock(bytes, 0, bytes.length);
  assert.equal(h.end, text.indexOf("body"));
  assert.deepEqual(h.fields.map((f) => f.name), ["From", "Subject", "X-A"]);
  const subject = findField(h.fields, "SUBJECT")!;
  assert.equal(text.slice(subject.start, subject.end), "Subject: one\r\n two\r\n");
  assert.equal(subject.value, " one\r\n two");
  assert.equal(unfold(subject.value), "one two");
});

Deno.test("header: junk lines are skipped, LF-only and a header starting empty", () => {
  const bytes = enc.encode("garbage line\nX: 1\nX: 2\n\nrest");
  const h = parseHeaderBlock(bytes, 0, bytes.length);
  assert.deepEqual(findFields(h.fields, "x").map((f) => f.value), [" 1", " 2"]);
  assert.equal(h.end, 24);
  const empty = enc.encode("\r\nbody");
  assert.deepEqual(parseHeaderBlock(empty, 0, empty.length), { fields: [], end: 2 });
});

Deno.test("header: 8-bit values are UTF-8 when valid, else Latin-1", () => {
  assert.equal(bytesToString(enc.encode("Grüße")), "Grüße");
  assert.equal(bytesToString(new Uint8Array([0x47, 0xfc])), "Gü");
});

Deno.test("header: RFC 2047 encoded words", () => {
  assert.equal(decodeEncodedWords("=?utf-8?q?caf=C3=A9_au_lait?="), "café au lait");
  assert.equal(decodeEncodedWords("=?ISO-8859-1?B?SGFsbG8g5A==?= x"), "Hallo ä x");
  // Whitespace between adjacent encoded words is dropped (RFC 2047 §6.2).
  assert.equal(decodeEncodedWords("=?utf-8?q?a?= \r\n =?utf-8?q?b?= c"), "ab c");
  // A multi-byte character split over two words.
  assert.equal(decodeEncodedWords("=?utf-8?b?w6k=?= =?utf-8?q?=C3?= =?utf-8?q?=A9?="), "éé");
  assert.equal(decodeEncodedWords("=?x-unknown?q?a?="), "=?x-unknown?q?a?=");
  assert.equal(decodeEncodedWords("=?utf-8*en?q?hi?="), "hi");
  assert.equal(decodeEncodedWords("plain =? text"), "plain =? text");
  assert.equal(decodeEncodedWords("a =?utf-8?q?b?= c"), "a b c");
});

Deno.test("header: Content-Type with folded quoted boundary (fetch-bodystructure fixture)", () => {
  const ct = parseContentType(' multipart/mixed; boundary="foo\r\n bar"')!;
  assert.equal(ct.type, "multipart");
  assert.equal(ct.subtype, "mixed");
  assert.equal(paramValue(ct.params, "boundary"), "foo bar");
});

Deno.test("header: parameters, comments, junk, missing subtype", () => {
  const ct = parseContentType(
    ' Text/Plain (comment) ; CharSet = "utf-8" ; ; junk ; format=flowed',
  )!;
  assert.deepEqual(ct, {
    type: "text",
    subtype: "plain",
    params: [
      { name: "charset", value: "utf-8", extended: false },
      { name: "format", value: "flowed", extended: false },
    ],
  });
  assert.equal(parseContentType("text"), null);
  assert.equal(parseContentType(""), null);
  assert.equal(parseContentType("te xt/plain"), null);
});

Deno.test("header: RFC 2231 continuations and charsets", () => {
  const d = parseDisposition(
    "attachment; filename*0*=utf-8''caf%C3%A9; filename*1=\" x.txt\"; size=3",
  )!;
  assert.equal(d.type, "attachment");
  assert.deepEqual(d.params[0], {
    name: "filename",
    value: "utf-8''caf%C3%A9%20x.txt",
    extended: true,
  });
  assert.equal(paramValue(d.params, "filename"), "café x.txt");
  const plain = parseDisposition("inline; filename*1=b; filename*0=a")!;
  assert.equal(paramValue(plain.params, "filename"), "ab");
  const single = parseDisposition("inline; title*=us-ascii'en'%41b")!;
  assert.equal(paramValue(single.params, "title"), "Ab");
  assert.equal(paramValue(single.params, "missing"), null);
  assert.equal(parseDisposition(";x=1"), null);
});
