import assert from "node:assert/strict";
import { type ContentFlaws, DotReader, LineEndingScanner } from "./data.ts";
import { smugglingVariants } from "../../tests/support/conformance.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const NO_FLAWS: ContentFlaws = { bareCR: false, bareLF: false, nul: false };

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Every way to cut `b` into `1 + cuts.length` chunks at the given offsets. */
function cut(b: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...cuts, b.length]) {
    out.push(b.slice(prev, c));
    prev = c;
  }
  return out;
}

function byteByByte(b: Uint8Array): Uint8Array[] {
  return Array.from(b, (x) => Uint8Array.of(x));
}

/** All 2-way splits of b (including an empty first or last chunk). */
function twoWaySplits(b: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let k = 0; k <= b.length; k++) out.push(cut(b, [k]));
  return out;
}

interface Run {
  /** Index of the chunk whose feed() returned the rest, or -1 when it never did. */
  endedAt: number;
  /** The rest feed() returned plus every chunk not fed: what belongs to the command stream. */
  after: string;
  content: string;
  size: number;
  tooBig: boolean;
  flaws: ContentFlaws;
}

/** Feed chunks until the reader reports the end, as the transport does. */
function run(chunks: readonly Uint8Array[], maxBytes = 1 << 20): Run {
  const reader = new DotReader(maxBytes);
  for (let i = 0; i < chunks.length; i++) {
    const rest = reader.feed(chunks[i]!);
    if (rest !== undefined) {
      const r = reader.result();
      return {
        endedAt: i,
        after: dec.decode(concat([rest, ...chunks.slice(i + 1)])),
        content: dec.decode(concat(r.parts)),
        size: r.size,
        tooBig: r.tooBig,
        flaws: { ...r.flaws },
      };
    }
  }
  const r = reader.result();
  return {
    endedAt: -1,
    after: "",
    content: dec.decode(concat(r.parts)),
    size: r.size,
    tooBig: r.tooBig,
    flaws: { ...r.flaws },
  };
}

/** Index of the chunk holding byte number `offset` of the concatenation. */
function chunkOf(chunks: readonly Uint8Array[], offset: number): number {
  let end = 0;
  for (let i = 0; i < chunks.length; i++) {
    end += chunks[i]!.length;
    if (offset < end) return i;
  }
  throw new Error("offset beyond the input");
}

// --- The smuggling variants, read from the conformance text at run time. ---
const VARIANTS = await smugglingVariants();

// Which flaw each variant must raise when it follows "body\r\n" and precedes "MAIL FROM:...".
const EXPECTED_FLAWS: Record<number, ContentFlaws> = {
  1: { bareCR: false, bareLF: true, nul: false }, // \n.\n
  2: { bareCR: true, bareLF: false, nul: false }, // \r.\r
  3: { bareCR: true, bareLF: true, nul: false }, // \r.\n
  4: { bareCR: true, bareLF: true, nul: false }, // \n.\r
  5: { bareCR: false, bareLF: true, nul: false }, // \n.\r\n
  6: { bareCR: false, bareLF: true, nul: false }, // \r\n.\n
  7: { bareCR: true, bareLF: false, nul: false }, // \r.\r\n
  8: { bareCR: true, bareLF: false, nul: false }, // \r\n.\r
  9: { bareCR: false, bareLF: false, nul: true }, // \r\n\0.\r\n
  10: { bareCR: false, bareLF: false, nul: true }, // \r\n.\0\r\n
  11: { bareCR: true, bareLF: false, nul: false }, // \r\n.\r\r\n
  12: { bareCR: true, bareLF: false, nul: false }, // \r\r\n.\r\r\n
};

/** An independent oracle: the flaws of raw content bytes, by definition (RFC 5321 §2.3.8). */
function oracle(b: Uint8Array): ContentFlaws {
  const f = { ...NO_FLAWS };
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0) f.nul = true;
    if (b[i] === 0x0d && b[i + 1] !== 0x0a) f.bareCR = true;
    if (b[i] === 0x0a && b[i - 1] !== 0x0d) f.bareLF = true;
  }
  return f;
}

const HEAD = "Subject: probe\r\n\r\nbody\r\n";
const SMUGGLED = "MAIL FROM:<smuggled@test.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" +
  "Subject: smuggled\r\n\r\nX\r\n";
// The only CR LF "." CR LF: the CRLF ending "X" above, then this dot line.
const END = ".\r\n";
const AFTER = "NOOP\r\n";

/** The probe of SMUGGLING.md with variant V, then a command after the real terminator. */
function probe(v: Uint8Array): { input: Uint8Array; terminatorEnd: number } {
  const before = concat([bytes(HEAD), v, bytes(SMUGGLED + END)]);
  return { input: concat([before, bytes(AFTER)]), terminatorEnd: before.length };
}

Deno.test("SMUGGLING.md lists the 12 variants this file tests", () => {
  assert.deepEqual(
    VARIANTS.map((v) => v.n),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );
  assert.deepEqual([...VARIANTS[4]!.bytes], [0x0a, 0x2e, 0x0d, 0x0a]); // lfcrlf
  assert.deepEqual([...VARIANTS[11]!.bytes], [0x0d, 0x0d, 0x0a, 0x2e, 0x0d, 0x0d, 0x0a]);
  for (const v of VARIANTS) {
    // The expectations above agree with the oracle on the bytes actually read.
    const { input, terminatorEnd } = probe(v.bytes);
    assert.deepEqual(
      oracle(input.subarray(0, terminatorEnd)),
      EXPECTED_FLAWS[v.n],
      `variant ${v.n}`,
    );
  }
});

Deno.test("DotReader", async (t) => {
  await t.step("finds CRLF.CRLF and keeps the content with its last CRLF", () => {
    const r = run([bytes("Subject: x\r\n\r\nhello\r\n.\r\n")]);
    assert.equal(r.endedAt, 0);
    assert.equal(r.after, "");
    assert.equal(r.content, "Subject: x\r\n\r\nhello\r\n");
    assert.equal(r.size, 21);
    assert.equal(r.tooBig, false);
    assert.deepEqual(r.flaws, NO_FLAWS);
  });

  await t.step("returns nothing until the terminator arrives", () => {
    const reader = new DotReader(1000);
    assert.equal(reader.feed(bytes("line one\r\n")), undefined);
    assert.equal(reader.feed(bytes("line two\r\n")), undefined);
    assert.deepEqual(reader.feed(bytes(".\r\n")), new Uint8Array(0));
    assert.equal(dec.decode(concat(reader.result().parts)), "line one\r\nline two\r\n");
  });

  await t.step("removes one leading dot from every line (RFC 5321 §4.5.2)", () => {
    const r = run([bytes(".first\r\nx\r\n..\r\n...\r\n..x\r\n. \r\na.b\r\n.\r\n")]);
    assert.equal(r.content, "first\r\nx\r\n.\r\n..\r\n.x\r\n \r\na.b\r\n");
    assert.equal(r.size, r.content.length);
    assert.deepEqual(r.flaws, NO_FLAWS);
  });

  await t.step("unstuffs a dot line split from its dot by a chunk boundary", () => {
    const r = run([bytes("a\r\n."), bytes(".\r\n"), bytes(".\r\n")]);
    assert.equal(r.endedAt, 2);
    assert.equal(r.content, "a\r\n.\r\n");
  });

  await t.step("reads an empty message (terminator right after the 354)", () => {
    const r = run([bytes(".\r\n")]);
    assert.equal(r.endedAt, 0);
    assert.equal(r.after, "");
    assert.equal(r.content, "");
    assert.equal(r.size, 0);
    assert.deepEqual(r.flaws, NO_FLAWS);
  });

  await t.step("keeps an empty last line before the terminator", () => {
    const r = run([bytes("a\r\n\r\n.\r\n")]);
    assert.equal(r.content, "a\r\n\r\n");
  });

  await t.step("returns the bytes after the terminator for the command stream", () => {
    const r = run([bytes("a\r\n.\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<z@y.test>\r\n")]);
    assert.equal(r.content, "a\r\n");
    assert.equal(r.after, "MAIL FROM:<x@y.test>\r\nRCPT TO:<z@y.test>\r\n");
  });

  await t.step("stops at the first terminator and leaves a second one to the commands", () => {
    const r = run([bytes("a\r\n.\r\nb\r\n.\r\n")]);
    assert.equal(r.content, "a\r\n");
    assert.equal(r.after, "b\r\n.\r\n");
  });

  const message = bytes("A\r\n..B\r\n.\r\nQUIT\r\n");
  const terminatorLF = "A\r\n..B\r\n.\r".length; // offset of the terminator's final LF
  const want = { content: "A\r\n.B\r\n", after: "QUIT\r\n" };

  await t.step("finds a terminator fed byte by byte exactly once", () => {
    const chunks = byteByByte(message);
    const r = run(chunks);
    assert.equal(r.endedAt, terminatorLF);
    assert.equal(r.content, want.content);
    assert.equal(r.after, want.after);
    assert.deepEqual(r.flaws, NO_FLAWS);
  });

  await t.step("finds a terminator split at every 2-way and 3-way boundary", () => {
    const splits = twoWaySplits(message);
    for (let a = 0; a <= message.length; a++) {
      for (let b = a; b <= message.length; b++) splits.push(cut(message, [a, b]));
    }
    for (const chunks of splits) {
      const label = JSON.stringify(chunks.map((c) => dec.decode(c)));
      const r = run(chunks);
      assert.equal(r.endedAt, chunkOf(chunks, terminatorLF), label);
      assert.equal(r.content, want.content, label);
      assert.equal(r.after, want.after, label);
      assert.equal(r.size, want.content.length, label);
      assert.deepEqual(r.flaws, NO_FLAWS, label);
    }
  });

  await t.step("does not end at a fake LF.CRLF split at any boundary", () => {
    const input = bytes("a\n.\r\nb\r\n.\r\n");
    const realLF = input.length - 1;
    for (const chunks of [byteByByte(input), ...twoWaySplits(input)]) {
      const label = JSON.stringify(chunks.map((c) => dec.decode(c)));
      const r = run(chunks);
      assert.equal(r.endedAt, chunkOf(chunks, realLF), label);
      assert.equal(r.content, "a\n.\r\nb\r\n", label);
      assert.deepEqual(r.flaws, { bareCR: false, bareLF: true, nul: false }, label);
    }
  });

  await t.step("does not end at CRLF.CR + other byte split at any boundary", () => {
    const input = bytes("a\r\n.\rX\r\n.\r\n");
    const realLF = input.length - 1;
    for (const chunks of [byteByByte(input), ...twoWaySplits(input)]) {
      const label = JSON.stringify(chunks.map((c) => dec.decode(c)));
      const r = run(chunks);
      assert.equal(r.endedAt, chunkOf(chunks, realLF), label);
      assert.deepEqual(r.flaws, { bareCR: true, bareLF: false, nul: false }, label);
    }
  });

  await t.step("accepts CR at the end of one chunk and LF at the start of the next", () => {
    const r = run([bytes("a\r"), bytes("\nb\r"), new Uint8Array(0), bytes("\n.\r\n")]);
    assert.equal(r.content, "a\r\nb\r\n");
    assert.deepEqual(r.flaws, NO_FLAWS);
  });

  await t.step("flags a CR at the end of a chunk not followed by LF", () => {
    const r = run([bytes("a\r"), bytes("b\r\n.\r\n")]);
    assert.equal(r.endedAt, 1);
    assert.deepEqual(r.flaws, { bareCR: true, bareLF: false, nul: false });
  });

  await t.step("flags bare CR, bare LF and NUL inside lines", () => {
    assert.deepEqual(run([bytes("a\rb\r\n.\r\n")]).flaws, { ...NO_FLAWS, bareCR: true });
    assert.deepEqual(run([bytes("a\nb\r\n.\r\n")]).flaws, { ...NO_FLAWS, bareLF: true });
    assert.deepEqual(run([bytes("a\0b\r\n.\r\n")]).flaws, { ...NO_FLAWS, nul: true });
    assert.deepEqual(run([bytes("\0\r\n.\r\n")]).flaws, { ...NO_FLAWS, nul: true });
    assert.deepEqual(run([bytes("a\r\nb\0\r\n.\r\n")]).flaws, { ...NO_FLAWS, nul: true });
  });

  await t.step("CRLF. SP CRLF and CRLF..CRLF are content, not terminators nor flaws", () => {
    for (
      const [input, content] of [
        ["a\r\n. \r\nb\r\n.\r\n", "a\r\n \r\nb\r\n"],
        ["a\r\n..\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n"],
      ] as const
    ) {
      const b = bytes(input);
      for (const chunks of [[b], byteByByte(b)]) {
        const r = run(chunks);
        assert.equal(r.endedAt, chunks.length - 1, input);
        assert.equal(r.content, content, input);
        assert.equal(r.after, "", input);
        assert.deepEqual(r.flaws, NO_FLAWS, input);
      }
    }
  });

  await t.step("over the size limit: tooBig, no parts, size still counted, end found", () => {
    const r = run([bytes("0123456789"), bytes("ABCDEF\r\n"), bytes("..\r\n.\r\nQUIT\r\n")], 10);
    assert.equal(r.tooBig, true);
    assert.equal(r.content, "");
    assert.equal(r.size, 10 + 8 + 3);
    assert.equal(r.after, "QUIT\r\n");
    assert.equal(new DotReader(10).result().parts.length, 0);
  });

  await t.step("exactly at the size limit is not too big", () => {
    const reader = new DotReader(5);
    assert.deepEqual(reader.feed(bytes("abc\r\n.\r\n")), new Uint8Array(0));
    const r = reader.result();
    assert.equal(r.tooBig, false);
    assert.equal(r.size, 5);
    assert.equal(dec.decode(concat(r.parts)), "abc\r\n");
  });

  await t.step("the kept content does not alias the caller's buffer", () => {
    const buf = bytes("abc\r\n.\r\n");
    const reader = new DotReader(100);
    reader.feed(buf);
    buf.fill(0x5a);
    assert.equal(dec.decode(concat(reader.result().parts)), "abc\r\n");
  });
});

Deno.test("DotReader with the SMUGGLING.md variants as a fake end", async (t) => {
  for (const v of VARIANTS) {
    await t.step(`#${v.n} ${v.name}: ends only at the real terminator, flags it`, () => {
      const { input, terminatorEnd } = probe(v.bytes);
      const want = EXPECTED_FLAWS[v.n]!;
      const splits = [[input], byteByByte(input), ...twoWaySplits(input)];
      for (const chunks of splits) {
        const label = `variant ${v.n}, chunks ${chunks.map((c) => c.length).join("+")}`;
        const r = run(chunks);
        assert.equal(r.endedAt, chunkOf(chunks, terminatorEnd - 1), label);
        assert.equal(r.after, AFTER, label);
        assert.deepEqual(r.flaws, want, label);
        // The smuggled commands were read as content, not left for the command parser.
        assert.ok(r.content.startsWith(HEAD), label);
        assert.ok(r.content.endsWith(SMUGGLED), label);
        assert.equal(r.size, r.content.length, label);
      }
    });
  }
});

Deno.test("LineEndingScanner", async (t) => {
  const scanAll = (chunks: readonly Uint8Array[]): ContentFlaws => {
    const s = new LineEndingScanner();
    for (const c of chunks) s.scan(c);
    return { ...s.finish() };
  };

  await t.step("accepts clean CRLF content", () => {
    assert.deepEqual(scanAll([bytes("Subject: a\r\n\r\nbody\r\n")]), NO_FLAWS);
    assert.deepEqual(scanAll([]), NO_FLAWS);
    assert.deepEqual(scanAll([new Uint8Array(0)]), NO_FLAWS);
  });

  await t.step("accepts CR at the end of one chunk and LF at the start of the next", () => {
    assert.deepEqual(scanAll([bytes("a\r"), bytes("\nb\r\n")]), NO_FLAWS);
    assert.deepEqual(scanAll([bytes("a\r"), new Uint8Array(0), bytes("\n")]), NO_FLAWS);
    assert.deepEqual(scanAll(byteByByte(bytes("a\r\n\r\nb\r\n"))), NO_FLAWS);
  });

  await t.step("accepts clean content split at every boundary", () => {
    const b = bytes("x\r\n\r\n.\r\ny\r\n");
    for (const chunks of twoWaySplits(b)) assert.deepEqual(scanAll(chunks), NO_FLAWS);
  });

  await t.step("detects a bare CR inside a chunk", () => {
    assert.deepEqual(scanAll([bytes("a\rb\r\n")]), { ...NO_FLAWS, bareCR: true });
    assert.deepEqual(scanAll([bytes("\r\r\n")]), { ...NO_FLAWS, bareCR: true });
  });

  await t.step("detects a CR ending a chunk without LF after it", () => {
    assert.deepEqual(scanAll([bytes("a\r"), bytes("b\r\n")]), { ...NO_FLAWS, bareCR: true });
    assert.deepEqual(scanAll([bytes("a\r"), bytes("\r\n")]), { ...NO_FLAWS, bareCR: true });
  });

  await t.step("detects a bare LF inside a chunk and at the start of a chunk", () => {
    assert.deepEqual(scanAll([bytes("a\nb\r\n")]), { ...NO_FLAWS, bareLF: true });
    assert.deepEqual(scanAll([bytes("\nb\r\n")]), { ...NO_FLAWS, bareLF: true });
    assert.deepEqual(scanAll([bytes("a\r\n"), bytes("\n")]), { ...NO_FLAWS, bareLF: true });
    assert.deepEqual(scanAll([bytes("a\r\n\n")]), { ...NO_FLAWS, bareLF: true });
  });

  await t.step("detects NUL", () => {
    assert.deepEqual(scanAll([bytes("a\r\n"), bytes("\0\r\n")]), { ...NO_FLAWS, nul: true });
  });

  await t.step("a trailing CR is bare only once finish() is called", () => {
    const s = new LineEndingScanner();
    s.scan(bytes("a\r\nb\r"));
    assert.equal(s.flaws.bareCR, false);
    assert.deepEqual({ ...s.finish() }, { ...NO_FLAWS, bareCR: true });
  });

  await t.step("flags every SMUGGLING.md variant at every 2-way split", () => {
    for (const v of VARIANTS) {
      const input = concat([bytes(HEAD), v.bytes, bytes(SMUGGLED)]);
      for (const chunks of [byteByByte(input), ...twoWaySplits(input)]) {
        assert.deepEqual(scanAll(chunks), EXPECTED_FLAWS[v.n], `variant ${v.n}`);
      }
    }
  });
});
