/**
 * Tests of the session core: greeting, CAPABILITY, state checks, BAD handling, literal
 * limits, LOGOUT, autologout, ENABLE, ID, NAMESPACE.
 *
 * @module
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ImapSession } from "./session.ts";
import {
  loggedIn,
  newMail,
  runScript,
  splitLines,
  TestClient,
  testOptions,
} from "./_transcript.ts";

const CAPS_TAIL = "UIDPLUS MOVE NAMESPACE SPECIAL-USE UNSELECT APPENDLIMIT=10000 CHILDREN " +
  "LIST-EXTENDED LIST-STATUS STATUS=SIZE ESEARCH UTF8=ACCEPT MULTIAPPEND";

Deno.test("greeting and CAPABILITY before TLS: STARTTLS, LOGINDISABLED, no AUTH=", async () => {
  const s = new ImapSession(testOptions(newMail(), { tls: false }));
  const g = splitLines(new TextDecoder().decode(s.greeting().chunks[0]));
  assertEquals(g, [
    `* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS LOGINDISABLED ${CAPS_TAIL}] postie ready`,
  ]);
  await runScript(new TestClient(s), [
    "C: a1 CAPABILITY",
    `S: * CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS LOGINDISABLED ${CAPS_TAIL}`,
    "S: a1 OK CAPABILITY completed",
  ]);
});

Deno.test("CAPABILITY over TLS offers AUTH=PLAIN; after login no AUTH=", async () => {
  const c = new TestClient(new ImapSession(testOptions(newMail())));
  await runScript(c, [
    "C: a1 CAPABILITY",
    `S: * CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE AUTH=PLAIN ${CAPS_TAIL}`,
    "S: a1 OK CAPABILITY completed",
    "C: a2 LOGIN alice secret",
    `S: a2 OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE ${CAPS_TAIL}] Logged in`,
  ]);
});

Deno.test("malformed and unknown commands are BAD with the tag, or * without one", async () => {
  const c = await loggedIn(newMail());
  await runScript(c, [
    "C: a1 FROBNICATE",
    "S: a1 BAD Unknown command FROBNICATE",
    "C: (",
    "S: * BAD Expected a tag",
  ]);
  const out = await c.lines("a2 FETCH");
  assertEquals(out.length, 1);
  assertEquals(out[0]!.startsWith("a2 BAD "), true);
});

Deno.test("commands in the wrong state are BAD", async () => {
  const c = new TestClient(new ImapSession(testOptions(newMail())));
  await runScript(c, [
    "C: a1 FETCH 1 FLAGS",
    "S: a1 BAD FETCH is not valid in this state",
    "C: a2 SELECT INBOX",
    "S: a2 BAD SELECT is not valid in this state",
    "C: a3 LOGIN alice secret",
    "S: *",
    "C: a4 FETCH 1 FLAGS",
    "S: a4 BAD FETCH is not valid in this state",
    "C: a5 LOGIN alice secret",
    "S: a5 BAD LOGIN is not valid in this state",
    "C: a6 CLOSE",
    "S: a6 BAD CLOSE is not valid in this state",
  ]);
});

Deno.test("too many BAD commands end the session with BYE", async () => {
  const c = new TestClient(new ImapSession(testOptions(newMail(), { maxBadCommands: 3 })));
  await runScript(c, [
    "C: a1 X",
    "S: a1 BAD Unknown command X",
    "C: a2 X",
    "S: a2 BAD Unknown command X",
    "C: a3 X",
    "S: a3 BAD Unknown command X",
    "S: * BYE Too many invalid commands",
  ]);
  assertEquals(c.closed, true);
});

Deno.test("a literal over APPENDLIMIT is NO [TOOBIG] before any continuation", async () => {
  const c = await loggedIn(newMail());
  await runScript(c, [
    "C: a1 APPEND INBOX {10001}",
    "S: a1 NO [TOOBIG] Literal larger than 10000 octets",
    "C: a2 NOOP",
    "S: a2 OK NOOP completed",
  ]);
  // A non-synchronizing one is skipped by the reader after the NO.
  const big = "x".repeat(10001);
  assertEquals(splitLines(await c.send(`a3 APPEND INBOX {10001+}\r\n${big}\r\na4 NOOP\r\n`)), [
    "a3 NO [TOOBIG] Literal larger than 10000 octets",
    "a4 OK NOOP completed",
  ]);
  // Other commands have the smaller general literal limit.
  assertEquals(await c.lines("a5 LOGIN {70000}"), [
    "a5 NO [TOOBIG] Literal larger than 65536 octets",
  ]);
});

Deno.test("a synchronizing literal gets + OK", async () => {
  const c = new TestClient(new ImapSession(testOptions(newMail())));
  await runScript(c, [
    "C: a1 LOGIN {5}",
    "S: + OK",
    "C: alice secret",
    "S: *",
  ]);
  assertEquals(c.session.state, "auth");
});

Deno.test("LOGOUT: BYE, OK, close", async () => {
  const c = await loggedIn(newMail());
  await runScript(c, [
    "C: a1 LOGOUT",
    "S: * BYE Logging out",
    "S: a1 OK LOGOUT completed",
  ]);
  assertEquals(c.closed, true);
  assertEquals(c.session.state, "logout");
});

Deno.test("autologout timer values and BYE", async () => {
  const s = new ImapSession(
    testOptions(newMail(), { preauthTimeoutMs: 1000, autologoutMs: 1800_000 }),
  );
  assertEquals(s.timeoutMs, 1000);
  const c = new TestClient(s);
  await c.lines("a LOGIN alice secret");
  assertEquals(s.timeoutMs, 1800_000);
  const out = s.timedOut();
  assertEquals(new TextDecoder().decode(out.chunks[0]), "* BYE Autologout; idle for too long\r\n");
  assertEquals(out.actions, [{ kind: "close" }]);
});

Deno.test("ENABLE UTF8=ACCEPT, ID, NAMESPACE, NOOP", async () => {
  const c = await loggedIn(newMail());
  await runScript(c, [
    "C: a1 ID NIL",
    'S: * ID ("name" "postie")',
    "S: a1 OK ID completed",
    "C: a2 NAMESPACE",
    'S: * NAMESPACE (("" ".")) NIL NIL',
    "S: a2 OK NAMESPACE completed",
    "C: a3 ENABLE UTF8=ACCEPT CONDSTORE",
    "S: * ENABLED UTF8=ACCEPT",
    "S: a3 OK ENABLE completed",
    "C: a4 ENABLE UTF8=ACCEPT",
    "S: * ENABLED",
    "S: a4 OK ENABLE completed",
    'C: a5 CREATE "Entwürfe"',
    "S: a5 OK CREATE completed",
    'C: a6 LIST "" "Entw*"',
    'S: * LIST () "." "Entwürfe"',
    "S: a6 OK LIST completed",
  ]);
});

Deno.test("imaptest id: long ID parameters are accepted", async () => {
  const c = new TestClient(new ImapSession(testOptions(newMail())));
  const params = Array.from({ length: 30 }, (_, i) => `"k${i}" "${"1234567890".repeat(102)}"`);
  assertEquals(await c.lines(`a1 ID (${params.join(" ")})`), [
    '* ID ("name" "postie")',
    "a1 OK ID completed",
  ]);
});
