/**
 * The record format of the inbound spool's journal (see spool.ts): how a message and its
 * "done" mark are laid out in a segment, and how a segment is read back at replay.
 *
 * A record is `magic (4) | payload length (u32 BE) | CRC-32 of payload (u32 BE) | payload`:
 *
 * - `PSJM`: a message: `meta length (u32 BE) | meta (JSON) | content`, where meta lists each
 *   mailbox with its trace header block and the Maildir file name chosen at acceptance, or the
 *   envelope, header block and queue id of mail for the outbound queue.
 * - `PSJD`: done: `segment (u32 BE) | offset (u32 BE)` of a message now durable in every
 *   Maildir.
 *
 * Reading stops at the first record that is short or fails its CRC: the tail a crash cut.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import type { MailboxRef } from "./maildir.ts";

const HEAD = 12;
const MAGIC_MESSAGE = 0x50534a4d; // "PSJM"
const MAGIC_DONE = 0x50534a44; // "PSJD"

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a message record says about the message besides its content. */
export interface JournalMeta {
  boxes: { box: MailboxRef; name: string; header: string }[];
  /** Mail for remote recipients, for the outbound queue under this id. */
  queue?: { id: string; sender: string; recipients: string[]; account?: string; header: string };
}

/**
 * A record as pieces (its head, then the payload parts as they are): the writer copies every
 * record of a batch into one buffer anyway, so the payload is not copied here too.
 */
function record(magic: number, payload: readonly Uint8Array[]): Uint8Array[] {
  let len = 0;
  let crc = 0;
  for (const p of payload) {
    len += p.length;
    crc = crc32(p, crc);
  }
  const head = new Uint8Array(HEAD);
  const view = new DataView(head.buffer);
  view.setUint32(0, magic);
  view.setUint32(4, len);
  view.setUint32(8, crc >>> 0);
  return [head, ...payload];
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** A message record, as pieces (the content parts are not copied). */
export function messageRecord(meta: JournalMeta, content: readonly Uint8Array[]): Uint8Array[] {
  const metaBytes = encoder.encode(JSON.stringify(meta));
  return record(MAGIC_MESSAGE, [u32(metaBytes.length), metaBytes, ...content]);
}

/** The done record of the message at `offset` in segment `segment`. */
export function doneRecord(segment: number, offset: number): Uint8Array[] {
  return record(MAGIC_DONE, [u32(segment), u32(offset)]);
}

/** One record read back from a segment. */
export type JournalRecord =
  | { kind: "message"; offset: number; meta: JournalMeta; content: Uint8Array }
  | { kind: "done"; offset: number; segment: number; at: number };

/**
 * Parse the records of one segment, stopping at the first incomplete or corrupt one.
 * @returns the records and the length of the good prefix.
 */
export function parseSegment(data: Uint8Array): { records: JournalRecord[]; good: number } {
  const records: JournalRecord[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let off = 0;
  while (off + HEAD <= data.length) {
    const magic = view.getUint32(off);
    const len = view.getUint32(off + 4);
    if (magic !== MAGIC_MESSAGE && magic !== MAGIC_DONE) break;
    if (off + HEAD + len > data.length) break;
    const body = data.subarray(off + HEAD, off + HEAD + len);
    if ((crc32(body) >>> 0) !== view.getUint32(off + 8)) break;
    try {
      if (magic === MAGIC_DONE) {
        if (len !== 8) break;
        records.push({
          kind: "done",
          offset: off,
          segment: view.getUint32(off + HEAD),
          at: view.getUint32(off + HEAD + 4),
        });
      } else {
        const metaLen = view.getUint32(off + HEAD);
        const meta = JSON.parse(decoder.decode(body.subarray(4, 4 + metaLen))) as JournalMeta;
        records.push({ kind: "message", offset: off, meta, content: body.subarray(4 + metaLen) });
      }
    } catch {
      break;
    }
    off += HEAD + len;
  }
  return { records, good: off };
}
