import assert from "node:assert/strict";
import { CommandReader, literalAnnouncement, type ReaderEvent } from "./command_reader.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function feed(r: CommandReader, text: string | Uint8Array): void {
  r.push(typeof text === "string" ? enc.encode(text) : text);
}

/** Drain events; commands shown as their text, literals as "{n}"/"{n+}", too-long as "!". */
function drain(r: CommandReader, decide?: (e: ReaderEvent) => "accept" | "reject"): string[] {
  const out: string[] = [];
  for (let e = r.next(); e !== null; e = r.next()) {
    if (e.kind === "command") out.push(dec.decode(e.bytes));
    else if (e.kind === "too-long") out.push("!");
    else {
      out.push(`${e.binary ? "~" : ""}{${e.size}${e.nonSync ? "+" : ""}}`);
      if ((decide?.(e) ?? "accept") === "accept") r.accept();
      else r.reject();
    }
  }
  return out;
}

Deno.test("reader: pipelined commands split across chunks (imaptest pipeline)", () => {
  const r = new CommandReader();
  feed(r, "tag1 create a\r\ntag2 cre");
  assert.deepEqual(drain(r), ["tag1 create a\r\n"]);
  feed(r, "ate b\r");
  assert.deepEqual(drain(r), []);
  feed(r, "\ntag3 noop\r\n\r\ntag4 noop\n");
  assert.deepEqual(drain(r), ["tag2 create b\r\n", "tag3 noop\r\n", "tag4 noop\r\n"]);
});

Deno.test("reader: synchronizing literal, byte by byte, with a literal containing CRLF", () => {
  const r = new CommandReader();
  const text = "a LOGIN {4}\r\nu\r\nx {3}\r\np w\r\n";
  const seen: string[] = [];
  for (const b of enc.encode(text)) {
    r.push(new Uint8Array([b]));
    seen.push(...drain(r));
  }
  assert.deepEqual(seen, ["{4}", "{3}", "a LOGIN {4}\r\nu\r\nx {3}\r\np w\r\n"]);
});

Deno.test("reader: the literal event repeats until decided; zero-length literal", () => {
  const r = new CommandReader();
  feed(r, "a APPEND x {0+}\r\n\r\n");
  const e = r.next();
  assert.deepEqual(e, { kind: "literal", size: 0, nonSync: true, binary: false });
  assert.deepEqual(r.next(), e);
  r.accept();
  assert.deepEqual(drain(r), ["a APPEND x {0+}\r\n\r\n"]);
});

Deno.test("reader: MULTIAPPEND with literal8 and LITERAL+", () => {
  const r = new CommandReader();
  feed(r, "a APPEND box ~{3+}\r\n");
  feed(r, new Uint8Array([0, 0xff, 0x0a]));
  feed(r, " (\\Seen) {2+}\r\nhi\r\n");
  const out: Uint8Array[] = [];
  for (let e = r.next(); e !== null; e = r.next()) {
    if (e.kind === "literal") r.accept();
    if (e.kind === "command") out.push(e.bytes);
  }
  assert.equal(out.length, 1);
  assert.deepEqual(
    out[0],
    new Uint8Array([
      ...enc.encode("a APPEND box ~{3+}\r\n"),
      0,
      0xff,
      0x0a,
      ...enc.encode(" (\\Seen) {2+}\r\nhi\r\n"),
    ]),
  );
});

Deno.test("reader: rejected synchronizing literal resynchronises at the next line", () => {
  const r = new CommandReader();
  feed(r, "a APPEND x {4294967296}\r\nb NOOP\r\n");
  const out = drain(r, (e) => {
    assert.equal(e.kind === "literal" && e.size, 4294967296);
    return "reject";
  });
  assert.deepEqual(out, ["{4294967296}", "b NOOP\r\n"]);
});

Deno.test("reader: rejected non-synchronizing literal is skipped, with the rest of its line", () => {
  const r = new CommandReader();
  feed(r, "a APPEND x {10+}\r\n0123");
  assert.deepEqual(drain(r, () => "reject"), ["{10+}"]);
  // the rest of the literal, then the rest of the line carrying another non-sync literal
  feed(r, "456789 {3+}\r\nabc\r\nb NOOP\r\n");
  assert.deepEqual(drain(r), ["b NOOP\r\n"]);
  assert.equal(r.buffered, 0);
});

Deno.test("reader: huge announcements are reported, not allocated", () => {
  const r = new CommandReader();
  feed(r, "a APPEND x {99999999999999999999999}\r\n");
  const e = r.next();
  assert.ok(e?.kind === "literal" && e.size === Infinity);
  assert.throws(() => r.accept(), Error);
  r.reject();
  feed(r, "b NOOP\r\n");
  assert.deepEqual(drain(r), ["b NOOP\r\n"]);
});

Deno.test("reader: 200 KB line is too long, reported before its end, then resynchronised", () => {
  const r = new CommandReader({ maxLineLength: 8192 });
  feed(r, "a NOOP " + "x".repeat(100_000));
  assert.deepEqual(drain(r), ["!"]);
  assert.equal(r.buffered, 0, "nothing buffered while discarding");
  feed(r, "y".repeat(100_000) + "\r\nb NOOP\r\n");
  assert.deepEqual(drain(r), ["b NOOP\r\n"]);
});

Deno.test("reader: a too-long line ending in a non-sync literal skips that literal", () => {
  const r = new CommandReader({ maxLineLength: 100 });
  feed(r, "a APPEND " + "x".repeat(200) + " {5+}\r\nHELLO\r\nb NOOP\r\n");
  assert.deepEqual(drain(r), ["!", "b NOOP\r\n"]);
});

Deno.test("reader: the command text limit spans lines joined by literals", () => {
  const r = new CommandReader({ maxLineLength: 30 });
  feed(r, "a LOGIN {5}\r\n");
  assert.deepEqual(drain(r), ["{5}"]);
  feed(r, "abcde " + "p".repeat(25) + "\r\nb NOOP\r\n");
  assert.deepEqual(drain(r), ["!", "b NOOP\r\n"]);
});

Deno.test("reader: 31 KB ID line (imaptest id) fits the default limit", () => {
  const r = new CommandReader();
  const line = "a ID (" + '"k" "' + "v".repeat(31_000) + '")\r\n';
  feed(r, line);
  assert.deepEqual(drain(r), [line]);
});

Deno.test("reader: {n} inside an unterminated quoted string is not a literal", () => {
  assert.equal(literalAnnouncement(enc.encode('a LOGIN "x {3}')), null);
  assert.equal(literalAnnouncement(enc.encode('a LOGIN "x\\" {3}')), null);
  assert.ok(literalAnnouncement(enc.encode('a LOGIN "x\\\\" {3}')));
  assert.equal(literalAnnouncement(enc.encode("a LOGIN {}")), null);
  assert.equal(literalAnnouncement(enc.encode("a LOGIN {+}")), null);
  const r = new CommandReader();
  feed(r, 'a LOGIN "x {3}\r\n');
  assert.deepEqual(drain(r), ['a LOGIN "x {3}\r\n']);
});

Deno.test("reader: raw lines for IDLE DONE and AUTHENTICATE", () => {
  const r = new CommandReader({ maxLineLength: 50 });
  feed(r, "a IDLE\r\nDONE\r\n" + "z".repeat(80) + "\r\ndGVzdA==\r\nb NOOP\r\n");
  const idle = r.next();
  assert.ok(idle?.kind === "command" && dec.decode(idle.bytes) === "a IDLE\r\n");
  const l1 = r.nextLine();
  assert.ok(l1?.kind === "line" && dec.decode(l1.bytes) === "DONE");
  assert.deepEqual(r.nextLine(), { kind: "too-long" });
  const l3 = r.nextLine();
  assert.ok(l3?.kind === "line" && dec.decode(l3.bytes) === "dGVzdA==");
  assert.deepEqual(drain(r), ["b NOOP\r\n"]);
  assert.equal(r.nextLine(), null);
});

Deno.test("reader: nextLine in the middle of a command is a programming error", () => {
  const r = new CommandReader();
  feed(r, "a LOGIN {3}\r\n");
  r.next();
  assert.throws(() => r.nextLine(), Error);
});
