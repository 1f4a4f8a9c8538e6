/**
 * Tests for bodystructure.ts: the imaptest fetch-bodystructure BODY reply, nested messages,
 * extension data and malformed structures.
 *
 * @module
 */

import assert from "node:assert/strict";
import { expectedReplies, fixturesAvailable, mboxMessages } from "./_imaptest_fixtures.ts";
import { bodyStructure } from "./bodystructure.ts";
import { parseMessage } from "./mime_tree.ts";

const enc = new TextEncoder();

function bs(text: string, extended = true): string {
  return bodyStructure(parseMessage(enc.encode(text)), extended);
}

Deno.test({
  name: "bodystructure: imaptest fetch-bodystructure BODY",
  ignore: !fixturesAvailable(),
  fn() {
    const messages = mboxMessages("fetch-bodystructure");
    for (const reply of expectedReplies("fetch-bodystructure")) {
      const m = /^\* (\d+) FETCH \(BODY (.*)\)$/.exec(reply)!;
      const got = bodyStructure(parseMessage(messages[Number(m[1]) - 1]!), false);
      // imaptest compares strings case-insensitively ("x-MYOWN" vs the header's "x-myown").
      assert.equal(got.toLowerCase(), m[2]!.toLowerCase());
    }
  },
});

Deno.test({
  name: "bodystructure: fetch-body-mime nested message/rfc822 with envelope and lines",
  ignore: !fixturesAvailable(),
  fn() {
    const got = bodyStructure(parseMessage(mboxMessages("fetch-body-mime")[0]!), false);
    assert.equal(
      got,
      '(("TEXT" "X-MYOWN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1)' +
        '("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 298 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ' +
        '((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ' +
        'NIL NIL NIL NIL NIL) (("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 20 1)' +
        '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 21 1) "ALTERNATIVE") 18) "MIXED")',
    );
  },
});

Deno.test("bodystructure: default type, non-text part, extension data", () => {
  assert.equal(
    bs("Subject: x\r\n\r\nab\r\ncd\r\n", false),
    '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 8 2)',
  );
  const msg = "Content-Type: multipart/mixed; boundary=b\r\nContent-Language: en, fr\r\n\r\n" +
    '--b\r\nContent-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n' +
    "Content-ID: <id@x>\r\nContent-Description: the file\r\nContent-MD5: abc=\r\n" +
    "Content-Disposition: attachment; filename*=utf-8''%C3%A4.pdf\r\nContent-Language: de\r\n" +
    "Content-Location: http://x/a.pdf\r\n\r\nAAAA\r\n--b--\r\n";
  assert.equal(
    bs(msg),
    '(("APPLICATION" "PDF" ("NAME" "a.pdf") "<id@x>" "the file" "BASE64" 4 "abc=" ' +
      '("ATTACHMENT" ("FILENAME*" "utf-8\'\'%C3%A4.pdf")) "de" "http://x/a.pdf") "MIXED" ' +
      '("BOUNDARY" "b") NIL ("en" "fr") NIL)',
  );
});

Deno.test("bodystructure: empty multipart gets one empty text part; depth limit", () => {
  assert.equal(
    bs("Content-Type: multipart/mixed; boundary=q\r\n\r\nno parts\r\n", false),
    '(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0) "MIXED")',
  );
  const deep = "Content-Type: message/rfc822\r\n\r\n".repeat(200) + "x";
  const got = bodyStructure(parseMessage(enc.encode(deep)), true);
  assert.ok(got.startsWith('("MESSAGE" "RFC822"'));
  assert.ok(got.includes("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"));
});

Deno.test("bodystructure: 8-bit parameter value is sent as a literal", () => {
  const got = bs('Content-Type: text/plain; name="Grüße.txt"\r\n\r\nx', false);
  assert.equal(got, '("TEXT" "PLAIN" ("NAME" {11}\r\nGrüße.txt) NIL NIL "7BIT" 1 0)');
});
