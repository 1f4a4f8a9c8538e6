/**
 * Tests for section.ts: every `BODY[section]` reply expected by the imaptest scripts
 * fetch-body, fetch-body-mime, fetch-body-message-rfc822{,-mime,-x2}, plus edge cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { expectedReplies, fixturesAvailable, mboxMessages } from "./_imaptest_fixtures.ts";
import { parseMessage } from "./mime_tree.ts";
import { fetchSection, parseSection, partial, resolvePart } from "./section.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const SCRIPTS = [
  "fetch-body",
  "fetch-body-mime",
  "fetch-body-message-rfc822",
  "fetch-body-message-rfc822-mime",
  "fetch-body-message-rfc822-x2",
];

/** Content of a quoted string or literal at the start of `s`. */
function stringAt(s: string): string | null {
  const lit = /^~?\{(\d+)\}\r\n/.exec(s);
  if (lit) return s.slice(lit[0].length, lit[0].length + Number(lit[1]));
  const q = /^"((?:[^"\\]|\\.)*)"/.exec(s);
  return q ? q[1]!.replace(/\\(.)/g, "$1") : null;
}

for (const script of SCRIPTS) {
  Deno.test({
    name: `section: imaptest ${script} BODY[section] replies`,
    ignore: !fixturesAvailable(),
    fn() {
      const messages = mboxMessages(script);
      let checked = 0;
      for (const reply of expectedReplies(script)) {
        const re =
          /^\* (\d+) fetch \(.*?(body|rfc822\.text|rfc822\.header)(?:\[([^\]]*)\])?(?:<(\d+)>)? /i;
        const m = re.exec(reply);
        if (!m) continue;
        const expected = stringAt(reply.slice(m[0].length));
        if (expected === null) continue;
        const item = m[2]!.toLowerCase();
        const spec = item === "rfc822.text" ? "TEXT" : item === "rfc822.header" ? "HEADER" : m[3];
        if (spec === undefined) continue;
        const section = parseSection(spec);
        assert.ok(section, `${script}: parse ${spec}`);
        const bytes = messages[Number(m[1]) - 1]!;
        let got = fetchSection(bytes, parseMessage(bytes), section);
        assert.ok(got, `${script}: ${spec} exists`);
        if (m[4] !== undefined) got = partial(got, Number(m[4]), enc.encode(expected).length);
        assert.equal(dec.decode(got), expected, `${script}: msg ${m[1]} BODY[${spec}]`);
        checked++;
      }
      assert.ok(checked > 0, `${script}: some replies checked`);
    },
  });
}

Deno.test({
  name: "section: HEADER.FIELDS.NOT drops the named fields (fetch-body ! lines)",
  ignore: !fixturesAvailable(),
  fn() {
    const bytes = mboxMessages("fetch-body")[0]!;
    const root = parseMessage(bytes);
    for (const spec of ["HEADER.FIELDS.NOT (date)", "HEADER.FIELDS.NOT (date date)"]) {
      const got = dec.decode(fetchSection(bytes, root, parseSection(spec)!)!);
      assert.equal(got, "From: User1 <user1@domain.org>\r\nSubject: s1\r\n\r\n");
    }
  },
});

Deno.test("section: parseSection", () => {
  assert.deepEqual(parseSection(""), { part: [] });
  assert.deepEqual(parseSection("1.2.3"), { part: [1, 2, 3] });
  assert.deepEqual(parseSection("2.mime"), { part: [2], text: "MIME" });
  assert.deepEqual(parseSection("TEXT"), { part: [], text: "TEXT" });
  assert.deepEqual(parseSection("1.HEADER.FIELDS (From  To)"), {
    part: [1],
    text: "HEADER.FIELDS",
    fields: ["From", "To"],
  });
  assert.equal(parseSection("MIME"), null);
  assert.equal(parseSection("0"), null);
  assert.equal(parseSection("1.x"), null);
  assert.equal(parseSection("HEADER.FIELDS"), null);
  assert.equal(parseSection("1HEADER"), null);
});

Deno.test("section: nonexistent parts give null; views share the buffer", () => {
  const bytes = enc.encode("Subject: x\r\n\r\nbody\r\n");
  const root = parseMessage(bytes);
  assert.equal(fetchSection(bytes, root, { part: [2] }), null);
  assert.equal(fetchSection(bytes, root, { part: [1, 1] }), null);
  assert.equal(resolvePart(root, [1]), root);
  const body = fetchSection(bytes, root, { part: [1] })!;
  assert.equal(dec.decode(body), "body\r\n");
  assert.equal(body.buffer, bytes.buffer);
  assert.equal(
    dec.decode(fetchSection(bytes, root, { part: [1], text: "MIME" })!),
    "Subject: x\r\n\r\n",
  );
});

Deno.test("section: partial slicing", () => {
  const data = enc.encode("0123456789");
  assert.equal(dec.decode(partial(data, 0, 3)), "012");
  assert.equal(dec.decode(partial(data, 8, 10)), "89");
  assert.equal(dec.decode(partial(data, 20, 3)), "");
  assert.equal(dec.decode(partial(data, 4)), "456789");
});

Deno.test("section: truncated header without line end gets one in HEADER.FIELDS", () => {
  const bytes = enc.encode("From: a@b\r\nSubject: cut");
  const root = parseMessage(bytes);
  const got = fetchSection(bytes, root, parseSection("HEADER.FIELDS (subject)")!)!;
  assert.equal(dec.decode(got), "Subject: cut\r\n\r\n");
  assert.equal(dec.decode(fetchSection(bytes, root, { part: [], text: "TEXT" })!), "");
  assert.equal(
    dec.decode(fetchSection(bytes, root, { part: [], text: "HEADER" })!),
    dec.decode(bytes),
  );
});

Deno.test("section: LF-only message keeps stored bytes", () => {
  const bytes = enc.encode(
    "Content-Type: multipart/mixed; boundary=b\n\n--b\nX: 1\n\none\n--b--\n",
  );
  const root = parseMessage(bytes);
  assert.equal(dec.decode(fetchSection(bytes, root, { part: [1] })!), "one");
  assert.equal(dec.decode(fetchSection(bytes, root, { part: [1], text: "MIME" })!), "X: 1\n\n");
});
