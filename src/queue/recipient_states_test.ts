import assert from "node:assert/strict";
import { join } from "node:path";
import { QueueStore } from "./store.ts";
import { names, request, withTempDir } from "./_testing.ts";

Deno.test("QueueStore.settle() commits concurrent outcomes and removes finished messages", async () => {
  await withTempDir(async (dir) => {
    const store = await QueueStore.open(dir);
    try {
      const a = await store.enqueue(request({ recipients: ["a@example.net"] }));
      const b = await store.enqueue(request({ recipients: ["b1@example.net", "b2@example.org"] }));
      const c = await store.enqueue(request({ recipients: ["c@example.net"] }));
      await Promise.all([
        // a: delivered, so finished.
        store.settle([{ messageId: a, seq: 0, status: "delivered", attempted: true }]),
        // b: one recipient delivered, the other still queued: not finished.
        store.settle([{ messageId: b, seq: 0, status: "delivered", attempted: true }]),
        // c: failed, the DSN is not sent yet: not finished.
        store.settle([{
          messageId: c,
          seq: 0,
          status: "failed",
          attempted: true,
          lastError: "550 5.1.1 no",
        }]),
      ]);
      assert.deepEqual(store.list().map((m) => m.id), [b, c]);
      await assert.rejects(Deno.stat(store.bodyPath(a)), Deno.errors.NotFound, "a's body removed");
      await assert.rejects(store.readBody(a), Deno.errors.NotFound, "and not kept in memory");
      assert.deepEqual(await store.readBody(b), await Deno.readFile(store.bodyPath(b)));
      assert.deepEqual(store.get(b)!.recipients.map((r) => [r.status, r.attempts]), [
        ["delivered", 1],
        ["queued", 0],
      ]);
      assert.equal(store.get(c)!.recipients[0]!.lastError, "550 5.1.1 no");
      assert.deepEqual(store.notices().map((n) => [n.messageId, n.status]), [[c, "failed"]]);

      await store.settle([{ messageId: b, seq: 1, status: "delivered", attempted: true }]);
      assert.deepEqual(store.list().map((m) => m.id), [c], "b finished with its last recipient");
      assert.deepEqual(await names(join(dir, "queue", "msg")), [`${c}.eml`]);
    } finally {
      store.close();
    }
  });
});
