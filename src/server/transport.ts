/**
 * The transport: moves bytes between a socket and a {@link Session}. It owns what is about
 * bytes and time, not about SMTP meaning: line splitting and the line-length cap, reply
 * batching for PIPELINING (RFC 2920 §3.2: flush when no more input is buffered), DATA reading
 * through {@link DotReader}, BDAT chunk reading, deadlines, and the STARTTLS upgrade.
 *
 * Sockets are `node:net` sockets because server-side TLS upgrade of a plain connection is only
 * possible there in Deno (`new tls.TLSSocket(socket, { isServer: true })`); `Deno.listen`
 * connections cannot be upgraded server-side. Quirk: the plain socket must be paused before it
 * is wrapped, or the TLS socket sees the raw handshake bytes as data.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import tls from "node:tls";
import { formatReply, type Reply } from "../smtp/reply.ts";
import { DotReader } from "../smtp/data.ts";
import type { Session, TlsInfo } from "./session.ts";

class Timeout extends Error {}
class Interrupted extends Error {}

const LF = 0x0a;
const CR = 0x0d;
const READ_HIGH_WATER = 1 << 20;

/** Per-connection limits the transport enforces. */
export interface TransportLimits {
  maxLineBytes: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
  greetingDelayMs: number;
}

/** A TLS context for STARTTLS, or null when TLS is not configured. */
export type TlsContextSource = () => tls.SecureContext | null;

/**
 * Buffers incoming chunks from a Duplex and hands them out on demand, with deadlines and
 * backpressure (the socket is paused while much is buffered).
 */
class Inbox {
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
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
  #onError = (e: Error) => {
    this.#error = e;
    this.#ended = true;
    this.#notify();
  };

  constructor(stream: Duplex) {
    this.#stream = stream;
    this.attach(stream);
  }

  attach(stream: Duplex): void {
    this.#stream = stream;
    stream.on("data", this.#onData);
    stream.on("end", this.#onEnd);
    stream.on("close", this.#onEnd);
    stream.on("error", this.#onError);
  }

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

  /** Whether bytes are buffered. */
  get hasData(): boolean {
    return this.#chunks.length > 0;
  }

  /** Drop everything buffered (RFC 3207 §4.2 / CVE-2011-0411: nothing pipelined survives). */
  discard(): void {
    this.#chunks = [];
    this.#bytes = 0;
  }

  /** Put bytes back in front (what followed the end of DATA). */
  unshift(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.unshift(chunk);
    this.#bytes += chunk.length;
  }

  /** Wake a pending next() with an Interrupted error (server shutdown). */
  interrupt(): void {
    this.#interrupted = true;
    this.#notify();
  }
  #interrupted = false;

  /**
   * The next chunk, or null at end of stream.
   * @throws {Timeout} after `timeoutMs` without data.
   * @throws {Interrupted} when interruptible and interrupt() was called.
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
      if (interruptible && this.#interrupted) throw new Interrupted();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await new Promise<boolean>((resolve) => {
        this.#wake = () => resolve(false);
        timer = setTimeout(() => resolve(true), timeoutMs);
      });
      clearTimeout(timer);
      this.#wake = null;
      if (timedOut) throw new Timeout();
    }
  }
}

/** Facts about the connection, for logs and the session. */
export interface ConnectionInfo {
  remoteAddress: string;
  remotePort: number;
}

/**
 * Runs one SMTP connection to completion: greeting, command loop, close. Resolves when the
 * connection is closed; never rejects.
 */
export class Transport {
  #stream: Duplex;
  readonly #inbox: Inbox;
  readonly #limits: TransportLimits;
  readonly #tlsContext: TlsContextSource;
  #out: string[] = [];
  #line: Uint8Array = new Uint8Array(0);
  #skippingLongLine = false;
  #closed = false;
  #busy = false;
  #session: Session | null = null;

  constructor(stream: Duplex, limits: TransportLimits, tlsContext: TlsContextSource) {
    this.#stream = stream;
    this.#inbox = new Inbox(stream);
    this.#limits = limits;
    this.#tlsContext = tlsContext;
  }

  /** Send a reply and close at once (used for 421 when over connection limits). */
  async refuse(r: Reply): Promise<void> {
    this.#send(r);
    await this.#flush();
    this.#close();
  }

  /**
   * Ask the connection to stop: if it is waiting for a command it gets 421 now; if it is in
   * the middle of DATA or delivery, it finishes that first.
   */
  stop(): void {
    if (this.#session) this.#session.shutdown();
    this.#inbox.interrupt();
  }

  /** Close the socket immediately (after the shutdown grace period). */
  destroy(): void {
    this.#closed = true;
    this.#stream.destroy();
  }

  /** Whether the session is inside DATA/BDAT or delivery right now. */
  get busy(): boolean {
    return this.#busy;
  }

  /** Run the session on this connection. */
  async run(session: Session): Promise<void> {
    this.#session = session;
    try {
      await this.#run(session);
    } catch {
      // A socket error: there is nobody left to answer.
    } finally {
      this.#close();
    }
  }

  async #run(session: Session): Promise<void> {
    if (this.#limits.greetingDelayMs > 0) {
      await new Promise((r) => setTimeout(r, this.#limits.greetingDelayMs));
    }
    if (this.#inbox.hasData) {
      // RFC 5321 §4.3.1: the client must wait for the greeting. Talking first is a bot.
      this.#send(session.talkedEarly());
      await this.#flush();
      return;
    }
    this.#send(session.greeting());
    for (;;) {
      let line: Uint8Array | "toolong" | null;
      try {
        line = await this.#readLine();
      } catch (e) {
        if (e instanceof Timeout) this.#send(session.timeout());
        else if (e instanceof Interrupted) this.#send(session.shutdown());
        else throw e;
        await this.#flush();
        return;
      }
      if (line === null) return;
      const action = line === "toolong"
        ? { kind: "reply" as const, reply: session.lineTooLong() }
        : await session.command(line);
      switch (action.kind) {
        case "reply":
          this.#send(action.reply);
          if (action.reply.close) {
            await this.#flush();
            return;
          }
          break;
        case "data": {
          this.#send(action.reply);
          await this.#flush();
          this.#busy = true;
          const reader = new DotReader(action.maxBytes);
          const ok = await this.#readData(reader);
          if (!ok) return;
          const r = await session.dataEnd(reader.result());
          this.#busy = false;
          this.#send(r);
          if (r.close) {
            await this.#flush();
            return;
          }
          break;
        }
        case "bdat": {
          this.#busy = true;
          // An oversized chunk is read and thrown away, never allocated.
          const chunk = action.size > action.maxBytes
            ? await this.#skip(action.size)
            : await this.#readExact(action.size);
          if (chunk === null) return;
          const r = await session.bdatChunk(
            chunk === "skipped" ? null : chunk,
            action.size,
            action.last,
          );
          this.#busy = false;
          this.#send(r);
          if (r.close) {
            await this.#flush();
            return;
          }
          break;
        }
        case "starttls": {
          const ctx = this.#tlsContext();
          this.#send(action.reply);
          await this.#flush();
          if (!ctx) return;
          // Anything pipelined after STARTTLS was sent in clear text: drop it.
          this.#inbox.discard();
          this.#line = new Uint8Array(0);
          const info = await this.startTls(ctx);
          if (!info) return;
          session.tlsStarted(info);
          break;
        }
      }
    }
  }

  /**
   * Upgrade the connection to TLS as the server side. Returns the negotiated parameters, or
   * null when the handshake failed (the connection is then closed).
   */
  async startTls(ctx: tls.SecureContext): Promise<TlsInfo | null> {
    this.#inbox.detach();
    const plain = this.#stream;
    plain.pause();
    const secure = new tls.TLSSocket(plain as never, { isServer: true, secureContext: ctx });
    this.#stream = secure;
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.#limits.commandTimeoutMs);
      secure.once("secure", () => {
        clearTimeout(timer);
        resolve(true);
      });
      secure.once("error", () => {
        clearTimeout(timer);
        resolve(false);
      });
      secure.once("close", () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!ok) {
      secure.destroy();
      return null;
    }
    secure.on("error", () => {});
    this.#inbox.attach(secure);
    return {
      protocol: secure.getProtocol() ?? "TLS",
      cipher: secure.getCipher()?.name ?? "unknown",
    };
  }

  #send(r: Reply): void {
    this.#out.push(formatReply(r));
  }

  async #flush(): Promise<void> {
    if (this.#out.length === 0 || this.#closed) return;
    const text = this.#out.join("");
    this.#out = [];
    // A peer that reset the connection: its "close" has already fired, nothing to wait for.
    if (this.#stream.destroyed || !this.#stream.writable) return;
    const drained = this.#stream.write(text);
    if (!drained && !this.#stream.destroyed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#limits.commandTimeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        this.#stream.once("drain", done);
        this.#stream.once("close", done);
      });
    }
  }

  // A command line without its line ending. LF alone is accepted as the end of a *command*
  // line (lenient, as Postfix); this never applies to message content.
  async #readLine(): Promise<Uint8Array | "toolong" | null> {
    for (;;) {
      const lf = this.#line.indexOf(LF);
      if (lf >= 0) {
        const end = lf > 0 && this.#line[lf - 1] === CR ? lf - 1 : lf;
        const line = this.#line.slice(0, end);
        this.#line = this.#line.subarray(lf + 1);
        if (this.#skippingLongLine) {
          this.#skippingLongLine = false;
          continue;
        }
        if (line.length > this.#limits.maxLineBytes) return "toolong";
        return line;
      }
      if (this.#line.length > this.#limits.maxLineBytes) {
        // Drop what we have and skip to the end of this line; answer once.
        this.#line = new Uint8Array(0);
        if (!this.#skippingLongLine) {
          this.#skippingLongLine = true;
          return "toolong";
        }
      }
      // RFC 2920 §3.2: reply batches are flushed before waiting for more input.
      if (!this.#inbox.hasData) await this.#flush();
      const chunk = await this.#inbox.next(this.#limits.commandTimeoutMs, !this.#busy);
      if (chunk === null) return null;
      this.#line = this.#line.length === 0 ? chunk : concat(this.#line, chunk);
    }
  }

  // Feeds DATA content to the reader until CRLF.CRLF. False when the connection dropped or
  // timed out (the message is then not accepted: nothing was acknowledged).
  async #readData(reader: DotReader): Promise<boolean> {
    let pending: Uint8Array | null = this.#line.length > 0 ? this.#line : null;
    this.#line = new Uint8Array(0);
    for (;;) {
      const chunk = pending ?? await this.#nextData();
      pending = null;
      if (chunk === null) return false;
      const rest = reader.feed(chunk);
      if (rest !== undefined) {
        this.#line = rest.slice();
        return true;
      }
    }
  }

  async #nextData(): Promise<Uint8Array | null> {
    try {
      return await this.#inbox.next(this.#limits.dataTimeoutMs, false);
    } catch (e) {
      if (e instanceof Timeout) {
        this.#send(this.#session!.timeout());
        await this.#flush();
        return null;
      }
      throw e;
    }
  }

  // Exactly n octets for BDAT (RFC 3030 §2), or null when the connection ended.
  async #readExact(n: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    let got = 0;
    const take = (src: Uint8Array): Uint8Array => {
      const k = Math.min(n - got, src.length);
      out.set(src.subarray(0, k), got);
      got += k;
      return src.subarray(k);
    };
    this.#line = take(this.#line).slice();
    while (got < n) {
      const chunk = await this.#nextData();
      if (chunk === null) return null;
      const rest = take(chunk);
      if (rest.length > 0) this.#line = rest.slice();
    }
    return out;
  }

  // Read and discard n octets.
  async #skip(n: number): Promise<"skipped" | null> {
    let left = n;
    const fromLine = Math.min(left, this.#line.length);
    this.#line = this.#line.subarray(fromLine);
    left -= fromLine;
    while (left > 0) {
      const chunk = await this.#nextData();
      if (chunk === null) return null;
      if (chunk.length > left) this.#line = chunk.slice(left);
      left -= Math.min(left, chunk.length);
    }
    return "skipped";
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inbox.detach();
    this.#stream.on("error", () => {});
    const stream = this.#stream;
    stream.end(() => stream.destroy());
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
