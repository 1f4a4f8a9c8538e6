/**
 * Real IMAP clients against postie, each over implicit TLS to 127.0.0.1 with the server's
 * self-signed certificate verified under mx.example.test:
 *
 * - Python's `imaplib` (fixtures/imaplib_client.py): login, SELECT, APPEND answered with
 *   APPENDUID, the exact bytes fetched back, a second connection that sees the first one's
 *   STORE and EXPUNGE on NOOP, and IDLE (sent raw) woken by an APPEND.
 * - mbsync (isync): a two-way sync of INBOX with a local Maildir: server mail arrives locally,
 *   a locally added message is uploaded byte for byte, and flags travel both ways.
 * - imapflow (npm): LIST with special-use flags, APPEND, FETCH of the source, MOVE with its
 *   COPYUID map, and IDLE that receives a message delivered over SMTP.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  sendMail,
  serverCert,
  SmtpTestClient,
  startTestServer,
  TEST_PASSWORD,
  type TestServer,
} from "../support/harness.ts";
import { DEBIAN_PYTHON } from "../support/requirements.ts";
import { type ExistsEvent, ImapFlow } from "imapflow";
import { fetchedBody, ImapClient } from "./imap.ts";
import { FIXTURES, run, runOk } from "./tools.ts";

const USER = "alice@example.test";

/** The octets of a string whose characters are all U+0000 to U+00FF. */
function enc(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** Base64 of a latin1 string (one character per octet). */
function b64(s: string): string {
  return btoa(s);
}

/** A message with 8-bit text, a leading dot and trailing blanks: bytes a client must keep. */
function message(subject: string): string {
  return `From: Bob <bob@example.org>\r\nTo: ${USER}\r\nSubject: ${subject}\r\n` +
    `Message-ID: <${subject.replace(/\W/g, "")}@example.org>\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Transfer-Encoding: 8bit\r\n\r\n` +
    // UTF-8 octets spelled as latin1 characters, so the string counts octets.
    `Gr\xc3\xbc\xc3\x9fe from ${subject}.\r\n.a line with a leading dot\r\ntrailing blanks  \r\n`;
}

/**
 * Deliver `octets` (a message ending in CRLF, one character per octet) to alice over SMTP,
 * dot-stuffed, and wait until the spool has stored it.
 */
async function deliver(t: TestServer, octets: string): Promise<void> {
  // sendMail writes its string as UTF-8 and ends the data with CRLF . CRLF itself.
  const body = new TextDecoder().decode(enc(octets)).replace(/\r\n$/, "").replace(/^\./gm, "..");
  const c = await SmtpTestClient.connect(t.port("smtp"));
  try {
    await c.reply();
    const r = await sendMail(c, "bob@example.org", [USER], body);
    assert.equal(r.code, 250, r.raw);
    await c.cmd("QUIT");
  } finally {
    c.close();
  }
  await t.server.spool.idle();
}

/** A raw IMAPS session as alice with INBOX selected (the check beside a client under test). */
async function rawInbox(t: TestServer): Promise<ImapClient> {
  const { client } = await ImapClient.connectTls(t.port("imaps"), await serverCert(t));
  try {
    assert.equal((await client.command(`LOGIN "${USER}" "${TEST_PASSWORD}"`)).status, "OK");
    assert.equal((await client.command("SELECT INBOX")).status, "OK");
    return client;
  } catch (e) {
    client.close();
    throw e;
  }
}

/** The CA file for clients that read one from disk. */
async function caFile(t: TestServer): Promise<string> {
  const path = join(t.dataDir, "client-ca.pem");
  await Deno.writeTextFile(path, await serverCert(t));
  return path;
}

interface ImaplibResult {
  capabilities: string[];
  select: [string, number];
  append: [string, string];
  fetch_head: string;
  fetched: string;
  noop_fetch: string[];
  expunge: string[];
  noop_expunge: string[];
  idle: string[];
}

Deno.test({
  name: "Python imaplib: APPENDUID, exact bytes, a second session sees STORE/EXPUNGE, IDLE",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await startTestServer();
    try {
      const first = message("imaplib first");
      const r = await run(DEBIAN_PYTHON, {
        args: [`${FIXTURES}imaplib_client.py`],
        stdin: JSON.stringify({
          port: t.port("imaps"),
          ca: await caFile(t),
          server_name: "mx.example.test",
          user: USER,
          password: TEST_PASSWORD,
          message: b64(first),
          second: b64(message("imaplib second")),
        }),
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, `imaplib_client.py failed:\n${r.stdout}\n${r.stderr}`);
      const out = JSON.parse(r.stdout) as ImaplibResult;
      assert.ok(out.capabilities.includes("IMAP4REV1"), out.capabilities.join(" "));
      assert.deepEqual(out.select, ["OK", 0]);
      assert.equal(out.append[0], "OK");
      const appendUid = /^\[APPENDUID (\d+) (\d+)\]/.exec(out.append[1]);
      assert.ok(appendUid, `no APPENDUID in ${out.append[1]}`);
      const uid = appendUid[2];
      assert.match(out.fetch_head, new RegExp(`^1 \\(.*UID ${uid}\\b`));
      assert.match(out.fetch_head, /FLAGS \([^)]*\\Seen\b/);
      assert.equal(atob(out.fetched), first, "FETCH BODY[] is not the APPENDed octets");
      assert.equal(out.noop_fetch.length, 1, out.noop_fetch.join("\n"));
      assert.match(out.noop_fetch[0]!, /^1 \(.*FLAGS \((?=[^)]*\\Flagged)(?=[^)]*\\Seen)/);
      assert.deepEqual(out.expunge, ["1"]);
      assert.deepEqual(out.noop_expunge, ["1"]);
      assert.match(out.idle[0]!, /^\+/);
      assert.ok(out.idle.includes("* 1 EXISTS"), out.idle.join("\n"));
      assert.match(out.idle.at(-1)!, /^IDLE1 OK/);
      // What imaplib appended second is on the server, as the raw client reads it.
      const raw = await rawInbox(t);
      try {
        const f = await raw.command("FETCH 1 BODY.PEEK[]");
        assert.equal(f.status, "OK");
        assert.equal(fetchedBody(f.untagged), message("imaplib second"));
      } finally {
        raw.close();
      }
    } finally {
      await t.close();
    }
  },
});

/** Every file in a Maildir's new/ and cur/, as `{ path, name, info }` (info after `:2,`). */
async function maildirFiles(dir: string): Promise<{ path: string; info: string | null }[]> {
  const out: { path: string; info: string | null }[] = [];
  for (const sub of ["new", "cur"]) {
    for await (const e of Deno.readDir(join(dir, sub))) {
      const m = /:2,([A-Za-z]*)$/.exec(e.name);
      out.push({ path: join(dir, sub, e.name), info: m ? m[1]! : null });
    }
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** The file in a Maildir whose content has `subject` in it. */
async function localMessage(dir: string, subject: string) {
  for (const f of await maildirFiles(dir)) {
    const text = octets(await Deno.readFile(f.path));
    if (text.includes(`Subject: ${subject}\n`)) return { ...f, text };
  }
  throw new Error(`no local message "${subject}" in ${dir}`);
}

/** The octets of a file as one character each (see imap.ts). */
function octets(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return s;
}

/** The sequence number of the message with this Subject in the raw session's mailbox. */
async function findSubject(raw: ImapClient, subject: string): Promise<number> {
  const r = await raw.command(`SEARCH HEADER Subject "${subject}"`);
  assert.equal(r.status, "OK", r.text);
  const nums = /^\* SEARCH((?: \d+)*)/m.exec(r.untagged)![1]!.trim().split(" ").filter(Boolean);
  assert.equal(nums.length, 1, `SEARCH for "${subject}": ${r.untagged}`);
  return Number(nums[0]);
}

/** The FLAGS of one message, as a sorted list. */
async function flagsOf(raw: ImapClient, seq: number): Promise<string[]> {
  const r = await raw.command(`FETCH ${seq} FLAGS`);
  assert.equal(r.status, "OK", r.text);
  const m = new RegExp(`^\\* ${seq} FETCH \\(.*FLAGS \\(([^)]*)\\)`, "m").exec(r.untagged);
  assert.ok(m, r.untagged);
  return m[1]!.split(" ").filter((f) => f !== "" && f !== "\\Recent").sort();
}

Deno.test({
  name: "mbsync: INBOX synced both ways with a local Maildir, messages and flags",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await startTestServer();
    const local = await Deno.makeTempDir({ prefix: "postie-mbsync-" });
    try {
      const inbox = join(local, "INBOX");
      const cfg = join(local, "mbsyncrc");
      await Deno.mkdir(join(local, "mail"));
      // The certificate names mx.example.test while the host is 127.0.0.1: a certificate in
      // CertificateFile that is exactly the server's is trusted as it is, without a name check
      // (and without the system store, nothing else is trusted).
      await Deno.writeTextFile(
        cfg,
        [
          "IMAPAccount postie",
          "Host 127.0.0.1",
          `Port ${t.port("imaps")}`,
          `User ${USER}`,
          `Pass "${TEST_PASSWORD}"`,
          "SSLType IMAPS",
          "SystemCertificates no",
          `CertificateFile ${await caFile(t)}`,
          "AuthMechs LOGIN",
          "",
          "IMAPStore remote",
          "Account postie",
          "",
          "MaildirStore local",
          `Path ${local}/mail/`,
          `Inbox ${inbox}`,
          "",
          "Channel inbox",
          "Far :remote:",
          "Near :local:",
          "Patterns INBOX",
          "Create Both",
          "Expunge Both",
          "SyncState *",
          "Sync All",
          "",
        ].join("\n"),
      );
      const mbsync = async (config = cfg) => {
        const r = await run("mbsync", { args: ["-c", config, "-a"], timeoutMs: 60_000 });
        assert.equal(r.code, 0, `mbsync failed:\n${r.stdout}\n${r.stderr}`);
      };

      // The trust is real: a certificate with the same name but another key is refused.
      const stranger = join(local, "stranger.pem");
      await runOk("openssl", {
        args: ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
          .concat(["-subj", "/CN=mx.example.test", "-addext", "subjectAltName=DNS:mx.example.test"])
          .concat(["-days", "2", "-keyout", join(local, "stranger.key"), "-out", stranger]),
      });
      const untrusting = join(local, "mbsyncrc-stranger");
      await Deno.writeTextFile(
        untrusting,
        (await Deno.readTextFile(cfg)).replace(
          /^CertificateFile .*$/m,
          `CertificateFile ${stranger}`,
        ),
      );
      const refused = await run("mbsync", { args: ["-c", untrusting, "-a"], timeoutMs: 60_000 });
      assert.notEqual(refused.code, 0, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /SSL error.*certificate/);
      await Deno.remove(join(local, "mail"), { recursive: true });
      await Deno.mkdir(join(local, "mail"));

      // Server to local: mail delivered over SMTP arrives in the Maildir as the server has it
      // (LF line ends there), with the X-TUID header isync adds to every message it copies.
      await deliver(t, message("mbsync from server"));
      let raw = await rawInbox(t);
      let onServer: string;
      try {
        const f = await raw.command(
          `FETCH ${await findSubject(raw, "mbsync from server")} BODY.PEEK[]`,
        );
        assert.equal(f.status, "OK", f.text);
        onServer = fetchedBody(f.untagged);
      } finally {
        raw.close();
      }
      assert.match(onServer, /\r\n\r\nGr\xc3\xbc\xc3\x9fe from mbsync from server/);
      await mbsync();
      const down = await localMessage(inbox, "mbsync from server");
      const tuid = /^X-TUID: \S+\n/m;
      assert.match(down.text, tuid);
      assert.equal(down.text.replace(tuid, ""), onServer.replaceAll("\r\n", "\n"));
      assert.ok(!down.info?.includes("S"), `delivered mail is unseen, local file ${down.path}`);

      // Local to server: a new local message is uploaded; a local \Seen and a server \Flagged
      // on the first message both reach the other side.
      const fromLocal = message("mbsync from local").replaceAll("\r\n", "\n");
      await Deno.writeFile(join(inbox, "new", "1767225600.local1.client"), enc(fromLocal));
      const seenName = down.path.replace(/\/new\//, "/cur/").replace(/(:2,[A-Za-z]*)?$/, ":2,S");
      await Deno.rename(down.path, seenName);
      raw = await rawInbox(t);
      try {
        const seq = await findSubject(raw, "mbsync from server");
        assert.deepEqual(await flagsOf(raw, seq), []);
        assert.equal((await raw.command(`STORE ${seq} +FLAGS (\\Flagged)`)).status, "OK");
      } finally {
        raw.close();
      }
      await mbsync();

      raw = await rawInbox(t);
      try {
        const first = await findSubject(raw, "mbsync from server");
        assert.deepEqual(await flagsOf(raw, first), ["\\Flagged", "\\Seen"]);
        const up = await findSubject(raw, "mbsync from local");
        const f = await raw.command(`FETCH ${up} BODY.PEEK[]`);
        assert.equal(f.status, "OK", f.text);
        // isync puts its X-TUID header into every message it copies, in either direction.
        const uploaded = fetchedBody(f.untagged);
        assert.match(uploaded, /^X-TUID: \S+\r\n/m);
        assert.equal(uploaded.replace(/^X-TUID: \S+\r\n/m, ""), message("mbsync from local"));
      } finally {
        raw.close();
      }
      const after = await localMessage(inbox, "mbsync from server");
      assert.equal(after.info, "FS", `local file ${after.path}`);
    } finally {
      await Deno.remove(local, { recursive: true });
      await t.close();
    }
  },
});

/** A promise that rejects after `ms` unless `p` settles first. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name:
    "imapflow: special-use LIST, APPENDUID, exact source, MOVE with COPYUID, IDLE gets SMTP mail",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await startTestServer();
    // imapflow's log: the commands it sent (src "c") and its notes, e.g. that IDLE began.
    const commands: string[] = [];
    let idleStarted: () => void = () => {};
    const idling = new Promise<void>((r) => idleStarted = r);
    const record = (e: { src?: string; msg?: string }) => {
      if (e.src === "c" && e.msg) commands.push(e.msg);
      if (e.msg?.startsWith("Initiated IDLE")) idleStarted();
    };
    const client = new ImapFlow({
      host: "127.0.0.1",
      port: t.port("imaps"),
      secure: true,
      tls: { ca: await serverCert(t), servername: "mx.example.test" },
      auth: { user: USER, pass: TEST_PASSWORD },
      logger: { debug: record, info: record, warn: record, error: record },
      disableAutoIdle: true,
    });
    try {
      await client.connect();
      assert.ok(client.capabilities.has("MOVE") && client.capabilities.has("SPECIAL-USE"));

      const special = new Map((await client.list()).map((m) => [m.path, m.specialUse]));
      assert.deepEqual(Object.fromEntries(special), {
        INBOX: "\\Inbox",
        Sent: "\\Sent",
        Drafts: "\\Drafts",
        Trash: "\\Trash",
        Junk: "\\Junk",
        Archive: "\\Archive",
      });

      // No mailbox is selected, so the UID can only come from APPENDUID.
      const raw = message("imapflow append");
      const appended = await client.append("INBOX", enc(raw), ["\\Seen"]);
      assert.ok(appended && typeof appended.uid === "number", Deno.inspect(appended));
      assert.equal(typeof appended.uidValidity, "bigint");

      const lock = await client.getMailboxLock("INBOX");
      try {
        assert.equal(client.mailbox && client.mailbox.uidValidity, appended.uidValidity);
        const got = await client.fetchOne(String(appended.uid), { source: true, flags: true }, {
          uid: true,
        });
        assert.ok(got && got.source, "FETCH of the appended UID found nothing");
        assert.equal(octets(got.source), raw, "source is not the APPENDed octets");
        assert.ok(got.flags?.has("\\Seen"), [...got.flags ?? []].join(" "));

        const moved = await client.messageMove(String(appended.uid), "Archive", { uid: true });
        assert.ok(moved && moved.uidMap, Deno.inspect(moved));
        assert.ok(commands.some((c) => /^\S+ UID MOVE \d+ Archive$/.test(c)), commands.join("\n"));
        const archived = moved.uidMap.get(appended.uid);
        assert.equal(typeof archived, "number", `uidMap ${[...moved.uidMap]}`);
        assert.equal(client.mailbox && client.mailbox.exists, 0);
        const status = await client.status("Archive", { messages: true, uidValidity: true });
        assert.ok(status && status.messages === 1, Deno.inspect(status));
        assert.equal(status.uidValidity, moved.uidValidity);

        // IDLE: a message delivered over SMTP while imapflow idles shows up as EXISTS.
        const exists = new Promise<ExistsEvent>((r) => client.once("exists", r));
        const idle = client.idle();
        await within(idling, 30_000, "IDLE continuation");
        await deliver(t, message("imapflow idle"));
        const ev = await within(exists, 30_000, "EXISTS in IDLE");
        assert.deepEqual({ path: ev.path, count: ev.count }, { path: "INBOX", count: 1 });
        // The next command ends IDLE (DONE) and reads the delivered message.
        const fresh = await client.fetchOne("1", { source: true });
        assert.equal(await idle, undefined);
        const idleAt = commands.findIndex((c) => /^\S+ IDLE$/.test(c));
        assert.ok(idleAt >= 0 && commands[idleAt + 1] === "DONE", commands.join("\n"));
        assert.ok(fresh && fresh.source);
        assert.match(octets(fresh.source), /\r\nSubject: imapflow idle\r\n/);
      } finally {
        lock.release();
      }
      await client.logout();
    } finally {
      client.close();
      await t.close();
    }
  },
});
