import assert from "node:assert/strict";
import { formatQueueList } from "./format_queue_list.ts";
import type { QueuedMessage } from "./queued_message.ts";

Deno.test("formatQueueList() says the queue is empty", () => {
  assert.equal(formatQueueList([]), "queue is empty");
});

Deno.test("formatQueueList() shows each message and one line per recipient", () => {
  const now = new Date("2030-01-02T12:00:00Z");
  const messages: QueuedMessage[] = [
    {
      id: "lzaaaaaaa000abcdef",
      created: "2030-01-01T08:55:00Z",
      size: 1536,
      sender: "",
      recipients: [
        {
          address: "bob@example.net",
          status: "queued",
          attempts: 3,
          nextAttempt: "2030-01-02T12:30:00Z",
          lastError: "451 4.7.1 Greylisted,\r\n\x1b[31mtry later",
        },
        {
          address: "carol@example.org",
          status: "failed",
          attempts: 1,
          nextAttempt: "2030-01-01T09:00:00Z",
          lastError: "550 5.1.1 No such user",
        },
      ],
    },
    {
      id: "lzbbbbbbb000abcdef",
      created: "2030-01-02T11:59:15Z",
      size: 300,
      sender: "alice@example.test",
      account: "alice@example.test",
      recipients: [
        {
          address: "dave@example.com",
          status: "queued",
          attempts: 0,
          nextAttempt: "2030-01-02T11:59:15Z",
        },
        {
          address: "erin@example.com",
          status: "delivered",
          attempts: 1,
          nextAttempt: "2030-01-02T11:59:15Z",
        },
      ],
    },
  ];
  assert.equal(
    formatQueueList(messages, now),
    [
      "ID                    AGE     SIZE  SENDER",
      "lzaaaaaaa000abcdef  1d03h  1.5 KiB  <>",
      "    bob@example.net  queued, 3 attempts, next in 30m: " +
      "451 4.7.1 Greylisted,\\x0d\\x0a\\x1b[31mtry later",
      "    carol@example.org  failed, 1 attempt: 550 5.1.1 No such user",
      "lzbbbbbbb000abcdef    45s    300 B  alice@example.test",
      "    dave@example.com  queued, 0 attempts, due now",
      "    erin@example.com  delivered, 1 attempt",
      "2 messages, 4 recipients (2 queued)",
    ].join("\n"),
  );
});
