/**
 * Tests of session_auth.ts: LOGIN / AUTHENTICATE only over TLS (also from loopback),
 * STARTTLS, SASL PLAIN with and without SASL-IR, cancel, the guard's delay and lockout.
 *
 * @module
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ImapSession } from "./session.ts";
import { newMail, runScript, TestClient, testGuard, testOptions } from "./_transcript.ts";

const b64 = (s: string) => btoa(s);

Deno.test("LOGIN and AUTHENTICATE before TLS are NO [PRIVACYREQUIRED], even from loopback", async () => {
  const c = new TestClient(
    new ImapSession(testOptions(newMail(), { tls: false, peer: { address: "127.0.0.1" } })),
  );
  await runScript(c, [
    "C: a1 LOGIN alice secret",
    "S: a1 NO [PRIVACYREQUIRED] Login is only allowed over TLS (use STARTTLS)",
    `C: a2 AUTHENTICATE PLAIN ${b64("\0alice\0secret")}`,
    "S: a2 NO [PRIVACYREQUIRED] Login is only allowed over TLS (use STARTTLS)",
  ]);
  assertEquals(c.session.state, "notauth");
});

Deno.test("STARTTLS then LOGIN; a second STARTTLS is BAD", async () => {
  const c = new TestClient(new ImapSession(testOptions(newMail(), { tls: false })));
  await runScript(c, [
    "C: a1 STARTTLS",
    "S: a1 OK Begin TLS negotiation now",
  ]);
  assertEquals(c.actions, ["starttls"]); // the client helper then calls tlsStarted()
  await runScript(c, [
    "C: a2 STARTTLS",
    "S: a2 BAD TLS is already active",
    "C: a3 LOGIN alice secret",
    "S: *",
  ]);
  assertEquals(c.session.state, "auth");
});

Deno.test("AUTHENTICATE PLAIN with SASL-IR, and with a continuation", async () => {
  const c = new TestClient(new ImapSession(testOptions(newMail())));
  const out = await c.lines(`a1 AUTHENTICATE PLAIN ${b64("\0alice\0secret")}`);
  assertEquals(out[0]!.startsWith("a1 OK [CAPABILITY IMAP4rev1 "), true);
  const d = new TestClient(new ImapSession(testOptions(newMail())));
  await runScript(d, [
    "C: a1 AUTHENTICATE PLAIN",
    "S: + ",
    "C: *",
    "S: a1 BAD Authentication cancelled",
    "C: a2 AUTHENTICATE PLAIN",
    "S: + ",
    `C: ${b64("alice\0alice\0secret")}`,
    "S: *",
  ]);
  assertEquals(d.session.state, "auth");
  const e = new TestClient(new ImapSession(testOptions(newMail())));
  await runScript(e, [
    "C: a1 AUTHENTICATE PLAIN",
    "S: + ",
    "C: %%%",
    "S: a1 BAD Invalid base64 in the SASL response",
    `C: a2 AUTHENTICATE PLAIN ${b64("bob\0alice\0secret")}`,
    "S: a2 NO [AUTHORIZATIONFAILED] Acting as another user is not allowed",
    "C: a3 AUTHENTICATE CRAM-MD5",
    "S: a3 NO Unsupported authentication mechanism",
  ]);
});

Deno.test("wrong passwords: doubling delay, AUTHENTICATIONFAILED, then lockout", async () => {
  const delays: number[] = [];
  const guard = testGuard();
  const mail = newMail();
  const opts = testOptions(mail, {
    guard,
    maxAuthFailures: 10,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  });
  const c = new TestClient(new ImapSession(opts));
  await runScript(c, [
    "C: a1 LOGIN alice wrong",
    "S: a1 NO [AUTHENTICATIONFAILED] Invalid credentials",
    "C: a2 LOGIN alice wrong",
    "S: a2 NO [AUTHENTICATIONFAILED] Invalid credentials",
    "C: a3 LOGIN alice wrong",
    "S: a3 NO [AUTHENTICATIONFAILED] Invalid credentials",
  ]);
  assertEquals(delays, [100, 200, 400]);
  // The account is now blocked: even the right password is refused unchecked.
  await runScript(c, [
    "C: a4 LOGIN alice secret",
    "S: a4 NO [UNAVAILABLE] Too many failed logins, try again later",
    "S: * BYE Too many failed logins",
  ]);
  assertEquals(c.closed, true);
});

Deno.test("a connection is closed after maxAuthFailures failures", async () => {
  const c = new TestClient(new ImapSession(testOptions(newMail(), { maxAuthFailures: 2 })));
  await runScript(c, [
    "C: a1 LOGIN alice x",
    "S: a1 NO [AUTHENTICATIONFAILED] Invalid credentials",
    "C: a2 LOGIN nobody x",
    "S: a2 NO [AUTHENTICATIONFAILED] Invalid credentials",
    "S: * BYE Too many failed logins",
  ]);
  assertEquals(c.closed, true);
});
