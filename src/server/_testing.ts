/**
 * Helpers for the session unit tests: a session with a local configuration and a collecting
 * sink, and transcripts of client lines and the reply each must get ("C: line" /
 * "S: code enhanced"). Test-only; private to src/server.
 *
 * @module
 */
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { validateConfig } from "../config/config.ts";
import { Router } from "../delivery/router.ts";
import type { MailboxRef } from "../delivery/maildir.ts";
import { DotReader } from "../smtp/data.ts";
import { type Action, Session } from "./session.ts";
import type { SessionOptions } from "./session_options.ts";

/** A message handed to the test sink. */
export interface Delivered {
  boxes: string[];
  header: string;
  content: string;
}

/**
 * A session on the smtp listener of mx.example.test (local domains example.test and
 * other.test, with aliases and a catch-all), its accepted messages collected in `delivered`.
 */
export function setup(
  overrides: Partial<SessionOptions> = {},
  configDoc: Record<string, unknown> = {},
) {
  const config = validateConfig(
    {
      hostname: "mx.example.test",
      domains: ["example.test", "other.test"],
      aliases: {
        "team@example.test": ["alice@example.test", "bob@example.test"],
        "info@example.test": "team@example.test",
        "@other.test": "bob@example.test",
        "ghost@example.test": "nobody@example.test",
      },
      limits: { max_recipients: 3, max_errors: 100, max_message_bytes: 1024 },
      ...configDoc,
    },
    "(test)",
    "/tmp",
  );
  const accounts = new Map(
    ["alice@example.test", "bob@example.test"].map((a) => {
      const [local, domain] = a.split("@") as [string, string];
      return [a, { address: a, local, domain }];
    }),
  );
  const delivered: Delivered[] = [];
  const session = new Session({
    id: "test",
    listener: "smtp",
    config,
    peer: { address: "192.0.2.7", port: 4000 },
    router: new Router(config, { get: (a) => accounts.get(a) }),
    sink: {
      deliver(boxes: readonly MailboxRef[], headerFor, content) {
        const text = new TextDecoder().decode(
          new Uint8Array(content.flatMap((p) => [...p])),
        );
        delivered.push({
          boxes: boxes.map((b) => b.address).sort(),
          header: headerFor(boxes[0]!),
          content: text,
        });
        return Promise.resolve();
      },
    },
    log: getLogger(["postie-test"]),
    tlsAvailable: true,
    now: () => new Date(Date.UTC(2026, 10, 29, 12, 0, 0)),
    ...overrides,
  });
  return { session, delivered };
}

const enc = new TextEncoder();

/** Send one command line. */
export async function run(session: Session, line: string): Promise<Action> {
  return await session.command(enc.encode(line));
}

/** Run "C: ..." lines, checking each reply against the following "S: ..." line. */
export async function transcript(session: Session, script: string): Promise<void> {
  const lines = script.trim().split("\n").map((l) => l.trim());
  for (let i = 0; i < lines.length; i += 2) {
    const c = lines[i]!;
    const s = lines[i + 1]!;
    assert.ok(c.startsWith("C: ") && s.startsWith("S: "), `bad transcript at ${c}`);
    const action = await run(session, c.slice(3));
    const reply = action.kind === "bdat" ? undefined : action.reply;
    const got = reply ? `${reply.code}${reply.enhanced ? " " + reply.enhanced : ""}` : "bdat";
    assert.equal(got, s.slice(3), `after "${c.slice(3)}": ${JSON.stringify(reply)}`);
  }
}

/** Hand `body` (ending in CRLF.CRLF) to the session as read DATA content. */
export async function data(session: Session, body: string) {
  const reader = new DotReader(1024);
  const rest = reader.feed(enc.encode(body));
  assert.ok(rest !== undefined, "terminator not found");
  return await session.dataEnd(reader.result());
}

/** How far {@link openTransaction} goes. */
export type Opening = "MAIL" | "RCPT" | "DATA";

/**
 * Open a transaction, each reply checked as {@link transcript} does: EHLO `helo` → 250 (left
 * out when `helo` is null), MAIL FROM:<from> → 250 2.1.0, RCPT TO:<alice@example.test> →
 * 250 2.1.5, DATA → 354; `upTo` stops after MAIL or RCPT.
 */
export async function openTransaction(
  session: Session,
  { helo = "c.example.org", from = "a@example.org", upTo = "DATA" }: {
    helo?: string | null;
    from?: string;
    upTo?: Opening;
  } = {},
): Promise<void> {
  const lines: string[] = [];
  if (helo !== null) lines.push(`C: EHLO ${helo}`, "S: 250");
  lines.push(`C: MAIL FROM:<${from}>`, "S: 250 2.1.0");
  if (upTo !== "MAIL") lines.push("C: RCPT TO:<alice@example.test>", "S: 250 2.1.5");
  if (upTo === "DATA") lines.push("C: DATA", "S: 354");
  await transcript(session, lines.join("\n"));
}
