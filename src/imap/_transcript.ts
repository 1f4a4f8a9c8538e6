/**
 * Test helpers for the IMAP session: a client that feeds lines through a real CommandReader
 * (so literals, continuations and IDLE lines go the way the transport will send them) and
 * {@link runScript}, which checks a transcript of `C: ` (client) and `S: ` (server) lines
 * exactly: consecutive client lines are sent together, and the server lines that follow must
 * be exactly what the session answered, line by line.
 *
 * @module
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { AuthGuard } from "../auth/guard.ts";
import { CommandReader } from "./command_reader.ts";
import { MemoryMail } from "./_memory_store.ts";
import { ImapSession, type ImapSessionOptions, type SessionOutput } from "./session.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The password of every test account is "secret"; user "alice" is alice@example.org. */
export function testOptions(
  mail: MemoryMail,
  extra: Partial<ImapSessionOptions> = {},
): ImapSessionOptions {
  return {
    peer: { address: "192.0.2.1" },
    tls: true,
    tlsAvailable: true,
    checkCredentials: (user, password) =>
      Promise.resolve(password === "secret" && ["alice", "bob"].includes(user) ? user : undefined),
    openAccount: (account) => Promise.resolve(mail.account(account)),
    maxMessageBytes: 10_000,
    sleep: () => Promise.resolve(),
    ...extra,
  };
}

/** A guard with small limits (3 per account, 5 per IP, 100 ms base delay). */
export function testGuard(): AuthGuard {
  return new AuthGuard(
    {
      maxFailuresPerIp: 5,
      maxFailuresPerAccount: 3,
      failureWindowSeconds: 600,
      failureDelayMs: 100,
    } as ConstructorParameters<typeof AuthGuard>[0],
  );
}

/** A client connection to a session: bytes in through a CommandReader, text out. */
export class TestClient {
  readonly session: ImapSession;
  readonly reader = new CommandReader({ maxLineLength: 65536 });
  readonly actions: string[] = [];
  closed = false;

  constructor(session: ImapSession) {
    this.session = session;
  }

  #collect(out: SessionOutput, into: string[]): void {
    for (const c of out.chunks) into.push(dec.decode(c));
    for (const a of out.actions) {
      this.actions.push(a.kind);
      if (a.kind === "close") this.closed = true;
      if (a.kind === "starttls") this.session.tlsStarted();
    }
  }

  /** Send raw text; returns everything the session answered. */
  async send(text: string | Uint8Array): Promise<string> {
    const out: string[] = [];
    this.reader.push(typeof text === "string" ? enc.encode(text) : text);
    while (!this.closed) {
      if (this.session.wantsLine) {
        const ev = this.reader.nextLine();
        if (!ev) break;
        if (ev.kind === "too-long") this.#collect(this.session.tooLong(), out);
        else this.#collect(await this.session.line(ev.bytes), out);
        continue;
      }
      const ev = this.reader.next();
      if (!ev) break;
      if (ev.kind === "too-long") this.#collect(this.session.tooLong(), out);
      else if (ev.kind === "literal") {
        const d = this.session.literalAllowed(ev.size, this.reader.pendingPrefix(), ev.nonSync);
        this.#collect(d, out);
        if (d.accept) this.reader.accept();
        else this.reader.reject();
      } else this.#collect(await this.session.command(ev.bytes), out);
    }
    return out.join("");
  }

  /** Send one line (CRLF added); the answer split into lines. */
  async lines(line: string): Promise<string[]> {
    return splitLines(await this.send(line + "\r\n"));
  }
}

/** Split session output into lines without their CRLF. */
export function splitLines(text: string): string[] {
  const lines = text.split("\r\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** A logged-in client (greeting and LOGIN checked). */
export async function loggedIn(
  mail: MemoryMail,
  user = "alice",
  extra: Partial<ImapSessionOptions> = {},
): Promise<TestClient> {
  const c = new TestClient(new ImapSession(testOptions(mail, extra)));
  c.session.greeting();
  const out = await c.lines(`L1 LOGIN ${user} secret`);
  assertEquals(out[out.length - 1]?.startsWith("L1 OK [CAPABILITY "), true, out.join("\n"));
  return c;
}

/**
 * Check a transcript: `C: ` lines are sent (consecutive ones together, joined by CRLF), the
 * `S: ` lines after them must equal the answer exactly. A trailing `S: ...` entry that is
 * exactly `S: *` accepts any remaining output of that step.
 */
export async function runScript(client: TestClient, script: readonly string[]): Promise<void> {
  let i = 0;
  while (i < script.length) {
    const sent: string[] = [];
    while (i < script.length && script[i]!.startsWith("C: ")) sent.push(script[i++]!.slice(3));
    const expected: string[] = [];
    while (i < script.length && script[i]!.startsWith("S: ")) expected.push(script[i++]!.slice(3));
    if (i < script.length && !script[i]!.startsWith("C: ")) {
      throw new Error(`bad script line: ${script[i]}`);
    }
    const got = splitLines(await client.send(sent.map((s) => s + "\r\n").join("")));
    if (expected[expected.length - 1] === "*") {
      expected.pop();
      assertEquals(got.slice(0, expected.length), expected, `after ${sent.join(" | ")}`);
    } else {
      assertEquals(got, expected, `after ${sent.join(" | ")}`);
    }
  }
}

/** Fresh accounts. */
export function newMail(): MemoryMail {
  return new MemoryMail();
}

/** A small message with CRLF line ends. */
export function message(subject: string, body = "Hello.\r\n", extra = ""): string {
  return `From: Ann <ann@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: ${subject}\r\n` +
    `Date: Tue, 02 Jan 2024 03:04:05 +0000\r\nMessage-ID: <${subject.replace(/\W/g, "")}@x>\r\n` +
    `${extra}\r\n${body}`;
}

/** APPEND a message with a LITERAL+ literal; returns the answer lines. */
export function append(c: TestClient, box: string, msg: string, flags = ""): Promise<string[]> {
  const f = flags ? ` (${flags})` : "";
  return c.send(`A ${"APPEND"} ${box}${f} {${enc.encode(msg).length}+}\r\n${msg}\r\n`).then(
    splitLines,
  );
}
