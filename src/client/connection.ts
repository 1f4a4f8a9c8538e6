/**
 * One connection to an SMTP server, as the client sees it: the TCP connect (bound to a source
 * address when asked), buffered reading of reply lines and replies (RFC 5321 §4.2.1) with
 * deadlines, writes with deadlines, and the client side of the TLS upgrade. What to say over
 * it is `session.ts`'s and `transaction.ts`'s business.
 *
 * Sockets are `node:net`/`node:tls` ones, as in `src/server/transport.ts` (`node:net` so a
 * source address can be bound; `Deno.connect` cannot). The client-side TLS upgrade is
 * `tls.connect({ socket })` with `rejectUnauthorized: false`; the result's
 * `authorized`/`authorizationError` then tell whether the chain and the name verified.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import type { Reply } from "../smtp/reply.ts";
import type { ClientOptions, ClientTls } from "./client_options.ts";
import { errorText, Failure, garbled, lost } from "./_failure.ts";
import { Inbox, ReadTimeout } from "../listen/inbox.ts";
import { concat } from "../util/bytes.ts";

/** Longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512; servers exceed it). */
const MAX_REPLY_LINE = 8192;
/** Most lines in one reply (a long EHLO list is some 20). */
const MAX_REPLY_LINES = 200;

const CR = 0x0d;
const LF = 0x0a;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Printable ASCII plus UTF-8 text from a reply line, everything else as "?". */
function clean(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, "?");
}

/**
 * A connection to the server: buffered reading of reply lines with deadlines, writes with
 * deadlines, and the TLS upgrade. The stream is a net.Socket, or a TLSSocket over one; its
 * chunks arrive through an {@link Inbox} (a fresh one per stream), and `#buf` holds the part
 * of a reply line read so far.
 */
export class Connection {
  readonly raw: net.Socket;
  #stream: Duplex;
  #inbox: Inbox;
  #buf: Uint8Array = new Uint8Array(0);
  secure: tls.TLSSocket | null = null;

  private constructor(raw: net.Socket) {
    this.raw = raw;
    this.#stream = raw;
    this.#inbox = new Inbox(raw);
  }

  /** Open a TCP connection, bound to `localAddress` when given. */
  static async open(opts: ClientOptions, timeoutMs: number): Promise<Connection> {
    const stage = "connect";
    const raw = net.connect({
      host: opts.host,
      port: opts.port,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
        raw.once("connect", () => resolve());
        raw.once("error", reject);
      });
    } catch (e) {
      raw.on("error", () => {});
      raw.destroy();
      await closed(raw);
      // RFC 3463 X.4.1 "no answer from host".
      throw new Failure(
        421,
        "4.4.1",
        `connect to ${opts.host}:${opts.port} failed: ${errorText(e)}`,
        false,
        stage,
        true,
      );
    } finally {
      clearTimeout(timer);
    }
    return new Connection(raw);
  }

  /** The error for a connection the server closed (or that failed), naming the cause. */
  #closedByServer(stage: string): Failure {
    const error = this.#inbox.error;
    const why = error ? `: ${errorText(error)}` : "";
    return lost(stage, `connection closed by server${why}`);
  }

  /** The next chunk from the server, waiting until `deadline`. */
  async #next(deadline: number, stage: string): Promise<Uint8Array> {
    let chunk: Uint8Array | null;
    try {
      chunk = await this.#inbox.next(deadline - Date.now(), false);
    } catch (e) {
      if (e instanceof ReadTimeout) throw lost(stage, "timed out waiting for the server's reply");
      throw e;
    }
    if (chunk === null) throw this.#closedByServer(stage);
    return chunk;
  }

  async #readLine(deadline: number, stage: string): Promise<string> {
    for (;;) {
      const lf = this.#buf.indexOf(LF);
      if (lf >= 0) {
        // A lone LF ends a reply line too (lenient reading; we never *send* one).
        const end = lf > 0 && this.#buf[lf - 1] === CR ? lf - 1 : lf;
        if (end > MAX_REPLY_LINE) {
          throw garbled(stage, "reply line too long");
        }
        const line = decoder.decode(this.#buf.subarray(0, end));
        this.#buf = this.#buf.slice(lf + 1);
        return line;
      }
      if (this.#buf.length > MAX_REPLY_LINE) {
        throw garbled(stage, "reply line too long");
      }
      const chunk = await this.#next(deadline, stage);
      this.#buf = this.#buf.length === 0 ? chunk.slice() : concat([this.#buf, chunk]);
    }
  }

  /**
   * Read one reply (RFC 5321 §4.2.1: "ddd-text" lines, then "ddd text" or "ddd"). With
   * `enhanced`, an RFC 3463 code of the same class at the start of the text is taken out into
   * {@link Reply.enhanced} (RFC 2034 §4: it prefixes every line).
   */
  async readReply(timeoutMs: number, stage: string, enhanced: boolean): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    const texts: string[] = [];
    let code = 0;
    for (;;) {
      const line = await this.#readLine(deadline, stage);
      const m = /^([2-5][0-9][0-9])(?:([ -])(.*))?$/s.exec(line);
      if (!m || (code !== 0 && Number(m[1]) !== code)) {
        // RFC 5321 §4.2.1: every line of a reply carries the same code.
        throw garbled(stage, `malformed reply from server: "${clean(line).slice(0, 100)}"`);
      }
      code = Number(m[1]);
      texts.push(clean(m[3] ?? ""));
      if (m[2] !== "-") break;
      if (texts.length >= MAX_REPLY_LINES) {
        throw garbled(stage, "reply has too many lines");
      }
    }
    const r: Reply = { code, lines: texts };
    if (enhanced) {
      // RFC 3463 §2: class.subject.detail; the class must agree with the reply code.
      const m = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/.exec(texts[0] ?? "");
      if (m && m[1] === String(code)[0]) {
        const raw = `${m[1]}.${m[2]}.${m[3]}`;
        r.enhanced = `${m[1]}.${Number(m[2])}.${Number(m[3])}`;
        r.lines = texts.map((t) =>
          t === raw ? "" : t.startsWith(`${raw} `) ? t.slice(raw.length + 1) : t
        );
      }
    }
    return r;
  }

  /** Whether unread bytes are buffered. */
  get hasBuffered(): boolean {
    return this.#buf.length > 0 || this.#inbox.hasData;
  }

  /**
   * Whether an idle connection can take another command: still open, and the server said
   * nothing since its last reply (an idle server speaks only to say goodbye, such as a 421
   * on its timeout, RFC 5321 §4.5.3.2.7).
   */
  get usable(): boolean {
    return !this.#inbox.ended && !this.#stream.destroyed && !this.hasBuffered;
  }

  /** Write and wait until the runtime took the bytes, within `timeoutMs`. */
  async write(data: string | Uint8Array, timeoutMs: number, stage: string): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (this.#inbox.ended || this.#stream.destroyed) throw this.#closedByServer(stage);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(lost(stage, "timed out sending to the server")), timeoutMs);
        this.#stream.write(bytes, (err) => {
          if (err) reject(lost(stage, `write failed: ${errorText(err)}`));
          else resolve();
        });
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Start TLS on this connection as the client (after a 220 to STARTTLS, or at once for
   * implicit TLS). The certificate is not enforced here; the caller reads `authorized`.
   */
  async startTls(t: ClientTls, host: string, timeoutMs: number, stage: string): Promise<void> {
    // RFC 3207 §4.2 and CVE-2011-0411's client-side twin ("STARTTLS response injection"):
    // anything the server sent after its 220 came in clear text; it must not be read as a
    // TLS-protected reply.
    this.#buf = new Uint8Array(0);
    this.#inbox.discard();
    this.#inbox.detach();
    // Errors of the TCP layer under TLS still count (and must never go unhandled).
    this.raw.on("error", (e: Error) => this.#inbox.fail(e));
    // The plain socket must not flow while it is being wrapped (see src/server/transport.ts).
    this.raw.pause();
    const secure = tls.connect({
      socket: this.raw,
      // RFC 6066 §3: SNI carries a host name, never an IP literal.
      ...(t.servername ? { servername: t.servername } : {}),
      host: t.servername ?? host,
      rejectUnauthorized: false, // verified below, so that opportunistic mode can go on
      ...(t.caCerts ? { ca: t.caCerts } : {}),
      minVersion: "TLSv1.2",
    });
    this.#stream = secure;
    this.secure = secure;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
        secure.once("secureConnect", () => resolve());
        secure.once("error", reject);
        secure.once("close", () => reject(new Error("connection closed")));
      });
    } catch (e) {
      // RFC 3463 X.7.5 "cryptographic failure".
      throw new Failure(421, "4.7.5", `TLS handshake failed: ${errorText(e)}`, false, stage, true);
    } finally {
      clearTimeout(timer);
    }
    // A fresh inbox: what the plain socket did before the handshake is forgotten.
    this.#inbox = new Inbox(secure);
  }

  /** Close both the TLS and the TCP layer and wait (briefly) until the socket is gone. */
  async close(): Promise<void> {
    this.#inbox.detach();
    this.#stream.on("error", () => {});
    this.raw.on("error", () => {});
    this.#stream.destroy();
    this.raw.destroy();
    await closed(this.raw);
    if (this.secure) await closed(this.secure);
  }
}

/** Resolve once a socket emitted "close" (or at once if it already did), at most 1 s. */
async function closed(s: Duplex): Promise<void> {
  if ((s as { closed?: boolean }).closed) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 1000);
    s.once("close", () => resolve());
  });
  clearTimeout(timer);
}
