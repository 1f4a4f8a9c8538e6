import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DeliveryError } from "../delivery/maildir.ts";
import type { QueuedMessage } from "./queued_message.ts";
import { QueueStore } from "./store.ts";
import { names, request, run, withTempDir } from "./_testing.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Write to `path` until the file system is full. */
async function fill(path: string, blockSize: number): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(blockSize);
  try {
    for (;;) await f.write(block);
  } catch {
    // ENOSPC: the disk is full
  } finally {
    f.close();
  }
}

/** Run `fn` with a fresh 1 MiB tmpfs mounted on a temporary directory (needs root). */
async function withTmpfs(fn: (mnt: string) => Promise<void>): Promise<void> {
  const mnt = await Deno.makeTempDir({ prefix: "postie-queue-full-" });
  try {
    await run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt);
    try {
      await fn(mnt);
    } finally {
      await run("umount", mnt);
    }
  } finally {
    await Deno.remove(mnt, { recursive: true });
  }
}

Deno.test("QueueStore.enqueue() writes the body file and its rows, recipients queued", async () => {
  await withTempDir(async (dir) => {
    const now = new Date("2030-01-02T03:04:05.678Z");
    const store = await QueueStore.open(dir, { now: () => now });
    try {
      const req = request({ account: "alice@example.test" });
      const id = await store.enqueue(req);
      assert.match(id, /^[0-9a-z]{18}$/);

      const msgDir = join(dir, "queue", "msg");
      assert.deepEqual(await names(msgDir), [`${id}.eml`], "no tmp file left");
      assert.equal(store.bodyPath(id), join(msgDir, `${id}.eml`));
      const body = await Deno.readFile(store.bodyPath(id));
      const expected = req.header + "Subject: hi\r\n\r\nhello\r\n";
      assert.equal(dec.decode(body), expected);

      const msg = store.get(id);
      const want: QueuedMessage = {
        id,
        created: now.toISOString(),
        size: enc.encode(expected).length,
        sender: "alice@example.test",
        account: "alice@example.test",
        recipients: ["bob@example.net", "carol@example.org"].map((address) => ({
          address,
          status: "queued",
          attempts: 0,
          nextAttempt: now.toISOString(),
        })),
      };
      assert.deepEqual(msg, want);
      assert.deepEqual(store.list(), [want]);
      assert.equal(store.get("000000000000000000"), undefined);

      for (const d of [join(dir, "queue"), msgDir]) {
        assert.equal((await Deno.stat(d)).mode! & 0o777, 0o700, d);
      }
      assert.equal((await Deno.stat(store.bodyPath(id))).mode! & 0o777, 0o600);
    } finally {
      store.close();
    }
  });
});

Deno.test("QueueStore.enqueue() stores a null sender, no account, no header", async () => {
  await withTempDir(async (dir) => {
    const store = await QueueStore.open(dir);
    try {
      const id = await store.enqueue(
        request({ sender: "", header: "", recipients: ["x@example.net", "x@example.net"] }),
      );
      const msg = store.get(id)!;
      assert.equal(msg.sender, "");
      assert.equal("account" in msg, false);
      assert.deepEqual(msg.recipients.map((r) => r.address), ["x@example.net"], "deduplicated");
      assert.equal(
        dec.decode(await Deno.readFile(store.bodyPath(id))),
        "Subject: hi\r\n\r\nhello\r\n",
      );
      await assert.rejects(store.enqueue(request({ recipients: [] })), TypeError);
    } finally {
      store.close();
    }
  });
});

Deno.test("QueueStore ids are unique and sort in enqueue order", async () => {
  await withTempDir(async (dir) => {
    // A clock that stands still, then goes backwards: ids must still sort in enqueue order.
    let t = Date.parse("2030-01-01T00:00:00Z");
    const store = await QueueStore.open(dir, { now: () => new Date(t) });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        ids.push(await store.enqueue(request({ recipients: [`r${i}@example.net`] })));
        if (i === 9) t += 1500;
      }
      assert.equal(new Set(ids).size, ids.length, "unique");
      assert.deepEqual([...ids].sort(), ids, "sortable");
      assert.deepEqual(store.list().map((m) => m.id), ids);
      assert.deepEqual(
        store.list().map((m) => m.recipients[0]!.address),
        ids.map((_, i) => `r${i}@example.net`),
      );
      assert.throws(() => store.bodyPath("../../etc/passwd"), TypeError);
    } finally {
      store.close();
    }
  });
});

Deno.test("QueueStore.enqueue() group commit: concurrent enqueues share commits, each durable when it resolves", async () => {
  await withTempDir(async (dir) => {
    const store = await QueueStore.open(dir);
    // Another connection, as another process would have: it sees only committed rows.
    const reader = new DatabaseSync(join(dir, "queue", "queue.db"), { readOnly: true });
    try {
      const seenAtResolve: boolean[] = [];
      const n = 40;
      const ids = await Promise.all(
        Array.from(
          { length: n },
          (_, i) =>
            store.enqueue(request({ recipients: [`r${i}@example.net`] })).then(async (id) => {
              const row = reader.prepare(
                "SELECT COUNT(*) AS n FROM recipients WHERE message_id = ?",
              )
                .get(id) as { n: number };
              // The body is complete on disk too.
              const body = await Deno.readTextFile(store.bodyPath(id));
              seenAtResolve.push(row.n === 1 && body.endsWith("hello\r\n"));
              return id;
            }),
        ),
      );
      assert.equal(new Set(ids).size, n);
      assert.deepEqual(seenAtResolve, Array(n).fill(true), "committed before it resolved");
      assert.ok(
        store.enqueueCommits < n,
        `${n} concurrent enqueues took ${store.enqueueCommits} commits`,
      );
      assert.equal(store.list().length, n);
      assert.deepEqual(
        await names(join(dir, "queue", "msg")),
        ids.map((id) => `${id}.eml`).sort(),
        "one body file each, no tmp files",
      );
    } finally {
      reader.close();
      store.close();
    }
  });
});

Deno.test("QueueStore.enqueue() group commit: a message that fails does not fail the others", async () => {
  await withTempDir(async (dir) => {
    const store = await QueueStore.open(dir);
    try {
      const db = new DatabaseSync(join(dir, "queue", "queue.db"));
      db.exec(
        `CREATE TRIGGER broken BEFORE INSERT ON recipients WHEN NEW.address = 'bad@example.net'
        BEGIN SELECT RAISE(ABORT, 'simulated failure'); END`,
      );
      db.close();
      const results = await Promise.allSettled(
        ["a", "b", "bad", "c", "d"].map((r) =>
          store.enqueue(request({ recipients: [`${r}@example.net`] }))
        ),
      );
      assert.deepEqual(results.map((r) => r.status), [
        "fulfilled",
        "fulfilled",
        "rejected",
        "fulfilled",
        "fulfilled",
      ]);
      const bad = results[2] as PromiseRejectedResult;
      assert.ok(bad.reason instanceof DeliveryError && bad.reason.code === 451);
      assert.ok(store.enqueueCommits < 5, "they were committed together");
      const ok = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
      assert.deepEqual(store.list().map((m) => m.id), ok, "the failed one left no row");
      assert.deepEqual(
        await names(join(dir, "queue", "msg")),
        ok.map((id) => `${id}.eml`).sort(),
        "and no file",
      );
    } finally {
      store.close();
    }
  });
});

Deno.test("QueueStore.enqueue() on a full disk: 452 4.3.1, no file, no row", async () => {
  await withTmpfs(async (mnt) => {
    const store = await QueueStore.open(mnt);
    try {
      await fill(join(mnt, "filler"), 64 * 1024);
      const big = enc.encode(("y".repeat(998) + "\r\n").repeat(200)); // 200 KB > what is left
      await assert.rejects(
        store.enqueue(request({ content: [big] })),
        (e: unknown) =>
          e instanceof DeliveryError && e.code === 452 && e.enhanced === "4.3.1" && e.temporary,
      );
      assert.deepEqual(await names(join(mnt, "queue", "msg")), []);
      assert.deepEqual(store.list(), []);

      await Deno.remove(join(mnt, "filler"));
      const id = await store.enqueue(request({ content: [big] }));
      assert.deepEqual(store.list().map((m) => m.id), [id], "space back: accepted");
    } finally {
      store.close();
    }
  });
});

Deno.test("QueueStore.enqueue() gives 452 4.3.1 when only the database is full", async () => {
  await withTmpfs(async (mnt) => {
    const store = await QueueStore.open(mnt);
    try {
      // Leave exactly one free page (4 KiB on x86_64): enough for the small body, not for the
      // WAL frames of the commit.
      const reserve = join(mnt, "reserve");
      await Deno.writeFile(reserve, new Uint8Array(4096));
      await fill(join(mnt, "filler"), 4096);
      await Deno.remove(reserve);
      await assert.rejects(
        store.enqueue(request()),
        (e: unknown) => e instanceof DeliveryError && e.code === 452 && e.enhanced === "4.3.1",
      );
      assert.deepEqual(await names(join(mnt, "queue", "msg")), [], "body file removed");
      assert.deepEqual(store.list(), []);

      await Deno.remove(join(mnt, "filler"));
      const id = await store.enqueue(request());
      assert.deepEqual(store.list().map((m) => m.id), [id]);
    } finally {
      store.close();
    }
  });
});

Deno.test("QueueStore.enqueue() rejects 451 4.3.0 when the database fails otherwise", async () => {
  await withTempDir(async (dir) => {
    const store = await QueueStore.open(dir);
    try {
      // Make the recipient insert fail, after the message row went in.
      const db = new DatabaseSync(join(dir, "queue", "queue.db"));
      db.exec(`CREATE TRIGGER broken BEFORE INSERT ON recipients
        BEGIN SELECT RAISE(ABORT, 'simulated failure'); END`);
      db.close();
      await assert.rejects(
        store.enqueue(request()),
        (e: unknown) => e instanceof DeliveryError && e.code === 451 && e.enhanced === "4.3.0",
      );
      assert.deepEqual(await names(join(dir, "queue", "msg")), [], "body file removed");
      assert.deepEqual(store.list(), [], "message row rolled back");
    } finally {
      store.close();
    }
  });
});

Deno.test("QueueStore.enqueue() with a given id: queued once, a leftover body file is overwritten", async () => {
  await withTempDir(async (dir) => {
    const store = await QueueStore.open(dir);
    try {
      const id = "0000000000000abcde";
      // A body file left by an enqueue that a crash interrupted (no rows).
      await Deno.writeTextFile(store.bodyPath(id), "partial garbage that is longer than the body");
      assert.equal(await store.enqueue(request({ id })), id);
      assert.equal(store.has(id), true);
      const body = dec.decode(await Deno.readFile(store.bodyPath(id)));
      assert.ok(body.endsWith("Subject: hi\r\n\r\nhello\r\n"), body);
      assert.ok(!body.includes("garbage"));
      // The same id again (a replay): nothing new.
      assert.equal(await store.enqueue(request({ id, recipients: ["x@example.net"] })), id);
      assert.equal(store.list().length, 1);
      assert.deepEqual(store.get(id)?.recipients.map((r) => r.address), [
        "bob@example.net",
        "carol@example.org",
      ]);
    } finally {
      store.close();
    }
  });
});
