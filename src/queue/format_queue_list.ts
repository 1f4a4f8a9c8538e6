/**
 * The human view of the queue for `postie queue list` and `postie queue show`: a table of
 * messages with one line per recipient, control characters made visible.
 *
 * @module
 */

import type { QueuedMessage, QueueRecipient } from "./queued_message.ts";

/** Control characters (which a remote reply could carry) shown as \xNN, not sent to a tty. */
function printable(s: string): string {
  // deno-lint-ignore no-control-regex
  const control = /[\x00-\x1f\x7f-\x9f]/g;
  return s.replace(control, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** A duration as "45s", "12m", "3h05m" or "2d04h"; negative (clock skew) counts as 0. */
function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}

function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function formatRecipient(r: QueueRecipient, now: Date): string {
  const parts = [`${r.status}, ${r.attempts} ${r.attempts === 1 ? "attempt" : "attempts"}`];
  if (r.status === "queued") {
    const wait = Date.parse(r.nextAttempt) - now.getTime();
    parts.push(wait > 0 ? `next in ${formatDuration(wait)}` : "due now");
  }
  const line = `    ${printable(r.address)}  ${parts.join(", ")}`;
  return r.lastError === undefined ? line : `${line}: ${printable(r.lastError)}`;
}

/**
 * Render the queue for `postie queue list`: a table of id, age, size and sender (`<>` for the
 * null sender), each message followed by one indented line per recipient with its status,
 * attempts, next attempt and last error, then a summary line. No trailing newline.
 *
 * @param messages as returned by `QueueStore.list()`.
 * @param now the reference time for ages.
 * @returns the text, or "queue is empty".
 *
 * @example
 * ```ts
 * import { formatQueueList } from "./format_queue_list.ts";
 * formatQueueList([]); // "queue is empty"
 * ```
 */
export function formatQueueList(messages: QueuedMessage[], now: Date = new Date()): string {
  if (messages.length === 0) return "queue is empty";
  const rows = messages.map((m) => ({
    id: m.id,
    age: formatDuration(now.getTime() - Date.parse(m.created)),
    size: formatSize(m.size),
    sender: m.sender === "" ? "<>" : printable(m.sender),
  }));
  const w = {
    id: Math.max(2, ...rows.map((r) => r.id.length)),
    age: Math.max(3, ...rows.map((r) => r.age.length)),
    size: Math.max(4, ...rows.map((r) => r.size.length)),
  };
  const line = (id: string, age: string, size: string, sender: string) =>
    `${id.padEnd(w.id)}  ${age.padStart(w.age)}  ${size.padStart(w.size)}  ${sender}`;
  const out = [line("ID", "AGE", "SIZE", "SENDER")];
  let pending = 0;
  let total = 0;
  for (const [i, m] of messages.entries()) {
    const r = rows[i]!;
    out.push(line(r.id, r.age, r.size, r.sender));
    if (m.held !== undefined) out.push(`    HELD: ${printable(m.held)}`);
    for (const rcpt of m.recipients) {
      out.push(formatRecipient(rcpt, now));
      total++;
      if (rcpt.status === "queued") pending++;
    }
  }
  const n = messages.length;
  out.push(
    `${n} ${n === 1 ? "message" : "messages"}, ${total} ${
      total === 1 ? "recipient" : "recipients"
    } (${pending} queued)`,
  );
  return out.join("\n");
}
