import assert from "node:assert/strict";
import { HEADER_SECTION_LIMIT, headerSection } from "./header_section.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("headerSection: up to and including the empty line", () => {
  const msg = "Subject: a\r\nFrom: b@example.com\r\n\r\nbody\r\n\r\nmore\r\n";
  const h = headerSection([enc.encode(msg)]);
  assert.equal(dec.decode(h), "Subject: a\r\nFrom: b@example.com\r\n\r\n");
  // A lone LF or CR is not a line end; only CRLF CRLF ends the header.
  assert.equal(
    dec.decode(headerSection([enc.encode("A: 1\n\nB: 2\r\r\nC: 3\r\n\r\nbody")])),
    "A: 1\n\nB: 2\r\r\nC: 3\r\n\r\n",
  );
  // A message that starts with the empty line has an empty header.
  assert.equal(dec.decode(headerSection([enc.encode("\r\nbody\r\n")])), "\r\n");
  assert.equal(headerSection([]).length, 0);
});

Deno.test("headerSection: without an empty line, everything up to 64 KiB", () => {
  assert.equal(
    dec.decode(headerSection([enc.encode("Subject: a\r\n"), enc.encode("From: b")])),
    "Subject: a\r\nFrom: b",
  );
  const big = enc.encode("X: " + "y".repeat(100_000));
  const h = headerSection([big.subarray(0, 40_000), big.subarray(40_000)]);
  assert.equal(h.length, HEADER_SECTION_LIMIT);
  assert.deepEqual(h, big.subarray(0, HEADER_SECTION_LIMIT));
  // An empty line past the limit is not looked for.
  const late = enc.encode("X: " + "y".repeat(70_000) + "\r\n\r\nbody");
  assert.equal(headerSection([late]).length, HEADER_SECTION_LIMIT);
});

Deno.test("headerSection: the empty line split across chunks", () => {
  const msg = "Subject: a\r\nTo: c@example.com\r\n\r\nbody\r\n";
  const want = "Subject: a\r\nTo: c@example.com\r\n\r\n";
  const bytes = enc.encode(msg);
  // Every way of cutting the message in three, including empty chunks.
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j += 3) {
      const chunks = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
      assert.equal(dec.decode(headerSection(chunks)), want, `cut at ${i}, ${j}`);
    }
  }
  // One octet per chunk.
  assert.equal(dec.decode(headerSection(Array.from(bytes, (b) => Uint8Array.of(b)))), want);
  // The result is a copy, not a view of the caller's buffer.
  const h = headerSection([bytes]);
  bytes[0] = 0x78;
  assert.equal(dec.decode(h), want);
});
