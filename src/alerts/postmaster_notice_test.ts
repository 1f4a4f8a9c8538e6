import assert from "node:assert/strict";
import { join } from "node:path";
import { MaildirStore } from "../delivery/maildir.ts";
import { Router } from "../delivery/router.ts";
import { buildNotice, notifyPostmaster } from "./postmaster_notice.ts";

const alice = { address: "alice@a.example", local: "alice", domain: "a.example" };
const accounts = { get: (a: string) => (a === alice.address ? alice : undefined) };

Deno.test("notifyPostmaster: the notice lands in the Maildir postmaster@ leads to", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const router = new Router(
      { domains: ["a.example"], aliases: new Map([["postmaster@a.example", [alice.address]]]) },
      accounts,
    );
    const maildir = new MaildirStore(join(dir, "mail"), "mx.a.example");
    const r = await notifyPostmaster(
      { hostname: "mx.a.example", router, maildir },
      "Certificate renewal failed",
      "The CA said: no.\nRun: postie cert renew",
      new Date("2026-12-01T10:00:00Z"),
    );
    assert.deepEqual(r, { delivered: true, to: "postmaster@a.example" });
    const newDir = join(dir, "mail", "a.example", "alice", "new");
    const files = [...Deno.readDirSync(newDir)];
    assert.equal(files.length, 1);
    const text = await Deno.readTextFile(join(newDir, files[0]!.name));
    assert.match(text, /^Return-Path: <>\r\nDelivered-To: alice@a.example\r\n/);
    assert.match(text, /\r\nSubject: Certificate renewal failed\r\n/);
    assert.match(text, /\r\nDate: Tue, 01 Dec 2026 10:00:00 \+0000\r\n/);
    assert.match(text, /\r\n\r\nThe CA said: no.\r\nRun: postie cert renew\r\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notifyPostmaster: without a postmaster mailbox nothing is written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const router = new Router({ domains: ["a.example"], aliases: new Map() }, accounts);
    const maildir = new MaildirStore(join(dir, "mail"), "mx.a.example");
    const r = await notifyPostmaster({ hostname: "h", router, maildir }, "s", "b");
    assert.equal(r.delivered, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildNotice: a non-ASCII subject is an RFC 2047 encoded-word, no header injection", () => {
  const text = new TextDecoder().decode(
    buildNotice({
      hostname: "h.example",
      to: "postmaster@a.example",
      subject: "Zertifikat läuft ab\r\nBcc: x@evil.example",
      body: "x",
      now: new Date(0),
    }),
  );
  const subject = /\r\nSubject: (.*)\r\n/.exec(text)![1]!;
  assert.match(subject, /^=\?utf-8\?B\?[A-Za-z0-9+/=]+\?=$/);
  assert.doesNotMatch(text, /\r\nBcc:/);
});
