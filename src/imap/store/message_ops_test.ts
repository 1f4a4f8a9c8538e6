import assert from "node:assert/strict";
import { join } from "node:path";
import { filesIn, message, openMail, withTempRoot } from "./test_util.ts";
import { MailStoreError } from "./errors.ts";

Deno.test("ops: two views see each other's flag changes and expunges in a legal order", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.append("INBOX", [1, 2, 3, 4].map((n) => ({ data: message(`m${n}`) })));
    const a = await mail.select("INBOX");
    const b = await mail.select("INBOX");
    assert.equal(a.recentCount, 4); // the first read-write view claims \Recent
    assert.equal(b.recentCount, 0);
    let woken = 0;
    b.onChange(() => woken++);

    await mail.store(a, [2, 3], "add", ["\\Deleted"]);
    assert.equal(a.hasPending(), false); // a's own STORE is answered by its session
    assert.ok(woken > 0);
    // A message arrives and is expunged before b hears of it.
    const r = await mail.append("INBOX", [{ data: message("m5"), flags: ["\\Deleted"] }]);
    assert.deepEqual(r.uids, [5]);
    assert.deepEqual(await mail.expunge(a), [2, 3, 5]);

    // During a FETCH/STORE/SEARCH, b may hear flags, not expunges; numbers still old.
    assert.deepEqual(b.pending({ expunges: false }), []);
    assert.equal(b.exists, 4);
    assert.deepEqual(b.pending(), [
      { kind: "expunge", seq: 3, uid: 3 },
      { kind: "expunge", seq: 2, uid: 2 },
    ]);
    assert.deepEqual(b.uids(), [1, 4]);
    // a never announced 5 either (no EXISTS yet): it reports no EXPUNGE for it.
    assert.deepEqual(a.pending(), [
      { kind: "expunge", seq: 3, uid: 3 },
      { kind: "expunge", seq: 2, uid: 2 },
    ]);
    assert.deepEqual(a.uids(), [1, 4]);

    await mail.store(b, [4], "add", ["\\Seen"]);
    assert.deepEqual(a.pending(), [
      { kind: "flags", seq: 2, uid: 4, flags: ["\\Seen", "\\Recent"], modseq: 6 },
    ]);
    assert.deepEqual(b.pending(), []);
    a.close();
    b.close();
    mail.close();
  });
});

Deno.test("ops: an APPEND survives a crash (a second instance, the first never closed)", async () => {
  await withTempRoot(async (root) => {
    const first = await openMail(root);
    const r = await first.append("INBOX", [{ data: message("kept"), flags: ["\\Flagged", "k1"] }]);
    const second = await openMail(root); // as after a crash: no close, no checkpoint
    const view = await second.select("INBOX");
    assert.deepEqual(view.uids(), r.uids);
    const [m] = second.messages(view);
    assert.deepEqual(m!.flags, ["\\Flagged", "k1"]);
    assert.deepEqual(await second.read(view, r.uids[0]!), message("kept"));
    assert.equal((await second.status("INBOX")).uidvalidity, r.uidvalidity);
    // Both instances write without colliding on file names or UIDs.
    const [x, y] = await Promise.all([
      first.append("INBOX", [{ data: message("x") }]),
      second.append("INBOX", [{ data: message("y") }]),
    ]);
    assert.notDeepEqual(x.uids, y.uids);
    assert.equal((await filesIn(root, "cur")).length, 3);
    view.close();
    second.close();
    first.close();
  });
});

Deno.test("ops: COPY and MOVE return UID mappings; MOVE removes from the source", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.append("INBOX", [1, 2, 3].map((n) => ({ data: message(`m${n}`) })));
    await mail.append("Archive", [{ data: message("old") }]);
    const inbox = await mail.select("INBOX");
    await mail.store(inbox, [2], "add", ["\\Seen", "work"]);
    const archive = await mail.status("Archive");

    const c = await mail.copy(inbox, [3, 2, 99], "Archive");
    assert.equal(c.uidvalidity, archive.uidvalidity);
    assert.deepEqual(c.mapping, [[2, 2], [3, 3]]);
    assert.equal((await mail.status("INBOX")).messages, 3);

    const m = await mail.move(inbox, [1, 2], "Trash");
    assert.equal(m.uidvalidity, (await mail.status("Trash")).uidvalidity);
    assert.deepEqual(m.mapping, [[1, 1], [2, 2]]);
    assert.deepEqual(inbox.pending(), [
      { kind: "expunge", seq: 2, uid: 2 },
      { kind: "expunge", seq: 1, uid: 1 },
    ]);
    assert.equal((await mail.status("INBOX")).messages, 1);
    assert.equal((await filesIn(root, "cur")).length, 1);

    const trash = await mail.select("Trash");
    const infos = mail.messages(trash);
    assert.deepEqual(infos.map((i) => i.flags), [[], ["\\Seen", "work"]]);
    assert.deepEqual(await mail.read(trash, 2), message("m2"));
    const arch = await mail.select("Archive");
    assert.deepEqual(mail.messages(arch).map((i) => i.flags), [[], ["\\Seen", "work"], []]);
    assert.deepEqual(await mail.read(arch, 3), message("m3"));
    // The copy survives STORE on the original (separate names, shared body).
    await mail.store(inbox, [3], "add", ["\\Flagged"]);
    assert.deepEqual(mail.messages(arch, [3])[0]!.flags, []);
    assert.ok((await filesIn(join(root, ".Archive"), "cur")).every((n) => !n.endsWith("F")));

    await assert.rejects(
      () => mail.copy(inbox, [3], "Nope"),
      (e: unknown) => e instanceof MailStoreError && e.code === "TRYCREATE",
    );
    const ro = await mail.select("INBOX", { readOnly: true });
    await assert.rejects(
      () => mail.move(ro, [3], "Trash"),
      (e: unknown) => e instanceof MailStoreError && e.code === "CANNOT",
    );
    for (const v of [inbox, trash, arch, ro]) v.close();
    mail.close();
  });
});

Deno.test("ops: EXPUNGE removes only \\Deleted messages (UID EXPUNGE: only those given)", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.append("INBOX", [1, 2, 3].map((n) => ({ data: message(`m${n}`) })));
    const v = await mail.select("INBOX");
    await mail.store(v, [1, 2, 3], "add", ["\\Deleted"]);
    assert.deepEqual(await mail.expunge(v, [2]), [2]);
    // Another program took \Deleted off message 3: it stays.
    const all = await filesIn(root, "cur");
    assert.equal(all.length, 2);
    // Found by content: file names do not sort in UID order (they carry time and a counter).
    const third = all.find((n) =>
      Deno.readTextFileSync(join(root, "cur", n)).includes("Subject: m3")
    )!;
    await Deno.rename(join(root, "cur", third), join(root, "cur", third.replace(/T$/, "")));
    assert.deepEqual(await mail.expunge(v), [1]);
    assert.equal((await filesIn(root, "cur")).length, 1);
    assert.deepEqual(v.pending(), [
      { kind: "expunge", seq: 2, uid: 2 },
      { kind: "expunge", seq: 1, uid: 1 },
      { kind: "flags", seq: 1, uid: 3, flags: ["\\Recent"], modseq: 5 },
    ]);
    v.close();
    mail.close();
  });
});

Deno.test("ops: COPY takes the flags the file name says when another program changed them", async () => {
  await withTempRoot(async (root) => {
    const mail = await openMail(root);
    await mail.append("INBOX", [{ data: message("m") }]);
    const v = await mail.select("INBOX");
    const [name] = await filesIn(root, "cur");
    await Deno.rename(join(root, "cur", name!), join(root, "cur", name!.replace(/:2,$/, ":2,F")));
    const c = await mail.copy(v, [1], "Archive");
    const arch = await mail.select("Archive");
    assert.deepEqual(mail.messages(arch, [c.mapping[0]![1]])[0]!.flags, ["\\Flagged"]);
    await mail.refresh("Archive");
    assert.deepEqual(arch.pending(), []); // index and file name agree
    arch.close();
    v.close();
    mail.close();
  });
});
