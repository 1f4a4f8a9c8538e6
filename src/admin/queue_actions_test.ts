import assert from "node:assert/strict";
import { QueueStore } from "../queue/store.ts";
import {
  bounceMessage,
  decodeHeaders,
  deleteMessage,
  holdMessage,
  releaseMessage,
  retryMessage,
  showMessage,
} from "./queue_actions.ts";
import { refuses } from "./_testing.ts";

const enc = new TextEncoder();

async function withQueue(fn: (q: QueueStore) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-admin-queue-" });
  const q = await QueueStore.open(dir);
  try {
    await fn(q);
  } finally {
    q.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function enqueue(q: QueueStore, content: Uint8Array[], recipients = ["bob@example.net"]) {
  return q.enqueue({
    sender: "alice@example.test",
    recipients,
    header: "Received: from client.example\r\n",
    content,
  });
}

Deno.test("showMessage(): the message and its header section, not the body", async () => {
  await withQueue(async (q) => {
    const id = await enqueue(q, [
      enc.encode("Subject: hi\r\nFrom: Ren\u00e9 <a@example.test>\r"),
      enc.encode("\n\r\nthe body, not shown\r\n"),
    ]);
    const { message, headers } = await showMessage(q, id);
    assert.equal(message.id, id);
    assert.equal(message.sender, "alice@example.test");
    assert.equal(
      headers,
      "Received: from client.example\r\nSubject: hi\r\nFrom: Ren\u00e9 <a@example.test>\r\n\r\n",
    );
  });
});

Deno.test("showMessage(): at most 64 KiB of a header without end; Latin-1 when not UTF-8", async () => {
  await withQueue(async (q) => {
    const long = await enqueue(q, [enc.encode("X-Long: " + "a".repeat(100_000))]);
    const { headers } = await showMessage(q, long);
    assert.equal(headers.length, 64 * 1024);
    const latin = await enqueue(q, [
      Uint8Array.from([0x53, 0x3a, 0x20, 0xe9, 13, 10, 13, 10, 0x62]),
    ]);
    assert.equal(
      (await showMessage(q, latin)).headers,
      "Received: from client.example\r\nS: \u00e9\r\n\r\n",
    );
    assert.equal(decodeHeaders(Uint8Array.from([0xc3, 0xa9])), "\u00e9");
    assert.equal(decodeHeaders(Uint8Array.from([0xc3])), "\u00c3");
  });
});

Deno.test("hold, release, retry, bounce and delete act on queued messages; unknown ids are missing", async () => {
  await withQueue(async (q) => {
    const id = await enqueue(q, [enc.encode("Subject: a\r\n\r\nx\r\n")], [
      "b@example.net",
      "c@example.net",
    ]);
    assert.equal(holdMessage(q, id), 1);
    assert.equal(q.get(id)?.held, "held by the administrator");
    assert.equal(holdMessage(q, id), 0);
    assert.equal(releaseMessage(q, id), 1);
    assert.equal(q.get(id)?.held, undefined);
    assert.equal(retryMessage(q, id), 2);
    assert.equal(bounceMessage(q, id), 2);
    assert.deepEqual(q.get(id)?.recipients.map((r) => r.status), ["failed", "failed"]);
    assert.equal(await deleteMessage(q, id), 1);
    assert.equal(q.get(id), undefined);
    for (const bad of [id, "zzzzzzzzzzzzzzzzzz", "../../etc/passwd", ""]) {
      for (const act of [retryMessage, holdMessage, releaseMessage, bounceMessage]) {
        await refuses(() => act(q, bad), "missing", /no message .* in the queue/);
      }
      await refuses(() => deleteMessage(q, bad), "missing", /in the queue/);
      await refuses(() => showMessage(q, bad), "missing", /in the queue/);
    }
  });
});
