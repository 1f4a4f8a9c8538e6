import assert from "node:assert/strict";
import { join } from "node:path";
import { QueueStore } from "./store.ts";
import { names, request, run, withTempDir } from "./_testing.ts";

Deno.test("QueueStore opened by a second reader sees rows while the first is open", async () => {
  await withTempDir(async (dir) => {
    const server = await QueueStore.open(dir);
    try {
      const first = await server.enqueue(request());
      const cli = await QueueStore.open(dir);
      try {
        assert.deepEqual(cli.list().map((m) => m.id), [first]);
        const second = await server.enqueue(request({ sender: "" }));
        assert.deepEqual(cli.list().map((m) => m.id), [first, second], "sees later commits");
        assert.deepEqual(cli.get(second), server.get(second));
        assert.ok(await Deno.stat(server.bodyPath(first)), "the second open removed nothing");
        assert.ok(await Deno.stat(server.bodyPath(second)));
      } finally {
        cli.close();
      }
      // A real second process, as `postie queue list` is.
      const code = `import { QueueStore } from ${JSON.stringify(import.meta.resolve("./store.ts"))};
        const q = await QueueStore.open(${JSON.stringify(dir)});
        console.log(JSON.stringify(q.list().map((m) => m.id)));
        q.close();`;
      const out = await run(Deno.execPath(), "eval", "--quiet", code);
      assert.deepEqual(JSON.parse(out).length, 2);
      assert.equal(server.list().length, 2);
    } finally {
      server.close();
    }
  });
});

Deno.test("QueueStore.open() removes orphan body and tmp files left by a crash", async () => {
  await withTempDir(async (dir) => {
    let store = await QueueStore.open(dir);
    const real = await store.enqueue(request());
    store.close();
    const msgDir = join(dir, "queue", "msg");
    // A crash after the rename but before the commit, and one during the body write.
    const orphan = "0000000000000zzzzz";
    await Deno.writeTextFile(join(msgDir, `${orphan}.eml`), "never acknowledged");
    await Deno.writeTextFile(join(msgDir, `tmp-${orphan}`), "half writ");
    await Deno.writeTextFile(join(msgDir, "README"), "not ours, left alone");

    store = await QueueStore.open(dir);
    try {
      assert.deepEqual(await names(msgDir), [`${real}.eml`, "README"]);
      assert.deepEqual(store.list().map((m) => m.id), [real]);
    } finally {
      store.close();
    }
  });
});

Deno.test("QueueStore.open() leaves files alone while an enqueue holds the lock", async () => {
  await withTempDir(async (dir) => {
    (await QueueStore.open(dir)).close();
    const msgDir = join(dir, "queue", "msg");
    const inFlight = join(msgDir, "tmp-0000000000000zzzzz");
    await Deno.writeTextFile(inFlight, "being written");
    // What enqueue() holds (in any process) from before the tmp file until after the commit.
    const lock = await Deno.open(join(dir, "queue", "lock"), { read: true, write: true });
    try {
      await lock.lock(false);
      (await QueueStore.open(dir)).close();
      assert.ok(await Deno.stat(inFlight), "an in-flight file is not an orphan");
    } finally {
      lock.close();
    }
    (await QueueStore.open(dir)).close();
    await assert.rejects(Deno.stat(inFlight), Deno.errors.NotFound);
  });
});
