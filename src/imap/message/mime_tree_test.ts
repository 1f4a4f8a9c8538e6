/**
 * Tests for mime_tree.ts: structure of the imaptest fixtures and hostile input (missing
 * boundaries, truncated headers, binary junk, deep nesting, part floods).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixturesAvailable, mboxMessages } from "./_imaptest_fixtures.ts";
import { type MimePart, parseMessage, splitMultipart, walkParts } from "./mime_tree.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function body(bytes: Uint8Array, p: MimePart): string {
  return dec.decode(bytes.subarray(p.bodyStart, p.bodyEnd));
}

function shape(p: MimePart): unknown {
  const t = `${p.contentType.type}/${p.contentType.subtype}`;
  if (p.children.length > 0) return [t, ...p.children.map(shape)];
  if (p.message) return [t, shape(p.message)];
  return t;
}

Deno.test({
  name: "mime_tree: fetch-body-mime structure",
  ignore: !fixturesAvailable(),
  fn() {
    const bytes = mboxMessages("fetch-body-mime")[0]!;
    const root = parseMessage(bytes);
    assert.deepEqual(shape(root), [
      "multipart/mixed",
      "text/x-myown",
      ["message/rfc822", ["multipart/alternative", "text/html", "text/plain"]],
    ]);
    assert.equal(body(bytes, root.children[0]!), "hello\r\n");
    assert.equal(root.children[0]!.lines, 1);
  },
});

Deno.test({
  name: "mime_tree: multipart/digest parts default to message/rfc822",
  ignore: !fixturesAvailable(),
  fn() {
    const bytes = mboxMessages("fetch-body-message-rfc822-mime")[0]!;
    const root = parseMessage(bytes);
    assert.deepEqual(shape(root), [
      "message/rfc822",
      ["multipart/digest", ["message/rfc822", "text/plain"], ["message/rfc822", "text/plain"]],
    ]);
    const first = root.message!.children[0]!;
    assert.equal(first.defaultType, true);
    assert.equal(first.headerEnd - first.headerStart, 2);
  },
});

Deno.test("mime_tree: no Content-Type defaults to text/plain us-ascii", () => {
  const root = parseMessage(enc.encode("Subject: a\r\n\r\nhi\r\n"));
  assert.equal(root.contentType.type, "text");
  assert.deepEqual(root.contentType.params, [{
    name: "charset",
    value: "us-ascii",
    extended: false,
  }]);
  assert.equal(root.defaultType, true);
});

Deno.test("mime_tree: preamble, epilogue, padding after delimiter, missing close", () => {
  const msg =
    "Content-Type: multipart/mixed; boundary=xx\r\n\r\npre\r\n--xx  \r\n\r\na\r\n--xx\r\n" +
    "\r\nb";
  const bytes = enc.encode(msg);
  const root = parseMessage(bytes);
  assert.equal(root.children.length, 2);
  assert.equal(body(bytes, root.children[0]!), "a");
  assert.equal(body(bytes, root.children[1]!), "b");
});

Deno.test("mime_tree: a boundary that never appears gives no parts; no boundary → text", () => {
  const a = parseMessage(enc.encode("Content-Type: multipart/mixed; boundary=q\r\n\r\njunk\r\n"));
  assert.equal(a.contentType.type, "multipart");
  assert.equal(a.children.length, 0);
  const b = parseMessage(enc.encode("Content-Type: multipart/mixed\r\n\r\njunk\r\n"));
  assert.equal(b.contentType.type, "text");
  assert.equal(b.defaultType, true);
});

Deno.test("mime_tree: inner parts stop at an outer delimiter", () => {
  const msg = "Content-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\n" +
    "Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n\r\ninner\r\n--out\r\n\r\nsecond\r\n--out--\r\n";
  const bytes = enc.encode(msg);
  const root = parseMessage(bytes);
  assert.equal(root.children.length, 2);
  assert.equal(body(bytes, root.children[0]!.children[0]!), "inner");
  assert.equal(body(bytes, root.children[1]!), "second");
});

Deno.test("mime_tree: truncated header, empty input and binary junk never throw", () => {
  const trunc = enc.encode("From: a@b\r\nSubject: x");
  const t = parseMessage(trunc);
  assert.equal(t.headerEnd, trunc.length);
  assert.equal(t.bodyStart, trunc.length);
  assert.equal(t.fields.length, 2);
  const e = parseMessage(new Uint8Array(0));
  assert.equal(e.fields.length, 0);
  let seed = 7;
  for (let n = 0; n < 50; n++) {
    const junk = new Uint8Array(2000);
    for (let i = 0; i < junk.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      junk[i] = seed % 7 === 0 ? 0x0a : seed & 0xff;
    }
    const prefix = enc.encode('Content-Type: multipart/mixed; boundary="\x01"\r\n\r\n');
    const all = new Uint8Array(prefix.length + junk.length);
    all.set(prefix);
    all.set(junk, prefix.length);
    parseMessage(junk);
    parseMessage(all);
  }
});

Deno.test("mime_tree: 1,000-deep nesting stops at the depth limit", () => {
  let msg = "";
  for (let i = 0; i < 1000; i++) {
    msg += `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`;
  }
  msg += "\r\nleaf\r\n";
  const bytes = enc.encode(msg);
  const root = parseMessage(bytes);
  let depth = 0;
  for (const p of walkParts(root)) depth = Math.max(depth, p.depth);
  assert.equal(depth, 64);
  const rfc822 = "Content-Type: message/rfc822\r\n\r\n".repeat(1000) + "x";
  const r = parseMessage(enc.encode(rfc822), { maxDepth: 10 });
  let n = 0;
  for (const _ of walkParts(r)) n++;
  assert.equal(n, 11);
});

Deno.test("mime_tree: part count limit keeps the rest in the last part", () => {
  const msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + "--b\r\n\r\nx\r\n".repeat(100) +
    "--b--\r\n";
  const bytes = enc.encode(msg);
  const root = parseMessage(bytes, { maxParts: 11 });
  assert.equal(root.children.length, 10);
  assert.ok(root.children[9]!.bodyEnd > root.children[8]!.bodyEnd + 100);
});

Deno.test("mime_tree: splitMultipart with the first delimiter at the body start", () => {
  const bytes = enc.encode("--b\r\nA\r\n--b\r\nB\r\n--b--");
  assert.deepEqual(
    splitMultipart(bytes, 0, bytes.length, "b").map(([s, e]) => dec.decode(bytes.subarray(s, e))),
    ["A", "B"],
  );
  const empty = enc.encode("--b\r\n--b--\r\n");
  assert.deepEqual(splitMultipart(empty, 0, empty.length, "b"), [[5, 5]]);
});
