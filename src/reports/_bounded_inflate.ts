/**
 * Decompressing a report attachment (gzip, RFC 1952; zip, PKWARE APPNOTE) with hard limits, for
 * hostile input: the output is counted as it is produced and decompression stops as soon as it
 * passes the cap, so a gzip or zip bomb costs at most the cap plus one chunk's output, never
 * its full size. A zip may hold at most a few entries; only its first file is the report.
 *
 * The decompressor is the npm package `fflate` (MIT, no dependencies, pure JS, widely used):
 * its streaming classes (`Gunzip`, `Unzip` + `UnzipInflate`) run synchronously on chunks we
 * push, which is what lets us stop at the cap. Input is pushed in small chunks: DEFLATE expands
 * at most about 1032:1, so one chunk yields at most a few MiB.
 *
 * @module
 */

import { Gunzip, Unzip, type UnzipFile, UnzipInflate } from "fflate";
import { concat } from "../util/bytes.ts";

/** The largest decompressed (or plain) report accepted: 20 MiB. */
export const MAX_REPORT_BYTES = 20 * 1024 * 1024;

/** The most entries a zipped report may have (reports hold one file). */
export const MAX_ZIP_ENTRIES = 8;

/** Bytes of compressed input pushed at a time. */
const CHUNK = 4096;

/** The outcome of a decompression: the bytes, or why not. */
export type Inflated =
  | { ok: true; bytes: Uint8Array; name?: string }
  | { ok: false; reason: string };

function tooLarge(what: string, max: number): Inflated {
  return { ok: false, reason: `${what}: larger than ${max} bytes once decompressed` };
}

/** A sink that keeps the output chunks until their total passes `max`. */
class Collector {
  chunks: Uint8Array[] = [];
  total = 0;
  over = false;
  done = false;
  error: string | undefined;
  constructor(readonly max: number) {}
  take(err: Error | null, data: Uint8Array, final: boolean): void {
    if (this.over || this.error) return;
    if (err) {
      this.error = err.message;
      return;
    }
    this.total += data.length;
    if (this.total > this.max) {
      this.over = true;
      this.chunks = [];
      return;
    }
    this.chunks.push(data);
    if (final) this.done = true;
  }
  get stopped(): boolean {
    return this.over || this.error !== undefined;
  }
}

/** Decompresses a gzip stream (RFC 1952), stopping at `max` output bytes. Never throws. */
export function gunzipBounded(data: Uint8Array, max = MAX_REPORT_BYTES): Inflated {
  // RFC 1952 §2.2: a 10-byte header and an 8-byte trailer at least.
  if (data.length < 18) return { ok: false, reason: "gzip: truncated stream" };
  const sink = new Collector(max);
  const g = new Gunzip((chunk, final) => sink.take(null, chunk, final));
  let members = 1;
  g.onmember = () => members++;
  try {
    for (let i = 0; i < data.length && !sink.stopped; i += CHUNK) {
      g.push(data.subarray(i, i + CHUNK), i + CHUNK >= data.length);
    }
  } catch (e) {
    return { ok: false, reason: `gzip: ${(e as Error).message}` };
  }
  if (sink.over) return tooLarge("gzip", max);
  if (sink.error) return { ok: false, reason: `gzip: ${sink.error}` };
  if (!sink.done) return { ok: false, reason: "gzip: truncated stream" };
  // RFC 1952 §2.3.1: ISIZE, the size modulo 2^32, ends the (single) member; fflate's stream
  // does not check it, and a cut stream would otherwise look complete.
  const isize = new DataView(data.buffer, data.byteOffset + data.length - 4, 4).getUint32(0, true);
  if (members === 1 && isize !== sink.total % 2 ** 32) {
    return { ok: false, reason: "gzip: truncated or corrupt stream (size mismatch)" };
  }
  return { ok: true, bytes: concat(sink.chunks) };
}

/**
 * The first file of a zip archive (stored or deflated), stopping at `max` output bytes and at
 * more than `maxEntries` entries. Never throws.
 */
export function unzipBounded(
  data: Uint8Array,
  max = MAX_REPORT_BYTES,
  maxEntries = MAX_ZIP_ENTRIES,
): Inflated {
  const sink = new Collector(max);
  let entries = 0;
  let first: UnzipFile | undefined;
  const unzip = new Unzip((file) => {
    entries++;
    if (first || file.name.endsWith("/") || entries > maxEntries) return;
    first = file;
    file.ondata = (err, chunk, final) => {
      sink.take(err, chunk, final);
      if (sink.stopped) file.terminate();
    };
    file.start();
  });
  unzip.register(UnzipInflate);
  try {
    for (let i = 0; i < data.length && !sink.stopped && entries <= maxEntries; i += CHUNK) {
      unzip.push(data.subarray(i, i + CHUNK), i + CHUNK >= data.length);
    }
  } catch (e) {
    return { ok: false, reason: `zip: ${(e as Error).message}` };
  }
  if (entries > maxEntries) return { ok: false, reason: `zip: more than ${maxEntries} entries` };
  if (sink.over) return tooLarge("zip", max);
  if (sink.error) return { ok: false, reason: `zip: ${sink.error}` };
  if (!first) return { ok: false, reason: "zip: no file in the archive" };
  if (!sink.done) return { ok: false, reason: "zip: truncated archive" };
  return { ok: true, bytes: concat(sink.chunks), name: first.name };
}
