import assert from "node:assert/strict";
import {
  type Canonicalization,
  canonicalizeBody,
  canonicalizeHeader,
  headerHashInput,
  limitBody,
  selectHeaders,
  splitMessage,
  withEmptyB,
} from "./canonicalize.ts";
import { latin1, sha256, toBase64 } from "./_util.ts";
import { CONFORMANCE } from "./_testing.ts";

interface CanonCase {
  name: string;
  header: Canonicalization;
  body: Canonicalization;
  header_fields_out: string[];
  body_out: string;
}

interface EmptyBodyCase {
  body_in: string;
  body: Canonicalization;
  body_out: string;
  bh_sha256: string;
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("canonicalizeHeader() and canonicalizeBody() match RFC 6376 §3.4.6", async (t) => {
  const data = JSON.parse(
    await Deno.readTextFile(new URL("rfc6376/canonicalization.json", CONFORMANCE)),
  ) as {
    header_fields_in: string[];
    body_in: string;
    cases: CanonCase[];
    empty_body: EmptyBodyCase[];
  };
  for (const c of data.cases) {
    await t.step(c.name, () => {
      assert.deepEqual(
        data.header_fields_in.map((f) => canonicalizeHeader(f, c.header)),
        c.header_fields_out,
      );
      assert.equal(latin1(canonicalizeBody(bytes(data.body_in), c.body)), c.body_out);
    });
  }
  for (const e of data.empty_body) {
    await t.step(`${e.body} body ${JSON.stringify(e.body_in)}`, async () => {
      const out = canonicalizeBody(bytes(e.body_in), e.body);
      assert.equal(latin1(out), e.body_out);
      assert.equal(toBase64(await sha256(out)), e.bh_sha256);
    });
  }
});

Deno.test("canonicalizeBody() handles trailing lines, WSP-only lines and no final CRLF", () => {
  const cases: [string, Canonicalization, string][] = [
    ["abc", "simple", "abc\r\n"],
    ["abc", "relaxed", "abc\r\n"],
    ["abc\r\n\r\n\r\n", "simple", "abc\r\n"],
    ["abc \t\r\n \r\n\t\r\n", "relaxed", "abc\r\n"],
    ["a\r\n\r\nb\r\n\r\n", "simple", "a\r\n\r\nb\r\n"],
    ["a  \t b\r\n \r\nc", "relaxed", "a b\r\n\r\nc\r\n"],
    ["  \t", "relaxed", ""],
    ["x\ny \r\n", "relaxed", "x\ny\r\n"], // a bare LF is not a line end
  ];
  for (const [input, c, want] of cases) {
    assert.equal(latin1(canonicalizeBody(bytes(input), c)), want, `${c} ${JSON.stringify(input)}`);
  }
});

Deno.test("limitBody() keeps the first l= octets and refuses a count beyond the body", () => {
  const body = bytes("hello\r\nworld\r\n");
  assert.equal(latin1(limitBody(body, 7)), "hello\r\n");
  assert.equal(limitBody(body), body);
  assert.equal(limitBody(body, body.length).length, body.length);
  assert.throws(() => limitBody(body, body.length + 1), RangeError);
});

Deno.test("splitMessage() splits fields (with folding) from the body at the first empty line", () => {
  const m = splitMessage(
    bytes("A: 1\r\nB: 2\r\n  more\r\nSubject : x\r\n\r\nbody\r\n\r\nC: no\r\n"),
  );
  assert.deepEqual(m.headers.map((f) => [f.name, f.key, f.raw]), [
    ["A", "a", "A: 1\r\n"],
    ["B", "b", "B: 2\r\n  more\r\n"],
    ["Subject", "subject", "Subject : x\r\n"],
  ]);
  assert.equal(latin1(m.body), "body\r\n\r\nC: no\r\n");
  assert.equal(splitMessage(bytes("\r\nonly body")).headers.length, 0);
  const noBody = splitMessage(bytes("A: 1\r\n"));
  assert.equal(noBody.headers.length, 1);
  assert.equal(noBody.body.length, 0);
});

Deno.test("selectHeaders() walks up from the bottom and yields null once a name runs out", () => {
  const { headers } = splitMessage(
    bytes("Received: 1\r\nFrom: a\r\nReceived: 2\r\nTo: b\r\nreceived: 3\r\n\r\n"),
  );
  const picked = selectHeaders(headers, ["received", "RECEIVED", "from", "from", "received", "x"]);
  assert.deepEqual(picked.map((f) => f?.raw ?? null), [
    "received: 3\r\n",
    "Received: 2\r\n",
    "From: a\r\n",
    null, // over-signed: From listed once more than present
    "Received: 1\r\n",
    null,
  ]);
});

Deno.test("withEmptyB() empties only the b= value, folding and surrounding space included", () => {
  const field = "DKIM-Signature: v=1; bh=AAAA;\r\n b=abc\r\n def ; s=x\r\n";
  assert.equal(withEmptyB(field), "DKIM-Signature: v=1; bh=AAAA;\r\n b=; s=x\r\n");
  assert.equal(withEmptyB("DKIM-Signature: b = xyz \r\n"), "DKIM-Signature: b =\r\n");
  assert.equal(withEmptyB("DKIM-Signature: a=1; bh=2\r\n"), "DKIM-Signature: a=1; bh=2\r\n");
});

Deno.test("headerHashInput() hashes the selected fields and the signature field without CRLF", () => {
  const { headers } = splitMessage(bytes("From: A <a@x>\r\nSubject:  Hi  \r\n\r\n"));
  const sig = "DKIM-Signature: v=1; h=from:subject:from;\r\n b=zzz\r\n";
  const selected = selectHeaders(headers, ["from", "subject", "from"]);
  assert.equal(
    headerHashInput(selected, sig, "relaxed"),
    "from:A <a@x>\r\nsubject:Hi\r\ndkim-signature:v=1; h=from:subject:from; b=",
  );
  assert.equal(
    headerHashInput(selected, sig, "simple"),
    "From: A <a@x>\r\nSubject:  Hi  \r\nDKIM-Signature: v=1; h=from:subject:from;\r\n b=",
  );
});
