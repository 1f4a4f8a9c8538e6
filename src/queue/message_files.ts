/**
 * The message files of the queue, `<data_dir>/queue/msg/<id>.eml` (mode 0600): each holds the
 * message as it will be sent, our trace header block then the content. Writing one durably
 * (write all, fdatasync, then fsync `msg/` so that the new entry survives a crash), reading it
 * back, with an in-memory copy of recently written small bodies so that the worker usually sends
 * them without reading the file, and removing orphans.
 *
 * Orphans: a crash between writing a file and committing its rows leaves a body file without a
 * row (or a `tmp-` file from older versions, which wrote a tmp file and renamed it). Neither
 * was acknowledged, so {@link MessageFiles.removeOrphans} may remove them, as long as no
 * enqueue is in flight (see `queue_lock.ts`). Whoever deletes a message should delete the row
 * first, then the file, so that a crash in between leaves only an orphan for this cleanup.
 *
 * @module
 */

import { join } from "node:path";
import { DirSyncer } from "../delivery/maildir.ts";
import { writeAll } from "../fs/durable.ts";
import { isQueueId } from "./queue_id.ts";

const BODY_SUFFIX = ".eml";
const TMP_PREFIX = "tmp-";

/** Bodies up to this size are written with one write (and kept in memory for the worker). */
const SMALL_BODY = 256 * 1024;
/** Most bytes of bodies kept in memory. */
const BODY_CACHE_BYTES = 16 * 1024 * 1024;

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** The `msg/` directory of the queue. */
export class MessageFiles {
  readonly #dir: string;
  readonly #dirSyncer = new DirSyncer();
  /**
   * Bodies of messages this process enqueued lately, oldest first, so that the worker
   * usually sends them without reading the file back; at most {@link BODY_CACHE_BYTES}.
   */
  readonly #bodies = new Map<string, Uint8Array>();
  #bodyBytes = 0;

  /** @param dir the `msg/` directory, which must exist. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * The body file of a message (trace header block plus content).
   *
   * @throws {TypeError} when `id` is not a queue id, so no path is built from bad input.
   */
  path(id: string): string {
    if (!isQueueId(id)) {
      throw new TypeError(`Invalid queue id "${id}": expected 18 characters of a-z and 0-9`);
    }
    return join(this.#dir, `${id}${BODY_SUFFIX}`);
  }

  /**
   * Write a message's body file durably: the file is written and fdatasynced, then `msg/` is
   * fsynced (once for every file created before that fsync started, {@link DirSyncer}).
   *
   * @param replace overwrite a file left by an interrupted enqueue; otherwise the file must be
   * new.
   * @returns the whole body when it is small enough to keep in memory (see
   * {@link MessageFiles.keep}), else undefined.
   */
  async write(
    id: string,
    header: Uint8Array,
    content: readonly Uint8Array[],
    size: number,
    replace: boolean,
  ): Promise<Uint8Array | undefined> {
    let body: Uint8Array | undefined;
    const file = await Deno.open(
      this.path(id),
      replace ? { write: true, create: true, truncate: true, mode: 0o600 } : {
        write: true,
        createNew: true,
        mode: 0o600,
      },
    );
    try {
      if (size <= SMALL_BODY) {
        // One write instead of one per part: small messages are the common case.
        body = new Uint8Array(size);
        body.set(header, 0);
        let off = header.length;
        for (const part of content) {
          body.set(part, off);
          off += part.length;
        }
        await writeAll(file, body);
      } else {
        await writeAll(file, header);
        for (const part of content) await writeAll(file, part);
      }
      await file.syncData();
    } finally {
      file.close();
    }
    await this.#dirSyncer.sync(this.#dir);
    return body;
  }

  /** Keep a body in memory for {@link MessageFiles.read}, dropping the oldest over the limit. */
  keep(id: string, body: Uint8Array): void {
    this.#bodies.set(id, body);
    this.#bodyBytes += body.length;
    for (const [old, b] of this.#bodies) {
      if (this.#bodyBytes <= BODY_CACHE_BYTES) break;
      this.forget(old, b);
    }
  }

  /** Drop the in-memory copy of a body, if any. */
  forget(id: string, body: Uint8Array | undefined = this.#bodies.get(id)): void {
    if (body && this.#bodies.delete(id)) this.#bodyBytes -= body.length;
  }

  /** The body of a message (trace header block plus content). */
  read(id: string): Promise<Uint8Array> {
    const cached = this.#bodies.get(id);
    return cached ? Promise.resolve(cached) : Deno.readFile(this.path(id));
  }

  /** Forget a body and remove its file, if there is one. */
  remove(id: string): Promise<void> {
    const path = this.path(id);
    this.forget(id);
    return removeIfExists(path);
  }

  /**
   * Remove body files whose id is not in `known()` (asked after the directory is read), and
   * tmp files. Only safe while no enqueue is in flight anywhere.
   */
  async removeOrphans(known: () => ReadonlySet<string>): Promise<void> {
    const names: string[] = [];
    for await (const e of Deno.readDir(this.#dir)) names.push(e.name);
    const ids = known();
    for (const name of names) {
      const orphan = name.startsWith(TMP_PREFIX) ||
        (name.endsWith(BODY_SUFFIX) && !ids.has(name.slice(0, -BODY_SUFFIX.length)));
      if (orphan) await removeIfExists(join(this.#dir, name));
    }
  }

  /** Drop every in-memory copy. */
  clear(): void {
    this.#bodies.clear();
    this.#bodyBytes = 0;
  }
}
