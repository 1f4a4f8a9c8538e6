import assert from "node:assert/strict";
import {
  continuation,
  formatDateTime,
  isAstringAtom,
  quote,
  Response,
  statusLine,
} from "./response.ts";

const dec = new TextDecoder();
const text = (r: Response) => dec.decode(r.bytes());

Deno.test("response: strings choose atom, quoted or literal", () => {
  assert.equal(text(new Response().astring("INBOX")), "INBOX");
  assert.equal(text(new Response().astring("NIL")), '"NIL"');
  assert.equal(text(new Response().astring("")), '""');
  assert.equal(text(new Response().astring("a b")), '"a b"');
  assert.equal(text(new Response().string('say "hi"')), '"say \\"hi\\""');
  assert.equal(text(new Response().string("two\r\nlines")), "{10}\r\ntwo\r\nlines");
  assert.equal(text(new Response().string("caf\u00e9")), "{5}\r\ncaf\u00e9");
  assert.equal(text(new Response({ utf8: true }).string("caf\u00e9")), '"caf\u00e9"');
  assert.equal(text(new Response().string("x".repeat(2000))).slice(0, 8), "{2000}\r\n");
  assert.equal(quote('\\\\\\\\\\\\\\\\\\\\"'), null, "escape-heavy strings become literals");
  assert.equal(text(new Response().nstring(null)), "NIL");
  assert.ok(!isAstringAtom("a(b"));
  assert.ok(isAstringAtom("a]b"));
});

Deno.test("response: mailbox names in modified UTF-7 or UTF-8", () => {
  assert.equal(
    text(new Response().mailbox("~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e")),
    "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
  );
  assert.equal(text(new Response({ utf8: true }).mailbox("p\u00e4\u00e4")), '"p\u00e4\u00e4"');
  assert.equal(text(new Response().mailbox("a b&c")), '"a b&-c"');
});

Deno.test("response: internal date format (RFC 3501 §9 date-time)", () => {
  const d = new Date("2007-02-14T23:02:03Z");
  assert.equal(formatDateTime(d, 120), "15-Feb-2007 01:02:03 +0200");
  assert.equal(formatDateTime(d, -330), "14-Feb-2007 17:32:03 -0530");
  assert.equal(formatDateTime(new Date("2007-03-05T00:00:00Z")), "05-Mar-2007 00:00:00 +0000");
  assert.equal(text(new Response().dateTime(d)), '"14-Feb-2007 23:02:03 +0000"');
});

Deno.test("response: builder keeps literal bodies as their own chunks", () => {
  const body = new Uint8Array(100_000).fill(0x41);
  const r = new Response().raw("* 1 FETCH (").list(["\\Seen", "$x"], (b, f) => b.raw(f)).raw(
    " BODY[] ",
  )
    .literal(body).raw(")").crlf();
  const chunks = r.chunks();
  assert.equal(chunks.length, 3);
  assert.equal(chunks[1], body, "the body is passed through, not copied");
  assert.equal(dec.decode(chunks[0]), "* 1 FETCH ((\\Seen $x) BODY[] {100000}\r\n");
  assert.equal(dec.decode(chunks[2]), ")\r\n");
  assert.equal(text(new Response().literal(new Uint8Array([0, 1]), true)), "~{2}\r\n\0\x01");
  assert.equal(text(new Response().flags(["\\Seen", "$x"])), "(\\Seen $x)");
});

Deno.test("response: status lines and continuations never carry CR/LF in text", () => {
  assert.equal(statusLine("a1", "OK", "done", "READ-WRITE"), "a1 OK [READ-WRITE] done\r\n");
  assert.equal(statusLine("*", "BAD", "evil\r\ninjected"), "* BAD evil injected\r\n");
  assert.equal(continuation(), "+ OK\r\n");
});
