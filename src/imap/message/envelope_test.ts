/**
 * Tests for envelope.ts: the ENVELOPE replies of the imaptest fetch-envelope script.
 *
 * @module
 */

import assert from "node:assert/strict";
import { expectedReplies, fixturesAvailable, mboxMessages } from "./_imaptest_fixtures.ts";
import { buildEnvelope, envelope } from "./envelope.ts";
import { parseHeaderBlock } from "./header.ts";

const enc = new TextEncoder();

function fieldsOf(bytes: Uint8Array) {
  return parseHeaderBlock(bytes, 0, bytes.length).fields;
}

Deno.test({
  name: "envelope: imaptest fetch-envelope",
  ignore: !fixturesAvailable(),
  fn() {
    const messages = mboxMessages("fetch-envelope");
    const replies = expectedReplies("fetch-envelope");
    assert.equal(replies.length, messages.length);
    for (const reply of replies) {
      const m = /^\* (\d+) FETCH \(ENVELOPE (.*)\)$/.exec(reply)!;
      const got = envelope(fieldsOf(messages[Number(m[1]) - 1]!));
      // imaptest compares atoms and strings case-insensitively.
      assert.equal(got.toLowerCase(), m[2]!.toLowerCase(), `message ${m[1]}`);
    }
  },
});

Deno.test("envelope: absent header gives NILs; 8-bit subject becomes a literal", () => {
  assert.equal(envelope([]), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
  const bytes = enc.encode('Subject: Grüße\r\nTo: "a \\"q\\"" <x@y>\r\n\r\n');
  const got = envelope(fieldsOf(bytes));
  assert.equal(got, '(NIL {7}\r\nGrüße NIL NIL NIL (("a \\"q\\"" NIL "x" "y")) NIL NIL NIL NIL)');
});

Deno.test("envelope: folded subject is unfolded; Reply-To present wins over From", () => {
  const bytes = enc.encode("Subject: a\r\n  b\r\nFrom: f@x\r\nReply-To: r@x\r\n\r\n");
  const env = buildEnvelope(fieldsOf(bytes));
  assert.equal(env.subject, "a  b");
  assert.equal(env.replyTo[0]!.mailbox, "r");
  assert.equal(env.sender[0]!.mailbox, "f");
});
