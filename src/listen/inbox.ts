/**
 * The read side of a connection: chunks arriving from a stream are buffered and handed out on
 * demand, with a deadline per read, backpressure (the stream is paused while much is
 * buffered) and an interrupt for server shutdown. It knows nothing of lines or protocols.
 *
 * @module
 */

import type { Duplex } from "node:stream";

/** A read waited longer than its deadline. */
export class ReadTimeout extends Error {}

/** An interruptible read was woken by {@link Inbox.interrupt} (the server is stopping). */
export class ReadInterrupted extends Error {}

const READ_HIGH_WATER = 1 << 20;

/**
 * Buffers incoming chunks from a Duplex and hands them out on demand, with deadlines and
 * backpressure (the socket is paused while much is buffered).
 */
export class Inbox {
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #interrupted = false;
  #stream: Duplex;
  #onData = (d: Uint8Array) => {
    // node delivers Buffers, whose slice() is a view; as plain Uint8Arrays, slice() copies.
    this.#chunks.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    this.#bytes += d.length;
    if (this.#bytes > READ_HIGH_WATER) this.#stream.pause();
    this.#notify();
  };
  #onEnd = () => {
    this.#ended = true;
    this.#notify();
  };
  #onError = (e: Error) => this.fail(e);

  /** Start reading from `stream`. */
  constructor(stream: Duplex) {
    this.#stream = stream;
    this.attach(stream);
  }

  /** Read from `stream` from now on (the TLS socket after an upgrade). */
  attach(stream: Duplex): void {
    this.#stream = stream;
    stream.on("data", this.#onData);
    stream.on("end", this.#onEnd);
    stream.on("close", this.#onEnd);
    stream.on("error", this.#onError);
  }

  /** Stop listening to the current stream (before it is wrapped or closed). */
  detach(): void {
    this.#stream.off("data", this.#onData);
    this.#stream.off("end", this.#onEnd);
    this.#stream.off("close", this.#onEnd);
    this.#stream.off("error", this.#onError);
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /**
   * End reading with `e` (the first error is kept): a pending and every later {@link next}
   * returns null once the buffer is empty. For errors of a stream beneath the attached one.
   */
  fail(e: Error): void {
    this.#error ??= e;
    this.#ended = true;
    this.#notify();
  }

  /** Whether the stream ended, closed or failed (buffered bytes may still be unread). */
  get ended(): boolean {
    return this.#ended;
  }

  /** The first error the stream reported, if any. */
  get error(): Error | null {
    return this.#error;
  }

  /** Whether bytes are buffered. */
  get hasData(): boolean {
    return this.#chunks.length > 0;
  }

  /** Put `bytes` back in front of what is buffered (they were read to peek at them). */
  unread(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.unshift(bytes);
    this.#bytes += bytes.length;
  }

  /** Everything buffered, removed from the buffer, as one array. */
  take(): Uint8Array {
    const out = new Uint8Array(this.#bytes);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    this.discard();
    return out;
  }

  /** Drop everything buffered (RFC 3207 §4.2 / CVE-2011-0411: nothing pipelined survives). */
  discard(): void {
    this.#chunks = [];
    this.#bytes = 0;
  }

  /** Wake a pending next() with a {@link ReadInterrupted} error (server shutdown). */
  interrupt(): void {
    this.#interrupted = true;
    this.#notify();
  }

  /**
   * The next chunk, or null at end of stream.
   * @throws {ReadTimeout} after `timeoutMs` without data.
   * @throws {ReadInterrupted} when interruptible and interrupt() was called.
   */
  async next(timeoutMs: number, interruptible: boolean): Promise<Uint8Array | null> {
    for (;;) {
      const c = this.#chunks.shift();
      if (c) {
        this.#bytes -= c.length;
        if (this.#bytes <= READ_HIGH_WATER && this.#stream.isPaused()) this.#stream.resume();
        return c;
      }
      if (this.#ended) return null;
      if (interruptible && this.#interrupted) throw new ReadInterrupted();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await new Promise<boolean>((resolve) => {
        this.#wake = () => resolve(false);
        timer = setTimeout(() => resolve(true), timeoutMs);
      });
      clearTimeout(timer);
      this.#wake = null;
      if (timedOut) throw new ReadTimeout();
    }
  }
}
