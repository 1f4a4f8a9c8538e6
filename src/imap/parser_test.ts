import assert from "node:assert/strict";
import { type Command, parseCommand, ParseError } from "./parser.ts";

const enc = new TextEncoder();
const cmd = (s: string | Uint8Array): Command =>
  parseCommand(typeof s === "string" ? enc.encode(s + "\r\n") : s);

function bad(s: string | Uint8Array, why?: RegExp, tag?: string): void {
  assert.throws(() => cmd(s), (e: unknown) => {
    assert.ok(e instanceof ParseError, `expected ParseError, got ${e}`);
    if (why) assert.match(e.message, why);
    if (tag !== undefined) assert.equal(e.tag, tag);
    assert.ok(!/[\r\n]/.test(e.message));
    return true;
  });
}

Deno.test("parser: simple commands, tags and case", () => {
  assert.deepEqual(cmd("a1 noop"), { tag: "a1", name: "NOOP" });
  assert.deepEqual(cmd("x.y CaPaBiLiTy"), { tag: "x.y", name: "CAPABILITY" });
  bad("a1 noop extra", /Extra/, "a1");
  bad("+ noop");
  bad("a1 frobnicate", /Unknown command/, "a1");
  bad("a1 uid noop", /Invalid UID/, "a1");
});

Deno.test("parser: LOGIN with quoted escapes and a literal; atoms NIL and ~foo (imaptest atoms, nil)", () => {
  assert.deepEqual(cmd('a login "us\\"er" {4}\r\np\r\ns'), {
    tag: "a",
    name: "LOGIN",
    user: 'us"er',
    password: "p\r\ns",
  });
  const l = cmd('a list "" NIL');
  assert.ok(l.name === "LIST" && l.patterns[0] === "NIL" && !l.extended);
  const t = cmd('a list "" ~foo');
  assert.ok(t.name === "LIST" && t.patterns[0] === "~foo");
  const s = cmd("a select !#$&'+,-.0123456789:;<=>?@^_`|[}");
  assert.ok(s.name === "SELECT" && s.mailbox === "!#$&'+,-.0123456789:;<=>?@^_`|[}");
  const w = cmd('a list "" !#$&\'+,-.0123456789:;<=>?@^_`|[}%*');
  assert.ok(w.name === "LIST" && w.patterns[0]!.endsWith("[}%*"));
  const i = cmd("a select inBox");
  assert.ok(i.name === "SELECT" && i.mailbox === "INBOX");
});

Deno.test("parser: hostile strings and atoms are ParseErrors", () => {
  bad('a login "unterminated', /Unterminated/);
  bad('a login "a\\x" b', /escape/);
  bad(new Uint8Array([...enc.encode('a login "a'), 0, ...enc.encode('" b\r\n')]), /NUL/);
  bad(new Uint8Array([...enc.encode("a select caf"), 0xc3, 0xa9, 13, 10]), /8-bit/);
  bad(new Uint8Array([...enc.encode("a select x"), 0, 13, 10]), /Control/);
  bad("a login {4294967296}\r\nx y", /out of range/);
  bad("a login {10}\r\nshort", /missing/);
  bad(new Uint8Array([...enc.encode("a login {1}\r\n"), 0, ...enc.encode(" p\r\n")]), /NUL/);
  bad("a login", /Missing argument/);
  bad(new Uint8Array([...enc.encode('a login "'), 0xff, 0xfe, ...enc.encode('" x\r\n')]), /UTF-8/);
  bad("a select " + "(".repeat(10_000), undefined);
  bad("a select x" + "y".repeat(200_000) + " z", /parameter list/);
});

Deno.test("parser: LIST-EXTENDED and LIST-STATUS (RFC 5258, RFC 5819; imaptest listext)", () => {
  const l = cmd(
    'a list (subscribed recursivematch) "" ("a/*2" a/test3) return (children status (messages unseen))',
  );
  assert.ok(l.name === "LIST");
  assert.deepEqual(l.patterns, ["a/*2", "a/test3"]);
  assert.deepEqual(l.select, {
    subscribed: true,
    remote: false,
    recursiveMatch: true,
    specialUse: false,
  });
  assert.deepEqual(l.returns, {
    subscribed: false,
    children: true,
    specialUse: false,
    status: ["MESSAGES", "UNSEEN"],
  });
  assert.ok(l.extended);
  bad('a list (imaptest) "" ""', /selection option/);
  bad('a list (recursivematch) "" ""', /RECURSIVEMATCH/);
  bad('a list (recursivematch remote) "" ""', /RECURSIVEMATCH/);
  bad('a list "" "" return (imaptest)', /return option/);
  const r = cmd('a list (remote) "" %');
  assert.ok(r.name === "LIST" && r.select.remote);
});

Deno.test("parser: STATUS, LSUB, RENAME, SELECT params, ENABLE, ID", () => {
  const s = cmd('a status "p&AOQA5A-" (messages UIDNEXT size)');
  assert.deepEqual(s, {
    tag: "a",
    name: "STATUS",
    mailbox: "p&AOQA5A-",
    items: ["MESSAGES", "UIDNEXT", "SIZE"],
  });
  bad("a status x ()", /Empty/);
  bad("a status x (bogus)", /status item/);
  assert.deepEqual(cmd('a lsub "" *'), { tag: "a", name: "LSUB", reference: "", pattern: "*" });
  assert.deepEqual(cmd("a rename a b"), { tag: "a", name: "RENAME", from: "a", to: "b" });
  const sel = cmd("a select x (CONDSTORE QRESYNC (1 2))");
  assert.ok(sel.name === "SELECT");
  assert.deepEqual(sel.params, [{ name: "CONDSTORE" }, { name: "QRESYNC", value: ["1", "2"] }]);
  assert.deepEqual(cmd("a enable utf8=accept condstore"), {
    tag: "a",
    name: "ENABLE",
    capabilities: ["UTF8=ACCEPT", "CONDSTORE"],
  });
  assert.deepEqual(cmd('a id ("name" "x" "version" NIL)'), {
    tag: "a",
    name: "ID",
    params: [["name", "x"], ["version", null]],
  });
  assert.deepEqual(cmd("a id nil"), { tag: "a", name: "ID", params: null });
  const au = cmd("a authenticate plain dGVzdA==");
  assert.deepEqual(au, { tag: "a", name: "AUTHENTICATE", mechanism: "PLAIN", initial: "dGVzdA==" });
});

Deno.test("parser: APPEND with flags, date-time, literal8; MULTIAPPEND (RFC 3502)", () => {
  const one = cmd('a append box (\\seen $x) " 5-Feb-2007 01:02:03 +0200" {5}\r\nhello');
  assert.ok(one.name === "APPEND" && one.messages.length === 1);
  const m = one.messages[0]!;
  assert.deepEqual(m.flags, ["\\Seen", "$x"]);
  assert.equal(m.date?.date.toISOString(), "2007-02-04T23:02:03.000Z");
  assert.equal(m.date?.zoneMinutes, 120);
  assert.equal(new TextDecoder().decode(m.data), "hello");
  const multi = cmd("a append box {3}\r\none ~{3}\r\n\0\x01z (\\draft) {0}\r\n");
  assert.ok(multi.name === "APPEND");
  assert.equal(multi.messages.length, 3);
  assert.ok(multi.messages[1]!.binary);
  bad("a append box (\\recent) {1}\r\nx", /system flag/);
  bad('a append box "31-Feb-2007 01:02:03 +0000" {1}\r\nx', /Invalid date/);
  bad("a append box catenate (text {1}\r\nx)", /not supported/);
  bad("a append box {3}\r\n\0ab", /NUL/);
});

Deno.test("parser: STORE forms (RFC 3501 §6.4.6; imaptest store, nil)", () => {
  assert.deepEqual(cmd("a store 2,4 +flags ($hello $world)"), {
    tag: "a",
    name: "STORE",
    uid: false,
    set: { kind: "set", ranges: [{ start: 2, end: 2 }, { start: 4, end: 4 }] },
    op: "add",
    silent: false,
    flags: ["$hello", "$world"],
  });
  const s = cmd("a uid store 1:* -FLAGS.SILENT \\Seen \\Deleted");
  assert.ok(s.name === "STORE" && s.uid && s.silent && s.op === "remove");
  assert.deepEqual(s.flags, ["\\Seen", "\\Deleted"]);
  const n = cmd("a store 1 +flags NIL");
  assert.ok(n.name === "STORE" && n.flags[0] === "NIL");
  const u = cmd("a store 1 (unchangedsince 12) flags ()");
  assert.ok(u.name === "STORE" && u.unchangedSince === 12 && u.op === "replace");
  bad("a store 1 +label x", /FLAGS/);
  bad("a store 0 flags x", /sequence/);
});

Deno.test("parser: FETCH, COPY, MOVE, UID EXPUNGE", () => {
  const f = cmd("a uid fetch 1:* (uid flags) (changedsince 5)");
  assert.ok(f.name === "FETCH" && f.uid && f.modifiers.changedSince === 5);
  assert.deepEqual(f.atts, [{ kind: "UID" }, { kind: "FLAGS" }]);
  const c = cmd("a uid move 1,* Trash");
  assert.ok(c.name === "MOVE" && c.uid && c.mailbox === "Trash");
  const e = cmd("a uid expunge 3:5");
  assert.ok(e.name === "EXPUNGE" && e.uid && e.set?.kind === "set");
  bad("a fetch 1:* bogus", /Unknown FETCH/);
});

Deno.test("parser: deep parameter nesting and mutated commands only ever raise ParseError", () => {
  bad("a select x " + "(".repeat(5000) + ")".repeat(5000), /nested/);
  const seeds = [
    'a append box (\\seen) "05-Feb-2007 01:02:03 +0200" {5}\r\nhello',
    "a uid fetch 1:*,3 (body.peek[1.header.fields (a b)]<0.5> flags) (changedsince 1)",
    'a list (subscribed) "" ("a" b%) return (status (messages))',
    'a uid search return (min) charset utf-8 or (uid 1:3 not seen) header x "y" 2,*',
    "a store 1 (unchangedsince 3) -flags.silent (\\seen $k)",
    'a id ("k" "v") ',
  ];
  let rnd = 12345;
  const next = () => (rnd = (rnd * 1103515245 + 12345) & 0x7fffffff);
  for (const seed of seeds) {
    const base = enc.encode(seed + "\r\n");
    for (let i = 0; i < 2000; i++) {
      const b = base.slice();
      for (let k = 0; k < 1 + (next() % 3); k++) b[next() % b.length] = next() % 256;
      const cut = next() % 4 === 0 ? b.subarray(0, next() % b.length) : b;
      try {
        parseCommand(cut);
      } catch (e) {
        if (!(e instanceof ParseError)) {
          throw new Error(`${e} for ${JSON.stringify(new TextDecoder().decode(cut))}`);
        }
      }
    }
  }
});
