/**
 * Tests for search_text.ts: the imaptest search-addresses, search-body, search-header,
 * search-date and nil scripts, evaluated with a tiny SEARCH key interpreter over this module,
 * plus transfer decoding and date parsing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixturesAvailable, IMAPTEST_DIR, mboxMessages } from "./_imaptest_fixtures.ts";
import { type MimePart, parseMessage } from "./mime_tree.ts";
import {
  bodyTexts,
  containsText,
  dayNumber,
  decodeTransfer,
  matchAddress,
  matchBody,
  matchHeader,
  matchText,
  parseDateHeader,
  sentDay,
} from "./search_text.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Splits a SEARCH argument string into atoms and quoted strings. */
function words(s: string): string[] {
  return [...s.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

function searchDay(arg: string): number {
  const d = parseDateHeader(arg)!;
  return dayNumber(d.year, d.month, d.day);
}

/** Evaluates the keys the scripts use, for message `bytes`. */
function evaluate(keys: string[], bytes: Uint8Array, root: MimePart, seq: number, max: number) {
  let result = true;
  for (let i = 0; i < keys.length; i++) {
    let negate = false;
    let key = keys[i]!.toLowerCase();
    if (key === "not") {
      negate = true;
      key = keys[++i]!.toLowerCase();
    }
    let ok: boolean;
    const sent = sentDay(root);
    if (/^\d+:(\d+|\*)$/.test(key)) {
      const [lo, hi] = key.split(":");
      ok = seq >= Number(lo) && seq <= (hi === "*" ? max : Number(hi));
    } else if (["from", "to", "cc", "bcc"].includes(key)) {
      ok = matchAddress(root, key, keys[++i]!);
    } else if (key === "subject") ok = matchHeader(root, "subject", keys[++i]!);
    else if (key === "header") {
      ok = matchHeader(root, keys[i + 1]!, keys[i + 2]!);
      i += 2;
    } else if (key === "body") ok = matchBody(bytes, root, keys[++i]!);
    else if (key === "text") ok = matchText(bytes, root, keys[++i]!);
    else if (key === "sentbefore") ok = sent !== null && sent < searchDay(keys[++i]!);
    else if (key === "senton") ok = sent !== null && sent === searchDay(keys[++i]!);
    else if (key === "sentsince") ok = sent !== null && sent >= searchDay(keys[++i]!);
    else throw new Error(`unsupported key ${key}`);
    result &&= ok !== negate;
  }
  return result;
}

for (const script of ["search-addresses", "search-body", "search-header", "search-date", "nil"]) {
  Deno.test({
    name: `search_text: imaptest ${script}`,
    ignore: !fixturesAvailable(),
    fn() {
      const messages = mboxMessages(script).map((b) => ({ bytes: b, root: parseMessage(b) }));
      const lines = Deno.readTextFileSync(`${IMAPTEST_DIR}/${script}`).split("\n");
      let checked = 0;
      for (let i = 0; i < lines.length; i++) {
        const cmd = /^ok search (.*)$/i.exec(lines[i]!);
        const reply = /^\* search ?(.*)$/i.exec(lines[i + 1] ?? "");
        if (!cmd || !reply) continue;
        const keys = words(cmd[1]!);
        const got = messages.flatMap((m, k) =>
          evaluate(keys, m.bytes, m.root, k + 1, messages.length) ? [k + 1] : []
        );
        assert.equal(got.join(" "), reply[1]!.trim(), `${script}: search ${cmd[1]}`);
        checked++;
      }
      assert.ok(checked > 0);
    },
  });
}

Deno.test("search_text: case-insensitive, NFC, encoded words in headers and names", () => {
  assert.ok(containsText("Hello Beautiful World", "o bEAU"));
  assert.ok(containsText("cafe\u0301", "CAFÉ"));
  assert.ok(containsText("x", ""));
  const bytes = enc.encode(
    "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nFrom: =?utf-8?q?J=C3=B6rg?= <j@x>\r\n\r\nbody\r\n",
  );
  const root = parseMessage(bytes);
  assert.ok(matchHeader(root, "subject", "grüße"));
  assert.ok(matchAddress(root, "from", "jörg <j@x"));
  assert.ok(!matchAddress(root, "to", ""));
  assert.ok(matchText(bytes, root, "JÖRG"));
});

Deno.test("search_text: bodies decoded per part (base64, QP, charsets); non-text skipped", () => {
  const msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
    "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
    "S=FC=DFes long=\r\n line\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n" +
    "Content-Transfer-Encoding: base64\r\n\r\nPGI+aMOpPC9iPg==\r\n--b\r\n" +
    "Content-Type: application/octet-stream\r\n\r\nsecretword\r\n--b\r\n" +
    "Content-Type: message/rfc822\r\n\r\nSubject: inner subject\r\n\r\ninner body\r\n--b--\r\n";
  const bytes = enc.encode(msg);
  const root = parseMessage(bytes);
  assert.deepEqual([...bodyTexts(bytes, root)], [
    "Süßes long line",
    "<b>hé</b>",
    "Subject: inner subject",
    "inner body",
  ]);
  assert.ok(matchBody(bytes, root, "SÜSSES") === false); // no full case folding of ß
  assert.ok(matchBody(bytes, root, "süßes LONG line"));
  assert.ok(matchBody(bytes, root, "hé"));
  assert.ok(!matchBody(bytes, root, "secretword"));
  assert.ok(matchBody(bytes, root, "inner subject"));
});

Deno.test("search_text: transfer decoding edge cases never throw", () => {
  const b = enc.encode("aGVs\r\nbG8=\r\n!!junk");
  assert.equal(dec.decode(decodeTransfer(b, 0, b.length, "BASE64")), "hello");
  const q = enc.encode("a=3Db=\r\nc= \r\nd=zz=");
  assert.equal(dec.decode(decodeTransfer(q, 0, q.length, "Quoted-Printable")), "a=bcd=zz");
  const raw = enc.encode("as is");
  assert.equal(decodeTransfer(raw, 0, raw.length, "8bit").buffer, raw.buffer);
  const junk = new Uint8Array(256).map((_, i) => i);
  decodeTransfer(junk, 0, 256, "base64");
  decodeTransfer(junk, 0, 256, "quoted-printable");
});

Deno.test("search_text: date parsing", () => {
  assert.deepEqual(parseDateHeader(" Thu, 15 Feb 2007 01:02:03 +0200"), {
    year: 2007,
    month: 2,
    day: 15,
    hour: 1,
    minute: 2,
    second: 3,
    offsetMinutes: 120,
  });
  assert.equal(parseDateHeader("1 jan 99 10:00 EST")?.year, 1999);
  assert.equal(parseDateHeader("1 jan 49 10:00 EST")?.offsetMinutes, -300);
  assert.equal(parseDateHeader("24-Mar-2007")?.day, 24);
  assert.equal(parseDateHeader("Tue, 1 Foo 2007"), null);
  assert.equal(parseDateHeader("garbage"), null);
  assert.equal(sentDay(parseMessage(enc.encode("Subject: x\r\n\r\n"))), null);
});
