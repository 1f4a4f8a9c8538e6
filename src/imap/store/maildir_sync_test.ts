import assert from "node:assert/strict";
import { join } from "node:path";
import { deliverByHand, filesIn, message, openMail, withTempRoot } from "./test_util.ts";
import { Flag } from "./flags.ts";
import { INDEX_FILE } from "./index_db.ts";
import { NameMaker } from "./maildir_sync.ts";

Deno.test("sync: UIDs and UIDVALIDITY are stable across close and reopen", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    const r = await mail.append("INBOX", [{ data: message("one") }, { data: message("two") }]);
    const sent = await mail.append("Sent", [{ data: message("s") }]);
    const before = await mail.status("INBOX");
    mail.close();
    const again = await openMail(root);
    const after = await again.status("INBOX");
    assert.equal(after.uidvalidity, r.uidvalidity);
    assert.equal(after.uidnext, before.uidnext);
    assert.equal((await again.status("Sent")).uidvalidity, sent.uidvalidity);
    const view = await again.select("INBOX");
    assert.deepEqual(view.uids(), r.uids);
    assert.deepEqual(r.uids, [1, 2]);
    const bytes = await again.read(view, 2);
    assert.deepEqual(bytes, message("two"));
    again.close();
  });
});

Deno.test("sync: a deleted index is rebuilt with a new UIDVALIDITY and every message", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    const r = await mail.append("INBOX", [{ data: message("a") }, { data: message("b") }]);
    await mail.append("Junk", [{ data: message("j"), flags: ["\\Seen"] }]);
    const junk = await mail.status("Junk");
    mail.close();
    await Deno.remove(join(root, INDEX_FILE));
    const again = await openMail(root);
    const st = await again.status("INBOX");
    assert.ok(st.uidvalidity > r.uidvalidity, `${st.uidvalidity} > ${r.uidvalidity}`);
    assert.equal(st.messages, 2);
    const j = await again.status("Junk");
    assert.ok(j.uidvalidity > junk.uidvalidity);
    assert.equal(j.messages, 1);
    assert.equal(j.unseen, 0); // the flag lives in the file name
    const list = await again.list();
    assert.deepEqual(
      list.filter((l) => l.specialUse).map((l) => [l.name, l.specialUse]),
      [["Archive", "\\Archive"], ["Drafts", "\\Drafts"], ["Junk", "\\Junk"], [
        "Sent",
        "\\Sent",
      ], ["Trash", "\\Trash"]],
    );
    again.close();
  });
});

Deno.test("sync: a file dropped into new/ gets the next UID and moves to cur/", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.append("INBOX", [{ data: message("first") }]);
    const view = await mail.select("INBOX");
    await deliverByHand(root, "1700000000.hand1.host", "by hand");
    await deliverByHand(root, "1700000001.hand2.host:2,S", "by hand, seen");
    await mail.refresh();
    assert.deepEqual(view.pending(), [
      { kind: "exists", count: 3 },
      { kind: "recent", count: 3 }, // the appended one was recent at SELECT too
    ]);
    assert.deepEqual(await filesIn(root, "new"), []);
    const cur = await filesIn(root, "cur");
    assert.ok(cur.includes("1700000000.hand1.host:2,"), cur.join());
    assert.ok(cur.includes("1700000001.hand2.host:2,S"), cur.join());
    const infos = mail.messages(view);
    assert.deepEqual(infos.map((m) => m.uid), [1, 2, 3]);
    assert.deepEqual(infos.map((m) => m.flags), [[], [], ["\\Seen"]]);
    assert.deepEqual(await mail.read(view, 2), message("by hand"));
    view.close();
    mail.close();
  });
});

Deno.test("sync: flags live in file names, sorted, unknown letters kept", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.append("INBOX", [{ data: message("x") }]);
    const view = await mail.select("INBOX");
    const res = await mail.store(view, [1], "add", ["\\Seen", "\\Flagged", "$Label1"]);
    assert.equal(res[0]!.changed, true);
    let cur = await filesIn(root, "cur");
    assert.equal(cur.length, 1);
    assert.match(cur[0]!, /:2,FS$/);
    // Another program adds P (passed); a later STORE keeps it.
    const base = cur[0]!.slice(0, cur[0]!.indexOf(":"));
    await Deno.rename(join(root, "cur", cur[0]!), join(root, "cur", base + ":2,FPS"));
    await mail.refresh();
    await mail.store(view, [1], "add", ["\\Draft", "\\Answered", "\\Deleted"]);
    cur = await filesIn(root, "cur");
    assert.deepEqual(cur, [base + ":2,DFPRST"]);
    await mail.store(view, [1], "set", ["\\Seen"]);
    cur = await filesIn(root, "cur");
    assert.deepEqual(cur, [base + ":2,PS"]);
    const [m] = mail.messages(view);
    assert.deepEqual(m!.flags, ["\\Seen"]); // keywords replaced by "set" too
    assert.equal(m!.raw.system, Flag.Seen);
    view.close();
    mail.close();
  });
});

Deno.test("sync: flags changed by another program are reported", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.append("INBOX", [{ data: message("x"), flags: ["\\Seen"] }, {
      data: message("y"),
    }]);
    const view = await mail.select("INBOX");
    view.pending();
    const cur = await filesIn(root, "cur");
    const first = cur.find((n) => n.endsWith(":2,S"))!;
    const base = first.slice(0, first.indexOf(":"));
    await Deno.rename(join(root, "cur", first), join(root, "cur", base + ":2,FS"));
    await mail.refresh();
    const changes = view.pending();
    assert.equal(changes.length, 1);
    const c = changes[0]!;
    assert.equal(c.kind, "flags");
    if (c.kind !== "flags") return;
    assert.equal(c.seq, 1);
    assert.deepEqual(c.flags, ["\\Flagged", "\\Seen", "\\Recent"]);
    assert.deepEqual(mail.messages(view, [1])[0]!.flags, ["\\Flagged", "\\Seen"]);
    // The next STORE starts from the new name.
    await mail.store(view, [1], "remove", ["\\Seen"]);
    assert.deepEqual((await filesIn(root, "cur")).filter((n) => n.startsWith(base)), [
      base + ":2,F",
    ]);
    view.close();
    mail.close();
  });
});

Deno.test("sync: a file removed by another program is expunged", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.append("INBOX", [1, 2, 3].map((n) => ({ data: message(`m${n}`) })));
    const view = await mail.select("INBOX");
    const cur = await filesIn(root, "cur");
    await Deno.remove(join(root, "cur", cur[1]!)); // names sort in append order
    await mail.refresh();
    assert.deepEqual(view.pending({ expunges: false }), []);
    assert.equal(view.exists, 3);
    assert.deepEqual(view.pending(), [{ kind: "expunge", seq: 2, uid: 2 }]);
    assert.deepEqual(view.uids(), [1, 3]);
    assert.equal((await mail.status("INBOX")).messages, 2);
    assert.equal(await mail.read(view, 2), null);
    view.close();
    mail.close();
  });
});

Deno.test("sync: a 10,000-file mailbox", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    mail.close();
    const data = message("bulk");
    const names: string[] = [];
    for (let i = 0; i < 10_000; i++) names.push(`17000${String(i).padStart(5, "0")}.bulk.host`);
    for (let i = 0; i < names.length; i += 500) {
      await Promise.all(
        names.slice(i, i + 500).map((n, j) =>
          Deno.writeFile(
            join(root, (i + j) % 2 ? "new" : "cur", (i + j) % 2 ? n : n + ":2,S"),
            data,
          )
        ),
      );
    }
    const again = await openMail(root);
    const view = await again.select("INBOX");
    assert.equal(view.exists, 10_000);
    assert.deepEqual(view.uids().slice(0, 3), [1, 2, 3]);
    assert.equal(view.uids().at(-1), 10_000);
    assert.deepEqual(await filesIn(root, "new"), []);
    const st = await again.status("INBOX");
    assert.equal(st.messages, 10_000);
    assert.equal(st.unseen, 5_000);
    assert.equal(st.size, 10_000 * data.length);
    view.close();
    again.close();
    const third = await openMail(root);
    const v3 = await third.select("INBOX");
    assert.equal(v3.exists, 10_000);
    assert.equal(v3.pending().length, 0);
    v3.close();
    third.close();
  });
});

Deno.test("sync: file names from two name makers of one process never collide", () => {
  const a = new NameMaker("h");
  const b = new NameMaker("h");
  const names = new Set<string>();
  for (let i = 0; i < 100; i++) names.add(a.next(10)).add(b.next(10));
  assert.equal(names.size, 200);
  assert.match(a.next(42), /^\d+\.M\d+P\d+Q\d+I?\.h,S=42$/);
});

Deno.test("sync: a stale WAL beside a deleted index is not replayed into the new one", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    const r = await mail.append("INBOX", [{ data: message("a") }]);
    const wal = await Deno.readFile(join(root, INDEX_FILE + "-wal"));
    mail.close();
    await Deno.remove(join(root, INDEX_FILE));
    await Deno.writeFile(join(root, INDEX_FILE + "-wal"), wal); // as a crash would leave it
    const again = await openMail(root);
    const st = await again.status("INBOX");
    assert.ok(st.uidvalidity > r.uidvalidity);
    assert.equal(st.messages, 1);
    again.close();
  });
});
