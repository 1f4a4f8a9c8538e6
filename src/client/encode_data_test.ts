import assert from "node:assert/strict";
import { encodeData } from "./encode_data.ts";
import { smugglingVariants } from "../../tests/support/conformance.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function text(b: Uint8Array): string {
  return dec.decode(b);
}

/** No CR without LF after it, no LF without CR before it. */
function assertCrlfOnly(b: Uint8Array): void {
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0d) assert.equal(b[i + 1], 0x0a, `bare CR at ${i}`);
    if (b[i] === 0x0a) assert.equal(b[i - 1], 0x0d, `bare LF at ${i}`);
  }
}

Deno.test("encodeData() turns bare LF and bare CR into CRLF", () => {
  assert.equal(text(encodeData([enc.encode("a\nb\rc\r\nd")])), "a\r\nb\r\nc\r\nd\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\r\nb")])), "a\r\n\r\nb\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\n\rb")])), "a\r\n\r\nb\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("x\r")])), "x\r\n.\r\n");
});

Deno.test("encodeData() keeps CRLF that spans two chunks", () => {
  const out = encodeData([enc.encode("a\r"), enc.encode("\nb\r"), enc.encode("\n")]);
  assert.equal(text(out), "a\r\nb\r\n.\r\n");
});

Deno.test("encodeData() dot-stuffs every line starting with a dot, across chunks", () => {
  assert.equal(text(encodeData([enc.encode(".")])), "..\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\n.\r\nb")])), "a\r\n..\r\nb\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\n.\nb")])), "a\r\n..\r\nb\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode(".x\r\n..y\r\n")])), "..x\r\n...y\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\n"), enc.encode(".b")])), "a\r\n..b\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a."), enc.encode("b")])), "a.b\r\n.\r\n");
});

Deno.test("encodeData() ends in exactly one CRLF before the terminator", () => {
  assert.equal(text(encodeData([])), ".\r\n");
  assert.equal(text(encodeData([enc.encode("")])), ".\r\n");
  assert.equal(text(encodeData([enc.encode("a")])), "a\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\n")])), "a\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\n\r\n")])), "a\r\n\r\n.\r\n");
});

Deno.test("encodeData() neutralises every SMUGGLING.md end-of-data variant", async () => {
  const variants = await smugglingVariants();
  assert.ok(variants.length >= 10, "variants were read");
  for (const v of variants) {
    const before = enc.encode("Subject: probe\r\n\r\nbody\r\n");
    const after = enc.encode(
      "MAIL FROM:<smuggled@test.example>\r\nRCPT TO:<rcpt@our.domain>\r\nDATA\r\n" +
        "Subject: smuggled\r\n\r\nX\r\n.\r\n",
    );
    const out = encodeData([before, v.bytes, after]);
    assertCrlfOnly(out);
    const s = text(out);
    assert.ok(s.endsWith("\r\n.\r\n"), v.name);
    // The terminator appears once, at the very end: every content line "." became "..".
    assert.equal(s.indexOf("\r\n.\r\n"), s.length - 5, `${v.name}: ${JSON.stringify(s)}`);
    for (const line of s.slice(0, -3).split("\r\n")) {
      if (line.startsWith(".")) assert.ok(line.startsWith(".."), `${v.name}: ${line}`);
    }
    // And each variant alone, as the whole message.
    const alone = encodeData([v.bytes]);
    assertCrlfOnly(alone);
    assert.equal(text(alone).indexOf("\r\n.\r\n"), text(alone).length - 5, v.name);
  }
});
