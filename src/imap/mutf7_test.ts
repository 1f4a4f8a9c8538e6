import assert from "node:assert/strict";
import { decodeMutf7, encodeMutf7, mailboxFromWire, mailboxToWire } from "./mutf7.ts";

Deno.test("mutf7: RFC 3501 §5.1.3 example round-trips", () => {
  const wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
  const name = "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e";
  assert.equal(decodeMutf7(wire), name);
  assert.equal(encodeMutf7(name), wire);
});

Deno.test("mutf7: ampersand, ASCII and imaptest's p&AOQA5A- (pää)", () => {
  assert.equal(encodeMutf7("Tom & Jerry"), "Tom &- Jerry");
  assert.equal(decodeMutf7("Tom &- Jerry"), "Tom & Jerry");
  assert.equal(decodeMutf7("p&AOQA5A-"), "p\u00e4\u00e4");
  assert.equal(encodeMutf7("p\u00e4\u00e4"), "p&AOQA5A-");
  assert.equal(encodeMutf7("INBOX"), "INBOX");
  assert.equal(decodeMutf7(""), "");
});

Deno.test("mutf7: astral characters use surrogate pairs", () => {
  const name = "mail \u{1F600}";
  const wire = encodeMutf7(name);
  assert.equal(wire, "mail &2D3eAA-");
  assert.equal(decodeMutf7(wire), name);
});

Deno.test("mutf7: round trip of varied names", () => {
  for (
    const name of [
      "Entw\u00fcrfe",
      "\u00e9t\u00e9 & hiver",
      "a\u0000b",
      "\u00ff",
      "x\u00e4\u00e4\u00e4y",
    ]
  ) {
    assert.equal(decodeMutf7(encodeMutf7(name)), name);
  }
});

Deno.test("mutf7: invalid or non-canonical input is refused", () => {
  const bad = [
    "&", // unterminated
    "abc&U,BTFw", // unterminated run
    "&U,BTFw=-", // '=' is not in the alphabet
    "&U/BTFw-", // '/' is plain base64, not modified
    "&AGE-", // encodes "a": printable ASCII must be direct
    "&AOQ-&AOQ-", // two runs side by side
    "&AOQB-", // left-over bits not zero
    "&AOQA-", // a whole spare sextet (24 bits for one 16-bit unit)
    "&2D0-", // lone high surrogate
    "&3gA-", // lone low surrogate
    "caf\u00e9", // 8-bit character in the wire form
    "tab\there",
  ];
  for (const w of bad) assert.equal(decodeMutf7(w), null, JSON.stringify(w));
});

Deno.test("mutf7: UTF8=ACCEPT passes names through", () => {
  assert.equal(mailboxFromWire("caf\u00e9", true), "caf\u00e9");
  assert.equal(mailboxFromWire("caf\u00e9", false), null);
  assert.equal(mailboxFromWire("&AOk-", false), "\u00e9");
  assert.equal(mailboxToWire("\u00e9", true), "\u00e9");
  assert.equal(mailboxToWire("\u00e9", false), "&AOk-");
});
