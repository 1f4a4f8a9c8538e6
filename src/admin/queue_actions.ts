/**
 * Queue actions, one implementation for `postie queue ...` and the admin page: retry now,
 * hold, release, delete (silently), bounce (the sender gets a DSN), and show a message with its
 * header section. An id that is not queued is an {@link ActionError} `missing`; the queue works
 * while the server runs (the worker picks up changes within a second).
 *
 * @module
 */

import { HEADER_SECTION_LIMIT, headerSection } from "../queue/header_section.ts";
import type { QueuedMessage } from "../queue/queued_message.ts";
import type { QueueStore } from "../queue/store.ts";
import { ActionError } from "./action_error.ts";

/** Why a message held from the CLI or the admin page is held. */
export const HELD_BY_ADMIN = "held by the administrator";

function queued(queue: QueueStore, id: string): QueuedMessage {
  // get() is a lookup by value, safe for any string; an unknown or malformed id is not queued.
  const m = typeof id === "string" && id !== "" ? queue.get(id) : undefined;
  if (!m) throw new ActionError("missing", `no message ${id} in the queue`);
  return m;
}

/** Make the message's queued recipients due now. Returns how many. */
export function retryMessage(queue: QueueStore, id: string): number {
  return queue.flush(queued(queue, id).id);
}

/** Hold a message: not delivered until released. Returns 1 when it was held now, else 0. */
export function holdMessage(queue: QueueStore, id: string): number {
  return queue.hold({ id: queued(queue, id).id }, HELD_BY_ADMIN);
}

/** Release a held message: due now. Returns 1 when it was held, else 0. */
export function releaseMessage(queue: QueueStore, id: string): number {
  return queue.release({ id: queued(queue, id).id });
}

/** Delete a message without telling anyone. Returns 1 (the message deleted). */
export async function deleteMessage(queue: QueueStore, id: string): Promise<number> {
  return await queue.delete(queued(queue, id).id) ? 1 : 0;
}

/** Give up on a message now: its queued recipients fail, the sender gets a DSN. Returns how many. */
export function bounceMessage(queue: QueueStore, id: string): number {
  return queue.bounce(queued(queue, id).id);
}

/** Text of a header section: UTF-8 when it is valid UTF-8, else Latin-1 (every byte a char). */
export function decodeHeaders(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return new TextDecoder("latin1").decode(bytes);
  }
}

/**
 * A queued message and the header section of its body file (our trace fields first, then the
 * message's own), at most 64 KiB, read without reading the rest of the body.
 */
export async function showMessage(
  queue: QueueStore,
  id: string,
): Promise<{ message: QueuedMessage; headers: string }> {
  const message = queued(queue, id);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(queue.bodyPath(message.id), { read: true });
  } catch (e) {
    // Delivered and removed between the lookup and the open.
    if (e instanceof Deno.errors.NotFound) {
      throw new ActionError("missing", `no message ${id} in the queue`);
    }
    throw e;
  }
  // Only the first HEADER_SECTION_LIMIT bytes can hold what headerSection() returns.
  const buf = new Uint8Array(HEADER_SECTION_LIMIT);
  let got = 0;
  try {
    while (got < buf.length) {
      const n = await file.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
  } finally {
    file.close();
  }
  return { message, headers: decodeHeaders(headerSection([buf.subarray(0, got)])) };
}
