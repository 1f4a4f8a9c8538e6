/**
 * Queued messages as the operator sees them (`postie queue list|show`): reading the message
 * and recipient rows of the queue database into {@link QueuedMessage} values.
 *
 * @module
 */

import type { QueueDatabase, Row } from "./queue_database.ts";

/** One recipient of a queued message, with its own delivery state. */
export interface QueueRecipient {
  /** The forward-path address, as given in RCPT TO. */
  address: string;
  /** `queued` until delivered, or failed permanently (a DSN is due or was sent). */
  status: "queued" | "delivered" | "failed";
  /** Delivery attempts made so far. */
  attempts: number;
  /** When the next attempt is due (ISO 8601). */
  nextAttempt: string;
  /** The last error, such as the remote reply to the last failed attempt. */
  lastError?: string;
}

/** A queued message as listed. */
export interface QueuedMessage {
  /** Queue id; sortable by time of enqueue. */
  id: string;
  /** When the message was accepted (ISO 8601). */
  created: string;
  /** Size of the stored body file in bytes (trace header block plus content). */
  size: number;
  /** The reverse-path; "" for the null sender (`MAIL FROM:<>`). */
  sender: string;
  /** The authenticated submitter, if any. */
  account?: string;
  /** Why the message is held (not delivered until `postie queue release`), when it is. */
  held?: string;
  /** Recipients in RCPT order. */
  recipients: QueueRecipient[];
}

/** All queued messages, oldest first. */
export function listMessages(db: QueueDatabase): QueuedMessage[] {
  const messages = db.stmt(
    "SELECT id, created, size, sender, account, held FROM messages ORDER BY created, id",
  ).all() as Row[];
  const byId = new Map<string, QueueRecipient[]>();
  const rows = db.stmt(
    "SELECT message_id, address, status, attempts, next_attempt, last_error FROM recipients " +
      "ORDER BY message_id, seq",
  ).all() as Row[];
  for (const r of rows) {
    const id = String(r["message_id"]);
    let list = byId.get(id);
    if (!list) byId.set(id, list = []);
    list.push(toRecipient(r));
  }
  return messages.map((m) => toMessage(m, byId.get(String(m["id"])) ?? []));
}

/** How much is queued: messages, held messages, recipients still to be delivered. */
export interface QueueCounts {
  messages: number;
  held: number;
  /** Recipients still `queued` (not delivered, not failed). */
  recipients: number;
}

/** The {@link QueueCounts}, by counting in the database (no rows are read). */
export function countMessages(db: QueueDatabase): QueueCounts {
  const m = db.stmt(
    "SELECT count(*) AS n, count(held) AS h FROM messages",
  ).get() as Row;
  const r = db.stmt("SELECT count(*) AS n FROM recipients WHERE status = 'queued'").get() as Row;
  return { messages: Number(m["n"]), held: Number(m["h"]), recipients: Number(r["n"]) };
}

/** Whether a message with this id is queued. */
export function hasMessage(db: QueueDatabase, id: string): boolean {
  return db.stmt("SELECT 1 AS x FROM messages WHERE id = ?").get(id) !== undefined;
}

/** One queued message, or undefined when there is none with that id. */
export function getMessage(db: QueueDatabase, id: string): QueuedMessage | undefined {
  const m = db.stmt(
    "SELECT id, created, size, sender, account, held FROM messages WHERE id = ?",
  ).get(id) as Row | undefined;
  if (!m) return undefined;
  const rows = db.stmt(
    "SELECT address, status, attempts, next_attempt, last_error FROM recipients " +
      "WHERE message_id = ? ORDER BY seq",
  ).all(id) as Row[];
  return toMessage(m, rows.map(toRecipient));
}

function toRecipient(r: Row): QueueRecipient {
  const out: QueueRecipient = {
    address: String(r["address"]),
    status: String(r["status"]) as QueueRecipient["status"],
    attempts: Number(r["attempts"]),
    nextAttempt: String(r["next_attempt"]),
  };
  if (r["last_error"] != null) out.lastError = String(r["last_error"]);
  return out;
}

function toMessage(m: Row, recipients: QueueRecipient[]): QueuedMessage {
  const out: QueuedMessage = {
    id: String(m["id"]),
    created: String(m["created"]),
    size: Number(m["size"]),
    sender: String(m["sender"]),
    recipients,
  };
  if (m["account"] != null) out.account = String(m["account"]);
  if (m["held"] != null) out.held = String(m["held"]);
  return out;
}
