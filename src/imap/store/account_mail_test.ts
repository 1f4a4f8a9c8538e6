import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { filesIn, message, openMail, withTempRoot } from "./test_util.ts";
import { MailStoreError, type MailStoreErrorCode } from "./errors.ts";
import { MailRegistry } from "./registry.ts";

function code(c: MailStoreErrorCode) {
  return (e: unknown) => e instanceof MailStoreError && e.code === c;
}

async function entries(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

const HOSTILE = ["../x", "..", "a/b", "/etc", "\u0000", "a\u0000b", ".hidden", "a..b", "", "a."];

Deno.test("account: hostile mailbox names are refused and nothing is created", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    const before = await entries(dirname(root));
    const rootBefore = await entries(root);
    const view = await mail.select("INBOX");
    for (const name of HOSTILE) {
      const what = JSON.stringify(name);
      // CREATE drops one trailing separator (RFC 3501 §6.3.3), so "a." is a valid CREATE.
      if (name !== "a.") await assert.rejects(() => mail.create(name), code("BADNAME"), what);
      await assert.rejects(() => mail.select(name), code("BADNAME"), what);
      await assert.rejects(() => mail.status(name), code("BADNAME"), what);
      await assert.rejects(() => mail.append(name, [{ data: message("x") }]), code("BADNAME"));
      await assert.rejects(() => mail.delete(name), code("BADNAME"), what);
      await assert.rejects(() => mail.rename("Sent", name), code("BADNAME"), what);
      await assert.rejects(() => mail.rename(name, "x"), code("BADNAME"), what);
      await assert.rejects(() => mail.copy(view, [1], name), code("BADNAME"), what);
      await assert.rejects(() => mail.setSubscribed(name, true), code("BADNAME"), what);
    }
    await assert.rejects(() => mail.create("a.."), code("BADNAME"));
    await assert.rejects(() => mail.create("."), code("BADNAME"));
    assert.deepEqual(await entries(dirname(root)), before);
    assert.deepEqual(await entries(root), rootBefore);
    view.close();
    mail.close();
  });
});

Deno.test("account: special-use mailboxes exist on first open; deleted ones stay deleted", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    const list = await mail.list();
    assert.deepEqual(list.map((l) => [l.name, l.attributes]), [
      ["INBOX", ["\\HasNoChildren"]],
      ["Archive", ["\\HasNoChildren", "\\Archive"]],
      ["Drafts", ["\\HasNoChildren", "\\Drafts"]],
      ["Junk", ["\\HasNoChildren", "\\Junk"]],
      ["Sent", ["\\HasNoChildren", "\\Sent"]],
      ["Trash", ["\\HasNoChildren", "\\Trash"]],
    ]);
    for (const d of [".Sent", ".Drafts", ".Trash", ".Junk", ".Archive"]) {
      assert.deepEqual(await entries(join(root, d)), ["cur", "maildirfolder", "new", "tmp"]);
    }
    await mail.delete("Archive");
    mail.close();
    const again = await openMail(root);
    assert.equal((await again.list()).some((l) => l.name === "Archive"), false);
    again.close();
  });
});

Deno.test("account: CREATE, mUTF-7 folders, DELETE of a parent leaves it \\Noselect", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.create("Entwürfe.");
    await mail.create("Entwürfe.Alt");
    await mail.create("entwürfe"); // only INBOX is case-insensitive
    await assert.rejects(() => mail.create("Entwürfe"), code("ALREADYEXISTS"));
    await assert.rejects(() => mail.create("inbox"), code("ALREADYEXISTS"));
    assert.ok((await entries(root)).includes(".Entw&APw-rfe.Alt"));
    await mail.append("Entwürfe", [{ data: message("x") }]);
    const view = await mail.select("Entwürfe");
    await mail.delete("Entwürfe");
    assert.deepEqual(view.pending(), [{ kind: "expunge", seq: 1, uid: 1 }]);
    assert.equal(view.deleted, true);
    const list = await mail.list();
    const parent = list.find((l) => l.name === "Entwürfe")!;
    assert.deepEqual(parent.attributes, ["\\Noselect", "\\HasChildren"]);
    assert.equal(parent.exists, false);
    await assert.rejects(() => mail.select("Entwürfe"), code("NONEXISTENT"));
    await assert.rejects(() => mail.delete("Entwürfe"), code("CANNOT"));
    await assert.rejects(() => mail.delete("INBOX"), code("CANNOT"));
    await assert.rejects(() => mail.delete("Nope"), code("NONEXISTENT"));
    await assert.rejects(() => mail.append("Nope", [{ data: message("x") }]), code("TRYCREATE"));
    // Re-created: a new UIDVALIDITY, no old messages.
    const old = view.uidvalidity;
    await mail.create("Entwürfe");
    const st = await mail.status("Entwürfe");
    assert.ok(st.uidvalidity > old);
    assert.equal(st.messages, 0);
    view.close();
    mail.close();
  });
});

Deno.test("account: RENAME INBOX moves its messages and leaves INBOX empty", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.append("INBOX", [{ data: message("one") }, { data: message("two") }]);
    await mail.create("INBOX.Child");
    const inboxValidity = (await mail.status("INBOX")).uidvalidity;
    await mail.rename("INBOX", "Old");
    const inbox = await mail.status("INBOX");
    assert.equal(inbox.messages, 0);
    assert.equal(inbox.uidvalidity, inboxValidity);
    assert.deepEqual(await filesIn(root, "cur"), []);
    const old = await mail.select("Old");
    assert.equal(old.exists, 2);
    assert.deepEqual(await mail.read(old, 2), message("two"));
    const names = (await mail.list()).map((l) => l.name);
    assert.ok(names.includes("INBOX.Child") && names.includes("Old"), names.join());
    old.close();
    mail.close();
  });
});

Deno.test("account: RENAME moves children and keeps UIDVALIDITY; open views follow", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.create("a");
    await mail.create("a.b");
    await mail.append("a.b", [{ data: message("x") }]);
    const st = await mail.status("a.b");
    const view = await mail.select("a.b");
    await assert.rejects(() => mail.rename("a", "Sent"), code("ALREADYEXISTS"));
    await assert.rejects(() => mail.rename("zz", "yy"), code("NONEXISTENT"));
    await mail.rename("a", "c");
    assert.equal(view.name, "c.b");
    const moved = await mail.status("c.b");
    assert.equal(moved.uidvalidity, st.uidvalidity);
    assert.equal(moved.messages, 1);
    const names = (await mail.list()).map((l) => l.name);
    assert.ok(!names.includes("a") && !names.includes("a.b"), names.join());
    assert.ok((await entries(root)).includes(".c.b"));
    view.close();
    mail.close();
  });
});

Deno.test("account: MailRegistry.notifyNewMail makes an open view report new mail", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-imap-registry-" });
  try {
    const registry = new MailRegistry(join(dir, "mail"), { hostname: "test.host" });
    const mail = await registry.open("bob@example.org");
    assert.equal(await registry.open("bob@example.org"), mail); // shared
    registry.release(mail);
    const root = registry.rootOf("bob@example.org");
    assert.equal(root, join(dir, "mail", "example.org", "bob"));
    const inbox = await mail.select("INBOX");
    const junk = await mail.select("Junk");
    let woken = 0;
    inbox.onChange(() => woken++);
    const name = "1700000000.delivered.host";
    await Deno.writeFile(join(root, "tmp", name), message("smtp"));
    await Deno.rename(join(root, "tmp", name), join(root, "new", name));
    await registry.notifyNewMail("bob@example.org");
    assert.equal(woken, 1);
    assert.deepEqual(inbox.pending(), [{ kind: "exists", count: 1 }, { kind: "recent", count: 1 }]);
    // By path, into a folder.
    const jdir = join(root, ".Junk");
    await Deno.writeFile(join(jdir, "new", name), message("spam"));
    await registry.notifyNewMail(join(jdir, "new", name));
    assert.deepEqual(junk.pending(), [{ kind: "exists", count: 1 }, { kind: "recent", count: 1 }]);
    await registry.notifyNewMail("nobody@example.org"); // not open: nothing to do
    assert.throws(() => registry.rootOf("../x@example.org"), code("BADNAME"));
    assert.throws(() => registry.rootOf("x@.."), code("BADNAME"));
    inbox.close();
    junk.close();
    registry.release(mail);
    assert.equal(mail.closed, true);
    await registry.closeAll();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("account: a folder another program created is found without a LIST first", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    for (const sub of ["cur", "new", "tmp"]) {
      await Deno.mkdir(join(root, ".Ext", sub), { recursive: true });
    }
    await Deno.writeFile(join(root, ".Ext", "new", "1700000000.x.host"), message("ext"));
    assert.equal((await mail.status("Ext")).messages, 1);
    const r = await mail.append("Other", [{ data: message("x") }]).catch((e) => e);
    assert.ok(r instanceof MailStoreError && r.code === "TRYCREATE");
    mail.close();
  });
});
