/**
 * Queue ids: 18 characters of lower-case letters and digits, base36 time (9), a sequence
 * number (3) and random (6), so that they sort by time of enqueue and are safe in file names.
 *
 * @module
 */

/** Queue ids: base36 time (9), sequence (3), random (6); lower-case letters and digits. */
const QUEUE_ID_REGEXP = /^[0-9a-z]{18}$/;

let lastMs = -1;
let seq = 0;

/** A new queue id: sortable by time (monotonic within this process) and unique. */
export function newQueueId(now: Date): string {
  let ms = Math.max(now.getTime(), 0);
  if (ms <= lastMs) {
    ms = lastMs;
    seq++;
    if (seq >= 36 ** 3) {
      ms++;
      seq = 0;
    }
  } else {
    seq = 0;
  }
  lastMs = ms;
  const random = crypto.getRandomValues(new Uint32Array(1))[0]! % 36 ** 6;
  return ms.toString(36).padStart(9, "0") + seq.toString(36).padStart(3, "0") +
    random.toString(36).padStart(6, "0");
}

/** Whether `id` has the form of a queue id (so a path may be built from it). */
export function isQueueId(id: string): boolean {
  return QUEUE_ID_REGEXP.test(id);
}
