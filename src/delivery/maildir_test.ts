import assert from "node:assert/strict";
import { join } from "node:path";
import { DeliveryError, MaildirStore } from "./maildir.ts";
import { files } from "./_testing.ts";

const enc = new TextEncoder();
const box = (local: string) => ({
  address: `${local}@example.test`,
  local,
  domain: "example.test",
});

Deno.test("MaildirStore.deliver() writes one file per mailbox into new/ with S= size", async () => {
  const root = await Deno.makeTempDir();
  try {
    const store = new MaildirStore(root, "mx/host:1");
    const paths = await store.deliver(
      [box("a"), box("b")],
      (b) => `Delivered-To: ${b.address}\r\n`,
      [enc.encode("Subject: x\r\n\r\n"), enc.encode("body\r\n")],
    );
    assert.equal(paths.length, 2);
    for (const [i, local] of ["a", "b"].entries()) {
      const dir = join(root, "example.test", local);
      assert.deepEqual(await files(join(dir, "tmp")), []);
      assert.deepEqual(await files(join(dir, "cur")), []);
      const names = await files(join(dir, "new"));
      assert.equal(names.length, 1);
      // Unique-name rules: "/" and ":" in the host name are escaped.
      assert.match(names[0]!, /^\d+\.M\d+P\d+Q\d+\.mx\\057host\\0721,S=\d+$/);
      const text = await Deno.readTextFile(paths[i]!);
      assert.equal(text, `Delivered-To: ${local}@example.test\r\nSubject: x\r\n\r\nbody\r\n`);
      assert.equal(Number(names[0]!.split("S=")[1]), enc.encode(text).length);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("MaildirStore.deliver() is all or nothing across mailboxes", async () => {
  const root = await Deno.makeTempDir();
  try {
    const store = new MaildirStore(root, "h");
    // Break the second mailbox: its tmp is a file, so the write there fails.
    const broken = join(root, "example.test", "b");
    await Deno.mkdir(join(broken, "new"), { recursive: true });
    await Deno.mkdir(join(broken, "cur"), { recursive: true });
    await Deno.writeTextFile(join(broken, "tmp"), "not a directory");
    await assert.rejects(
      store.deliver([box("a"), box("b")], () => "", [enc.encode("x\r\n")]),
      (e: unknown) => e instanceof DeliveryError && e.code === 451 && e.temporary,
    );
    const a = join(root, "example.test", "a");
    assert.deepEqual(await files(join(a, "new")), [], "nothing delivered to the healthy box");
    assert.deepEqual(await files(join(a, "tmp")), [], "its tmp file was cleaned up");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
