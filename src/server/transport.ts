/**
 * The SMTP transport: runs a {@link Session} over a {@link Connection}. It owns what is about
 * SMTP framing and time, not about SMTP meaning: line splitting and the line-length cap, reply
 * batching for PIPELINING (RFC 2920 §3.2: flush when no more input is buffered), DATA reading
 * through {@link DotReader}, BDAT chunk reading, deadlines, and the STARTTLS command's upgrade.
 * The bytes themselves (socket, backpressure, TLS handshake) are the connection's.
 *
 * @module
 */

import { formatReply, type Reply } from "../smtp/reply.ts";
import { DotReader } from "../smtp/data.ts";
import type { Connection } from "../listen/connection.ts";
import { ReadInterrupted, ReadTimeout } from "../listen/inbox.ts";
import type { TlsContext } from "../listen/tls_context.ts";
import type { Session } from "./session.ts";

const LF = 0x0a;
const CR = 0x0d;

/** Per-connection limits the transport enforces. */
export interface TransportLimits {
  maxLineBytes: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
  greetingDelayMs: number;
}

/**
 * Runs one SMTP connection to completion: greeting, command loop, close. Resolves when the
 * connection is closed; never rejects.
 */
export class Transport {
  readonly #conn: Connection;
  readonly #limits: TransportLimits;
  readonly #tls: TlsContext;
  #out: string[] = [];
  #line: Uint8Array = new Uint8Array(0);
  #skippingLongLine = false;
  #busy = false;
  #session: Session | null = null;

  /** SMTP over `conn`; STARTTLS takes its context from `tls` when the command comes. */
  constructor(conn: Connection, limits: TransportLimits, tls: TlsContext) {
    this.#conn = conn;
    this.#limits = limits;
    this.#tls = tls;
  }

  /** Send a reply and close at once (used for 421 when over connection limits). */
  async refuse(r: Reply): Promise<void> {
    this.#send(r);
    await this.#flush();
    this.#conn.close();
  }

  /**
   * Ask the connection to stop: if it is waiting for a command it gets 421 now; if it is in
   * the middle of DATA or delivery, it finishes that first.
   */
  stop(): void {
    if (this.#session) this.#session.shutdown();
    this.#conn.interrupt();
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
      this.#conn.close();
    }
  }

  async #run(session: Session): Promise<void> {
    if (this.#limits.greetingDelayMs > 0) {
      await new Promise((r) => setTimeout(r, this.#limits.greetingDelayMs));
    }
    if (this.#conn.hasData) {
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
        if (e instanceof ReadTimeout) this.#send(session.timeout());
        else if (e instanceof ReadInterrupted) this.#send(session.shutdown());
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
          const ctx = this.#tls.current;
          this.#send(action.reply);
          await this.#flush();
          if (!ctx) return;
          // Anything pipelined after STARTTLS was sent in clear text: drop it.
          this.#conn.discard();
          this.#line = new Uint8Array(0);
          const info = await this.#conn.startTls(ctx, this.#limits.commandTimeoutMs);
          if (!info) return;
          session.tlsStarted(info);
          break;
        }
      }
    }
  }

  #send(r: Reply): void {
    this.#out.push(formatReply(r));
  }

  async #flush(): Promise<void> {
    if (this.#out.length === 0) return;
    const text = this.#out.join("");
    this.#out = [];
    await this.#conn.write(text, this.#limits.commandTimeoutMs);
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
      if (!this.#conn.hasData) await this.#flush();
      const chunk = await this.#conn.read(this.#limits.commandTimeoutMs, !this.#busy);
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
      return await this.#conn.read(this.#limits.dataTimeoutMs, false);
    } catch (e) {
      if (e instanceof ReadTimeout) {
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
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
