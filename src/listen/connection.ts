/**
 * One accepted connection as a byte stream, for any protocol: reads with deadlines and
 * backpressure (through an {@link Inbox}), writes that wait for the socket to drain, the
 * server-side TLS upgrade (STARTTLS-style or implicit TLS), a polite close and a hard destroy.
 * Protocol framing (SMTP lines and DATA, IMAP literals, HTTP messages) sits on top of it.
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
import { Inbox } from "./inbox.ts";

/** The remote end of a connection (an IPv4-mapped IPv6 address is given as IPv4). */
export interface Peer {
  address: string;
  port: number;
}

/** Facts about an established TLS layer. */
export interface TlsInfo {
  protocol: string;
  cipher: string;
  /** The ALPN protocol agreed on (RFC 7301), when one was. */
  alpn?: string;
}

/** How {@link Connection.startTls} handshakes, beyond the context. */
export interface StartTlsOptions {
  /** The ALPN protocols the server offers (RFC 7301 §3.2), in order of preference. */
  alpn?: string[];
  /**
   * Hand the bytes received and not yet read (a ClientHello peeked at and given back with
   * {@link Connection.unread}) to the TLS layer, instead of keeping them as cleartext.
   */
  replayBuffered?: boolean;
}

/** A connection's byte stream; see the module documentation. */
export class Connection {
  /** Who is on the other end. */
  readonly peer: Peer;
  #stream: Duplex;
  readonly #inbox: Inbox;
  #closed = false;
  #tls: TlsInfo | null = null;

  /** Wrap an accepted stream (a `node:net` socket, or any Duplex in tests). */
  constructor(stream: Duplex, peer: Peer) {
    this.#stream = stream;
    this.#inbox = new Inbox(stream);
    this.peer = peer;
  }

  /** The negotiated TLS parameters once a handshake succeeded, else null. */
  get tls(): TlsInfo | null {
    return this.#tls;
  }

  /** Whether close() or destroy() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether received bytes are waiting to be read. */
  get hasData(): boolean {
    return this.#inbox.hasData;
  }

  /**
   * The next chunk received, or null at end of stream.
   * @throws {ReadTimeout} after `timeoutMs` without data.
   * @throws {ReadInterrupted} when `interruptible` and {@link interrupt} was called.
   */
  read(timeoutMs: number, interruptible: boolean): Promise<Uint8Array | null> {
    return this.#inbox.next(timeoutMs, interruptible);
  }

  /** Put `bytes` back to be read again (or to be replayed into a handshake, see startTls). */
  unread(bytes: Uint8Array): void {
    this.#inbox.unread(bytes);
  }

  /** Drop everything received and not yet read. */
  discard(): void {
    this.#inbox.discard();
  }

  /** Wake an interruptible read, now or when it next waits (the server is stopping). */
  interrupt(): void {
    this.#inbox.interrupt();
  }

  /**
   * Send bytes; when the socket's buffer is full, wait for it to drain (at most
   * `drainTimeoutMs`). Nothing is sent once the connection is closed or reset by the peer.
   * Resolves false when the buffer did not drain in time (the peer is not reading).
   */
  async write(data: string | Uint8Array, drainTimeoutMs: number): Promise<boolean> {
    // A peer that reset the connection: its "close" has already fired, nothing to wait for.
    if (this.#closed || this.#stream.destroyed || !this.#stream.writable) return true;
    const stream = this.#stream;
    const drained = stream.write(data);
    if (drained || stream.destroyed) return true;
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), drainTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      stream.once("drain", done);
      stream.once("close", done);
    });
  }

  /**
   * Upgrade the connection to TLS as the server side, with `ctx` (read it from the
   * {@link TlsContext} just before, so that a swapped certificate is used). Returns the
   * negotiated parameters, or null when the handshake failed or took longer than `timeoutMs`
   * (the TLS socket is then destroyed).
   */
  async startTls(
    ctx: tls.SecureContext,
    timeoutMs: number,
    options: StartTlsOptions = {},
  ): Promise<TlsInfo | null> {
    this.#inbox.detach();
    const plain = this.#stream;
    plain.pause();
    // Bytes put back into the paused socket are what the TLS socket reads first (verified in
    // Deno: node:tls reads the wrapped socket's stream, not its handle).
    const replay = options.replayBuffered ? this.#inbox.take() : null;
    if (replay?.length) plain.unshift(replay);
    const secure = new tls.TLSSocket(plain as never, {
      isServer: true,
      secureContext: ctx,
      ...(options.alpn ? { ALPNProtocols: options.alpn } : {}),
    });
    this.#stream = secure;
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
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
    this.#tls = {
      protocol: secure.getProtocol() ?? "TLS",
      cipher: secure.getCipher()?.name ?? "unknown",
      ...(secure.alpnProtocol ? { alpn: secure.alpnProtocol } : {}),
    };
    return this.#tls;
  }

  /** Finish sending what was written, then close. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inbox.detach();
    this.#stream.on("error", () => {});
    const stream = this.#stream;
    stream.end(() => stream.destroy());
  }

  /** Close the socket at once, unsent bytes and all (a shutdown deadline has passed). */
  destroy(): void {
    this.#closed = true;
    this.#stream.destroy();
  }
}
