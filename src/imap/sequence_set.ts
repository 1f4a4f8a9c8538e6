/**
 * IMAP sequence sets: message sequence numbers and UIDs, RFC 3501 §9 (`sequence-set`).
 *
 * ```
 * seq-number = nz-number / "*"
 * seq-range  = seq-number ":" seq-number
 * sequence-set = (seq-number / seq-range) *("," sequence-set)
 * ```
 *
 * "*" is the largest number in use (the message count, or the highest UID); `3:1` is the same as
 * `1:3` (RFC 3501 §9, "seq-range"). Resolution substitutes "*", orders each range, and clips
 * it to 1..max, so for UIDs `N:*` with N > max still contains max, as RFC 3501 §6.4.8 requires
 * ("UID range of 559:* always includes the UID of the last message"). RFC 5182's saved result
 * `$` parses to `{ kind: "saved" }`; the session substitutes the saved set before resolving.
 *
 * @module
 */

import { ParseError } from "./parse_error.ts";

/** A number in a sequence set: 1..4294967295, or "*" for the largest in use. */
export type SeqNumber = number | "*";

/** One range of a sequence set, as written (`start` may exceed `end`). */
export interface SeqRange {
  readonly start: SeqNumber;
  readonly end: SeqNumber;
}

/** A parsed sequence set: explicit ranges, or RFC 5182's `$` (the saved search result). */
export type SequenceSet =
  | { readonly kind: "set"; readonly ranges: readonly SeqRange[] }
  | { readonly kind: "saved" };

/** An inclusive interval [first, last] of resolved numbers, first ≤ last. */
export type Interval = readonly [number, number];

/** The largest nz-number (RFC 3501 §9: unsigned 32-bit). */
export const MAX_NUMBER = 4294967295;

function parseSeqNumber(text: string): SeqNumber {
  if (text === "*") return "*";
  if (!/^[1-9][0-9]{0,9}$/.test(text)) {
    throw new ParseError(`Invalid sequence number: ${text.slice(0, 20)}`);
  }
  const n = Number(text);
  if (n > MAX_NUMBER) throw new ParseError("Sequence number out of range");
  return n;
}

/**
 * Parse a sequence set (RFC 3501 §9 `sequence-set`; `$` per RFC 5182 §2).
 *
 * @throws ParseError on anything else, e.g. "0", "1:", "1,,2", "", numbers above 4294967295.
 */
export function parseSequenceSet(text: string): SequenceSet {
  if (text === "$") return { kind: "saved" };
  if (text === "") throw new ParseError("Empty sequence set");
  const ranges: SeqRange[] = [];
  for (const part of text.split(",")) {
    const colon = part.indexOf(":");
    if (colon < 0) {
      const n = parseSeqNumber(part);
      ranges.push({ start: n, end: n });
    } else {
      ranges.push({
        start: parseSeqNumber(part.slice(0, colon)),
        end: parseSeqNumber(part.slice(colon + 1)),
      });
    }
  }
  return { kind: "set", ranges };
}

function rangesOf(set: SequenceSet): readonly SeqRange[] {
  if (set.kind === "saved") {
    throw new TypeError("the saved search result ($) must be substituted before resolving");
  }
  return set.ranges;
}

/**
 * Resolve a set against `max` (message count or highest UID): sorted, merged, non-overlapping
 * intervals within 1..max. Empty when max is 0. Does not expand ranges, so `1:4294967295` is
 * cheap.
 *
 * @throws TypeError for `$` (see the module note).
 */
export function resolve(set: SequenceSet, max: number): Interval[] {
  if (max <= 0) return [];
  const raw: [number, number][] = [];
  for (const r of rangesOf(set)) {
    const a = r.start === "*" ? max : r.start;
    const b = r.end === "*" ? max : r.end;
    const lo = Math.min(a, b);
    const hi = Math.min(Math.max(a, b), max);
    if (lo <= hi) raw.push([lo, hi]);
  }
  raw.sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of raw) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** Whether `n` is in the set when "*" means `max` (see {@link resolve}). */
export function contains(set: SequenceSet, n: number, max: number): boolean {
  if (n < 1 || n > max) return false;
  for (const r of rangesOf(set)) {
    const a = r.start === "*" ? max : r.start;
    const b = r.end === "*" ? max : r.end;
    if (n >= Math.min(a, b) && n <= Math.max(a, b)) return true;
  }
  return false;
}

/**
 * The largest explicit number in the set (ignoring "*"), 0 if none. A session answering with
 * message sequence numbers can compare it with the message count to reply BAD for a number that
 * does not exist (RFC 3501 §9 leaves `N:*` with N > count to the server; imaptest tolerates it).
 */
export function largestNumber(set: SequenceSet): number {
  let m = 0;
  for (const r of rangesOf(set)) {
    if (r.start !== "*") m = Math.max(m, r.start);
    if (r.end !== "*") m = Math.max(m, r.end);
  }
  return m;
}

/** Every number of resolved intervals, in order (for small sets; prefer iterating intervals). */
export function* numbers(intervals: readonly Interval[]): Generator<number> {
  for (const [lo, hi] of intervals) for (let n = lo; n <= hi; n++) yield n;
}

/**
 * Format ascending numbers (duplicates allowed) as a compact sequence set, e.g. `[1,2,3,5]` →
 * `"1:3,5"`; for ESEARCH ALL (RFC 4731 §3.1) and COPYUID (RFC 4315 §3). Empty input gives "".
 */
export function formatSequenceSet(sorted: Iterable<number>): string {
  const parts: string[] = [];
  let lo = -1;
  let hi = -1;
  const flush = () => {
    if (lo > 0) parts.push(lo === hi ? `${lo}` : `${lo}:${hi}`);
  };
  for (const n of sorted) {
    if (lo > 0 && (n === hi || n === hi + 1)) {
      hi = n;
      continue;
    }
    flush();
    lo = n;
    hi = n;
  }
  flush();
  return parts.join(",");
}
