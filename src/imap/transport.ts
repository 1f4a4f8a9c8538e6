/**
 * The IMAP transport: runs an {@link ImapSession} over a {@link Connection}. It owns framing and
 * time, not meaning: the {@link CommandReader} (lines, literals, the line-length cap), the
 * literal decisions the session makes before a `+` continuation (RFC 3501 §7.5, RFC 7888), raw
 * lines for IDLE's `DONE` and AUTHENTICATE responses, the STARTTLS upgrade (RFC 3501 §6.2.1:
 * input pipelined after STARTTLS is dropped), the autologout timer (RFC 9051 §5.4) and the IDLE
 * keepalive (RFC 2177), and unsolicited updates pushed during IDLE.
 *
 * A client that stops reading cannot hold memory: every write waits for the socket to drain,
 * and a write that does not drain within `writeTimeoutMs` ends the connection. A client that
 * sends nothing is logged out by the session's own timer.
 *
 * @module
 */

import type { Connection } from "../listen/connection.ts";
import { ReadInterrupted, ReadTimeout } from "../listen/inbox.ts";
import type { TlsContext } from "../listen/tls_context.ts";
import type { Logger } from "../log/logger.ts";
import { CommandReader } from "./command_reader.ts";
import type { ImapSession, SessionOutput } from "./session.ts";

/** Per-connection limits the transport enforces. */
export interface ImapTransportLimits {
  /** Longest command text outside literals (imap.max_line_bytes). */
  maxLineBytes: number;
  /** A write that cannot drain in this long ends the connection. */
  writeTimeoutMs: number;
  /** The STARTTLS handshake must finish in this long. */
  handshakeTimeoutMs: number;
}

const enc = new TextEncoder();

/** Runs one IMAP connection to completion: greeting, commands, close. */
export class ImapTransport {
  readonly #conn: Connection;
  readonly #limits: ImapTransportLimits;
  readonly #tls: TlsContext;
  readonly #log: Logger;
  #reader: CommandReader;
  #session: ImapSession | null = null;
  /** Writes are chained so that pushed updates never interleave with replies. */
  #writing: Promise<void> = Promise.resolve();
  #stopping = false;
  #done = false;

  constructor(conn: Connection, limits: ImapTransportLimits, tls: TlsContext, log: Logger) {
    this.#conn = conn;
    this.#limits = limits;
    this.#tls = tls;
    this.#log = log;
    this.#reader = new CommandReader({ maxLineLength: limits.maxLineBytes });
  }

  /** Refuse service before the greeting (RFC 3501 §7.1.5 BYE), then close. */
  async refuse(text: string): Promise<void> {
    await this.#write(enc.encode(`* BYE ${text}\r\n`));
    this.#conn.close();
  }

  /**
   * Write output in the middle of a command (the session's `flush` option); resolves when it
   * is written, false when the connection is gone.
   */
  flush(chunks: Uint8Array[]): Promise<boolean> {
    return this.#write(...chunks);
  }

  /** The server is stopping: an idle client is told so and the connection ends. */
  stop(): void {
    this.#stopping = true;
    this.#conn.interrupt();
  }

  /** Serve the connection with `session` until it ends. */
  async run(session: ImapSession): Promise<void> {
    this.#session = session;
    session.onUpdate(() => {
      // During IDLE the session has changes to push now (RFC 2177); otherwise they wait for
      // the next command and updates() is empty.
      if (!this.#done && session.idling) void this.#send(session.updates());
    });
    try {
      if (!await this.#send(session.greeting())) return;
      await this.#loop(session);
    } catch (e) {
      this.#log.warning("imap connection failed: {error}", {
        event: "imap_error",
        error: String(e),
      });
    } finally {
      this.#done = true;
      session.close();
      await this.#writing;
      this.#conn.close();
    }
  }

  async #loop(session: ImapSession): Promise<void> {
    for (;;) {
      if (this.#stopping) {
        await this.#write(enc.encode("* BYE Server shutting down\r\n"));
        return;
      }
      const handled = await this.#nextEvent(session);
      if (handled === "close") return;
      if (handled === "more") continue;
      // Nothing complete is buffered: read more, within the session's timers.
      const idle = session.idling;
      const timeout = idle ? Math.min(session.keepaliveMs, session.timeoutMs) : session.timeoutMs;
      let chunk: Uint8Array | null;
      try {
        chunk = await this.#conn.read(timeout, true);
      } catch (e) {
        if (e instanceof ReadInterrupted) continue;
        if (!(e instanceof ReadTimeout)) throw e;
        if (idle && session.keepaliveMs < session.timeoutMs) {
          if (!await this.#send(session.keepalive())) return;
          continue;
        }
        await this.#send(session.timedOut());
        return;
      }
      if (chunk === null) return;
      this.#reader.push(chunk);
    }
  }

  /** Handle one buffered event: "more" when one was handled, "read" when input is needed. */
  async #nextEvent(session: ImapSession): Promise<"more" | "read" | "close"> {
    if (session.wantsLine) {
      const line = this.#reader.nextLine();
      if (line === null) return "read";
      const out = line.kind === "too-long" ? session.tooLong() : await session.line(line.bytes);
      return await this.#apply(out) ? "more" : "close";
    }
    const ev = this.#reader.next();
    if (ev === null) return "read";
    switch (ev.kind) {
      case "literal": {
        const r = session.literalAllowed(ev.size, this.#reader.pendingPrefix(), ev.nonSync);
        if (r.accept) this.#reader.accept();
        else this.#reader.reject();
        return await this.#apply(r) ? "more" : "close";
      }
      case "too-long":
        return await this.#apply(session.tooLong()) ? "more" : "close";
      case "command":
        return await this.#apply(await session.command(ev.bytes)) ? "more" : "close";
    }
  }

  /** Send the output and carry out its actions; false when the connection is to end. */
  async #apply(out: SessionOutput): Promise<boolean> {
    if (!await this.#send(out)) return false;
    for (const action of out.actions) {
      switch (action.kind) {
        case "close":
          return false;
        case "starttls":
          if (!await this.#startTls()) return false;
          break;
        default:
          // idle-start, idle-stop, authenticate-continue: the session's wantsLine and idling
          // tell the loop what to read next.
          break;
      }
    }
    return true;
  }

  async #startTls(): Promise<boolean> {
    const ctx = this.#tls.current;
    if (ctx === null) return false;
    // RFC 3501 §6.2.1: the client must wait for the tagged OK; anything it sent on is dropped.
    this.#reader = new CommandReader({ maxLineLength: this.#limits.maxLineBytes });
    this.#conn.discard();
    const info = await this.#conn.startTls(ctx, this.#limits.handshakeTimeoutMs);
    if (info === null) {
      this.#log.info("STARTTLS handshake failed", { event: "tls_failed" });
      return false;
    }
    this.#session?.tlsStarted();
    this.#log.debug("TLS started ({protocol}, {cipher})", {
      event: "tls",
      protocol: info.protocol,
      cipher: info.cipher,
    });
    return true;
  }

  /**
   * Send the chunks of an output in order, as one unit of the write chain, so that an update
   * pushed meanwhile can never land between them (e.g. inside a FETCH literal); false when the
   * connection cannot take them.
   */
  async #send(out: SessionOutput): Promise<boolean> {
    if (out.chunks.length === 0) return !this.#conn.closed;
    return await this.#write(...out.chunks) && !this.#conn.closed;
  }

  #write(...chunks: Uint8Array[]): Promise<boolean> {
    const next = this.#writing.then(async () => {
      for (const data of chunks) {
        if (this.#conn.closed) return false;
        const drained = await this.#conn.write(data, this.#limits.writeTimeoutMs);
        if (!drained) {
          // A client that does not read its replies: stop buffering for it.
          this.#log.info("client stopped reading; connection closed", { event: "write_stalled" });
          this.#conn.destroy();
          return false;
        }
      }
      return true;
    });
    this.#writing = next.then(() => {}, () => {});
    return next;
  }
}
