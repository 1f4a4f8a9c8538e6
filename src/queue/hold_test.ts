import assert from "node:assert/strict";
import { QueueStore } from "./store.ts";
import { request, withTempDir } from "./_testing.ts";
import { formatQueueList } from "./format_queue_list.ts";

Deno.test("QueueStore.hold/release: an account's mail is held, listed as held, and released", async () => {
  await withTempDir(async (dir) => {
    const q = await QueueStore.open(dir);
    try {
      const a1 = await q.enqueue(
        request({ account: "mallory@a.example", recipients: ["x@example.net"] }),
      );
      const a2 = await q.enqueue(
        request({ account: "mallory@a.example", recipients: ["x@example.net"] }),
      );
      const b = await q.enqueue(
        request({ account: "alice@a.example", recipients: ["x@example.net"] }),
      );
      const now = new Date(Date.now() + 1000);
      assert.equal(q.due(now).length, 3);
      assert.equal(q.hold({ account: "mallory@a.example" }, "rate limit reached"), 2);
      assert.equal(q.hold({ account: "mallory@a.example" }, "again"), 0, "already held");
      assert.deepEqual(q.counts(), { messages: 3, held: 2, recipients: 3 });
      assert.deepEqual(q.due(now).map((d) => d.messageId), [b]);
      assert.equal(q.get(a1)?.held, "rate limit reached");
      assert.match(formatQueueList(q.list(), now), new RegExp(`${a1}.*\\n.*HELD: rate limit`));
      assert.equal(q.release({ id: a1 }), 1);
      assert.deepEqual(q.due(now).map((d) => d.messageId).sort(), [a1, b].sort());
      assert.equal(q.release({ account: "mallory@a.example" }), 1);
      assert.equal(q.get(a2)?.held, undefined);
      assert.equal(q.due(now).length, 3);
      assert.deepEqual(q.counts(), { messages: 3, held: 0, recipients: 3 });
      assert.equal(q.bounce(b), 1);
      assert.deepEqual(q.counts(), { messages: 3, held: 0, recipients: 2 }, "failed: not waiting");
    } finally {
      q.close();
    }
  });
});

Deno.test("QueueStore.expireHeld: held mail expires like other mail and is due for its DSN", async () => {
  await withTempDir(async (dir) => {
    const q = await QueueStore.open(dir);
    try {
      const id = await q.enqueue(
        request({ account: "mallory@a.example", recipients: ["x@example.net"] }),
      );
      q.hold({ id }, "rate limit");
      assert.equal(q.expireHeld(new Date(Date.now() - 3600_000), "held too long"), 0, "not old");
      assert.equal(q.expireHeld(new Date(Date.now() + 3600_000), "held too long"), 1);
      const m = q.get(id)!;
      assert.equal(m.recipients[0]?.status, "failed");
      assert.equal(m.recipients[0]?.lastError, "held too long");
      assert.equal(q.notices().length, 1, "the sender is told");
    } finally {
      q.close();
    }
  });
});
