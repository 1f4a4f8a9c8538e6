/**
 * The SMTP client for outbound delivery (RFC 5321): one mail transaction per call, to one
 * already-chosen IP address, on a new connection or on one kept from an earlier call. Choosing
 * the address (MX, A/AAAA, null MX) and retrying are the caller's business; this module only
 * speaks the protocol and reports what happened.
 *
 * The steps of {@link deliverMessage}, in order:
 *
 * 1. Check the envelope locally: no CR, LF or other control character may reach a command
 *    line, and the content may contain no NUL (SMUGGLING.md, "As a sender or relay").
 * 2. Connect with `node:net` (so a source address can be bound; `Deno.connect` cannot), with
 *    TLS from the first byte in `implicit` mode (RFC 8314 §3).
 * 3. Read the 220 greeting (RFC 5321 §3.1, §4.3.1).
 * 4. EHLO, or HELO when EHLO gets a 5xx (RFC 5321 §4.1.1.1, §3.2), and parse the extensions.
 * 5. STARTTLS (RFC 3207) according to {@link ClientTls.mode}, then EHLO again (RFC 3207 §4.2).
 * 6. AUTH PLAIN (RFC 4616) or LOGIN when credentials are given, only over verified TLS.
 * 7. Refuse locally what the server announced it cannot take: a message above its SIZE
 *    (RFC 1870 §6), or one that needs SMTPUTF8 when that is not offered (RFC 6531 §3.4).
 * 8. MAIL, RCPT for each recipient, DATA: in one write when PIPELINING is offered (RFC 2920),
 *    else one command at a time; the content from {@link encodeData}; the final reply.
 * 9. QUIT, without waiting long for the 221.
 *
 * {@link ConnectionCache} does steps 2 to 6 once per connection and then runs several mail
 * transactions (steps 7 and 8) over it before QUIT, as Postfix's connection cache does.
 *
 * Sockets are `node:net`/`node:tls` ones, as in `src/server/transport.ts`. The client-side TLS
 * upgrade is `tls.connect({ socket })` with `rejectUnauthorized: false`; the result's
 * `authorized`/`authorizationError` then tell whether the chain and the name verified.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import type { Reply } from "../smtp/reply.ts";

/** TLS policy for one delivery. */
export interface ClientTls {
  /**
   * - `opportunistic`: STARTTLS when offered; an unverified certificate is recorded in the
   *   result and delivery goes on; no STARTTLS means plain text (RFC 3207 §4).
   * - `required`: STARTTLS must be offered and the certificate must verify for `servername`;
   *   otherwise a temporary failure (4.7.5).
   * - `none`: never STARTTLS.
   * - `implicit`: TLS from the start (RFC 8314 §3, port 465 smarthosts); the certificate must
   *   verify, as in `required`.
   */
  mode: "opportunistic" | "required" | "none" | "implicit";
  /**
   * SNI and the name the certificate must match. Without it no SNI is sent and the
   * certificate is checked against the IP address.
   */
  servername?: string;
  /** PEM certificates to trust instead of the default roots. @default the runtime's roots */
  caCerts?: string[];
}

/** Timeouts per stage in milliseconds. */
export interface ClientTimeouts {
  /** TCP connect (and the TLS handshake in `implicit` mode). @default 30000 */
  connect: number;
  /** The 220 greeting, RFC 5321 §4.5.3.2.1. @default 300000 */
  greeting: number;
  /** EHLO/HELO, STARTTLS (and its handshake) and AUTH replies. @default 300000 */
  ehlo: number;
  /** The MAIL reply, RFC 5321 §4.5.3.2.2. @default 300000 */
  mail: number;
  /** Each RCPT reply, RFC 5321 §4.5.3.2.3. @default 300000 */
  rcpt: number;
  /** The reply to DATA (354), RFC 5321 §4.5.3.2.4. @default 120000 */
  data: number;
  /** Each write of the content, RFC 5321 §4.5.3.2.5. @default 180000 */
  dataBlock: number;
  /** The reply after the final ".", RFC 5321 §4.5.3.2.6. @default 600000 */
  dataEnd: number;
}

/** Where and how to deliver. */
export interface ClientOptions {
  /** IP literal to connect to. */
  host: string;
  port: number;
  /** Our hostname, sent in EHLO/HELO: a domain or an address literal such as "[192.0.2.1]". */
  helo: string;
  tls: ClientTls;
  /** Source IP to bind (outbound.source_ipv4/ipv6). */
  localAddress?: string;
  /**
   * Smarthost credentials: AUTH PLAIN, or LOGIN if only that is offered. Sent only over TLS
   * whose certificate verified; in plain text the result is a permanent failure and nothing is
   * sent, with an unverified certificate a temporary one.
   */
  auth?: { username: string; password: string };
  /** Per-stage timeouts in ms; defaults from RFC 5321 §4.5.3.2. */
  timeouts?: Partial<ClientTimeouts>;
}

/** The envelope of one transaction. */
export interface Envelope {
  /** Reverse-path; "" for the null sender. */
  from: string;
  to: string[];
  /** Message size in octets (with CRLF line endings), for SIZE (RFC 1870). */
  size: number;
  /** The message or the addresses need SMTPUTF8 (RFC 6531). */
  smtputf8: boolean;
  /** The content has 8-bit octets (BODY=8BITMIME, RFC 6152). */
  eightBit: boolean;
}

/**
 * The outcome for one recipient. `code`/`enhanced` are the server's reply when it answered;
 * when the failure is local or the connection broke they are chosen here (421 4.4.x for
 * network trouble, 4.7.5 for TLS, 552 5.3.4 for SIZE, 553 5.6.7 for SMTPUTF8, ...), and
 * {@link DeliveryResult.connectionError} without a `code` tells the two apart.
 */
export interface RecipientResult {
  address: string;
  code: number;
  enhanced?: string;
  text: string;
  permanent: boolean;
  ok: boolean;
}

/** The outcome of {@link deliverMessage}. */
export interface DeliveryResult {
  /** Per recipient, in `to` order; for a transaction-level failure every recipient gets that reply. */
  recipients: RecipientResult[];
  /**
   * Failure before any recipient could be tried (connect/TLS/greeting/EHLO/AUTH/MAIL, or a
   * local refusal for SIZE/SMTPUTF8): the error text and whether it is permanent. `code` is
   * present only when the server sent that reply.
   */
  connectionError?: { text: string; permanent: boolean; code?: number };
  /** The TLS session, when one was established. */
  tls?: { protocol: string; cipher: string; authorized: boolean; authorizationError?: string };
  /** The server's name from its EHLO (else greeting) reply, for logs and DSN Remote-MTA. */
  remoteHost?: string;
}

const DEFAULT_TIMEOUTS: ClientTimeouts = {
  connect: 30_000,
  greeting: 5 * 60_000, // RFC 5321 §4.5.3.2.1
  ehlo: 5 * 60_000,
  mail: 5 * 60_000, // RFC 5321 §4.5.3.2.2
  rcpt: 5 * 60_000, // RFC 5321 §4.5.3.2.3
  data: 2 * 60_000, // RFC 5321 §4.5.3.2.4
  dataBlock: 3 * 60_000, // RFC 5321 §4.5.3.2.5
  dataEnd: 10 * 60_000, // RFC 5321 §4.5.3.2.6
};

/** How long to wait for the 221 after QUIT before closing anyway. */
const QUIT_WAIT_MS = 2_000;
/** Longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512; servers exceed it). */
const MAX_REPLY_LINE = 8192;
/** Most lines in one reply (a long EHLO list is some 20). */
const MAX_REPLY_LINES = 200;
/** Content is written in blocks of this size; each block has the dataBlock timeout. */
const WRITE_BLOCK = 64 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Prepare message content for DATA. Every bare CR and bare LF becomes CRLF (RFC 5321 §2.3.8,
 * SMUGGLING.md rule 6), then every line that starts with "." gets another "." (RFC 5321
 * §4.5.2, rule 7), a final CRLF is added when missing, and the terminator ".\r\n" follows
 * (rule 8), so the output ends in exactly "\r\n.\r\n". NUL octets pass through unchanged:
 * {@link deliverMessage} refuses content that has any.
 *
 * @example
 * ```ts
 * const out = encodeData([new TextEncoder().encode("a\n.\nb")]);
 * // out is "a\r\n..\r\nb\r\n.\r\n"
 * ```
 *
 * @param content The message as one or more chunks (a line may span chunks).
 * @returns The bytes to send after the 354 reply, terminator included.
 */
export function encodeData(content: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const c of content) total += c.length;
  // Worst case every octet doubles (bare LF or "." at a line start), plus CRLF and ".\r\n".
  const out = new Uint8Array(total * 2 + 5);
  let n = 0;
  let lineStart = true;
  let pendingCR = false;
  for (const chunk of content) {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (pendingCR) {
        pendingCR = false;
        out[n++] = CR;
        out[n++] = LF;
        lineStart = true;
        if (b === LF) continue; // a proper CRLF
        // else: the CR was bare; it ended a line, and b starts the next one.
      }
      if (b === CR) {
        pendingCR = true;
      } else if (b === LF) {
        // A bare LF ends a line as CRLF.
        out[n++] = CR;
        out[n++] = LF;
        lineStart = true;
      } else {
        if (lineStart && b === DOT) out[n++] = DOT; // RFC 5321 §4.5.2 transparency
        out[n++] = b;
        lineStart = false;
      }
    }
  }
  if (pendingCR || !lineStart) {
    // A trailing bare CR, or content not ending in a line break: end the last line.
    out[n++] = CR;
    out[n++] = LF;
  }
  out[n++] = DOT;
  out[n++] = CR;
  out[n++] = LF;
  return out.slice(0, n);
}

/** A failure that ends the attempt, with the reply to report. */
class Failure extends Error {
  constructor(
    readonly code: number,
    readonly enhanced: string | undefined,
    readonly text: string,
    /** The server sent this reply (as opposed to a local decision or a network failure). */
    readonly fromServer: boolean,
    /** What we were doing, e.g. "MAIL FROM". */
    readonly stage: string,
    /** The connection is unusable (lost, timed out, garbled): close without QUIT. */
    readonly broken = false,
  ) {
    super(`${code} ${enhanced ?? ""} ${text}`.replace(/\s+/g, " "));
    this.name = "Failure";
  }

  get permanent(): boolean {
    return this.code >= 500;
  }

  static reply(r: Reply, stage: string): Failure {
    return new Failure(r.code, r.enhanced, replyText(r), true, stage);
  }

  /** The line for logs and `connectionError.text`. */
  describe(): string {
    const enh = this.enhanced ? ` ${this.enhanced}` : "";
    return `${this.code}${enh} ${this.text} (${
      this.fromServer ? "in reply to" : "at"
    } ${this.stage})`;
  }
}

/** Network trouble: temporary (RFC 3463 X.4.2 "bad connection"). */
function lost(stage: string, text: string): Failure {
  return new Failure(421, "4.4.2", text, false, stage, true);
}

/** A reply we cannot parse: temporary, and the connection is not trusted further. */
function garbled(stage: string, text: string): Failure {
  return new Failure(421, "4.5.0", text, false, stage, true);
}

function replyText(r: Reply): string {
  return r.lines.join(" ").trim();
}

/** Printable ASCII plus UTF-8 text from a reply line, everything else as "?". */
function clean(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, "?");
}

/**
 * A connection to the server: buffered reading of reply lines with deadlines, writes with
 * deadlines, and the TLS upgrade. The stream is a net.Socket, or a TLSSocket over one.
 */
class Connection {
  readonly raw: net.Socket;
  #stream: Duplex;
  #buf: Uint8Array = new Uint8Array(0);
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  secure: tls.TLSSocket | null = null;

  #onData = (d: Uint8Array) => {
    const chunk = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    if (this.#buf.length === 0) {
      this.#buf = chunk.slice();
    } else {
      const b = new Uint8Array(this.#buf.length + chunk.length);
      b.set(this.#buf, 0);
      b.set(chunk, this.#buf.length);
      this.#buf = b;
    }
    this.#notify();
  };
  #onEnd = () => {
    this.#ended = true;
    this.#notify();
  };
  #onError = (e: Error) => {
    this.#error ??= e;
    this.#ended = true;
    this.#notify();
  };

  private constructor(raw: net.Socket) {
    this.raw = raw;
    this.#stream = raw;
    this.#attach();
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

  #attach(): void {
    this.#stream.on("data", this.#onData);
    this.#stream.on("end", this.#onEnd);
    this.#stream.on("close", this.#onEnd);
    this.#stream.on("error", this.#onError);
  }

  #detach(): void {
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

  /** Wait for more input until `deadline`; false on timeout. */
  async #wait(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const got = await new Promise<boolean>((resolve) => {
      this.#wake = () => resolve(true);
      timer = setTimeout(() => resolve(false), left);
    });
    clearTimeout(timer);
    this.#wake = null;
    return got;
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
      if (this.#ended) {
        const why = this.#error ? `: ${errorText(this.#error)}` : "";
        throw lost(stage, `connection closed by server${why}`);
      }
      if (!(await this.#wait(deadline))) {
        throw lost(stage, "timed out waiting for the server's reply");
      }
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
    return this.#buf.length > 0;
  }

  /**
   * Whether an idle connection can take another command: still open, and the server said
   * nothing since its last reply (an idle server speaks only to say goodbye, such as a 421
   * on its timeout, RFC 5321 §4.5.3.2.7).
   */
  get usable(): boolean {
    return !this.#ended && !this.#stream.destroyed && this.#buf.length === 0;
  }

  /** Write and wait until the runtime took the bytes, within `timeoutMs`. */
  async write(data: string | Uint8Array, timeoutMs: number, stage: string): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (this.#ended || this.#stream.destroyed) {
      const why = this.#error ? `: ${errorText(this.#error)}` : "";
      throw lost(stage, `connection closed by server${why}`);
    }
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
    this.#detach();
    // Errors of the TCP layer under TLS still count (and must never go unhandled).
    this.raw.on("error", this.#onError);
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
    this.#ended = false;
    this.#error = null;
    this.#attach();
  }

  /** Close both the TLS and the TCP layer and wait (briefly) until the socket is gone. */
  async close(): Promise<void> {
    this.#detach();
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

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === "string" && !e.message.includes(code)
      ? `${code} ${e.message}`
      : e.message;
  }
  return String(e);
}

/** EHLO keywords (upper case) with their parameters (RFC 5321 §4.1.1.1 ehlo-line). */
type Extensions = Map<string, string[]>;

function parseExtensions(r: Reply): Extensions {
  const ext: Extensions = new Map();
  for (const line of r.lines.slice(1)) {
    const words = line.trim().split(/\s+/);
    let keyword = (words[0] ?? "").toUpperCase();
    let params = words.slice(1);
    // Pre-RFC 4954 servers also say "AUTH=PLAIN LOGIN".
    if (keyword.startsWith("AUTH=")) {
      params = [keyword.slice(5), ...params];
      keyword = "AUTH";
    }
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(keyword)) continue;
    const old = ext.get(keyword);
    ext.set(keyword, old ? [...old, ...params] : params);
  }
  return ext;
}

/**
 * A path usable inside "<...>": no control characters (CR, LF, NUL included), no angle
 * brackets, no spaces outside a quoted local part, and at most one "@" outside quotes at the
 * domain. This is a guard for the command line, not a full RFC 5321 §4.1.2 parser: addresses
 * were parsed when they were accepted.
 */
function validPath(addr: string): boolean {
  // deno-lint-ignore no-control-regex
  if (addr.length > 1000 || /[\x00-\x1f\x7f<>]/.test(addr)) return false;
  const at = addr.lastIndexOf("@");
  if (at <= 0 || at === addr.length - 1) return false;
  const local = addr.slice(0, at);
  const domain = addr.slice(at + 1);
  if (/[\s@"\\]/.test(domain)) return false;
  if (local.startsWith('"')) return /^"(?:[^"\\]|\\.)*"$/.test(local);
  return !/[\s"\\@(),:;[\]]/.test(local);
}

function hasNonAscii(s: string): boolean {
  // deno-lint-ignore no-control-regex
  return /[^\x00-\x7f]/.test(s);
}

/** The server's name from a 220 or 250 first line, as printable ASCII. */
function serverName(r: Reply): string | undefined {
  const word = (r.lines[0] ?? "").trim().split(/\s+/)[0] ?? "";
  return /^[\x21-\x7e]{1,255}$/.test(word) ? word : undefined;
}

/** What one attempt produced, before it is turned into a {@link DeliveryResult}. */
interface Attempt {
  results: (RecipientResult | undefined)[];
  failure?: Failure;
  /** The failure came before any recipient was tried. */
  early: boolean;
  tls?: DeliveryResult["tls"];
  remoteHost?: string;
  /** STARTTLS handshake failed in opportunistic mode: worth one more try in plain text. */
  tlsHandshakeFailed?: boolean;
}

function recipientFrom(address: string, f: Failure): RecipientResult {
  return {
    address,
    code: f.code,
    ...(f.enhanced ? { enhanced: f.enhanced } : {}),
    text: f.text,
    permanent: f.permanent,
    ok: false,
  };
}

function recipientFromReply(address: string, r: Reply): RecipientResult {
  return {
    address,
    code: r.code,
    ...(r.enhanced ? { enhanced: r.enhanced } : {}),
    text: replyText(r),
    permanent: r.code >= 500,
    ok: r.code >= 200 && r.code < 300,
  };
}

/**
 * Deliver one message to one server in one transaction.
 *
 * Never throws for anything the network or the server does: every outcome is in the result.
 * Temporary failures (4xx, timeouts, lost connections, TLS trouble) have `permanent: false`.
 * In `opportunistic` mode (and without `auth`) a failed STARTTLS handshake is retried once on a
 * new connection without TLS, as Postfix does at its "may" level.
 *
 * @example
 * ```ts
 * const r = await deliverMessage(
 *   { host: "192.0.2.25", port: 25, helo: "mx.example.org", tls: { mode: "opportunistic" } },
 *   { from: "a@example.org", to: ["b@example.com"], size: 120, smtputf8: false, eightBit: false },
 *   [new TextEncoder().encode("Subject: hi\r\n\r\nhello\r\n")],
 * );
 * if (r.recipients.every((x) => x.ok)) console.log("delivered");
 * ```
 *
 * @param opts Where and how to connect.
 * @param env The envelope.
 * @param content The message (any line endings; see {@link encodeData}).
 * @returns One result per recipient, in `env.to` order, plus connection facts.
 * @throws {TypeError} for options that are a programming error: `host` not an IP literal, a bad
 * port, or a `helo` name that could not be sent.
 */
export async function deliverMessage(
  opts: ClientOptions,
  env: Envelope,
  content: readonly Uint8Array[],
): Promise<DeliveryResult> {
  const p = prepare(opts, env, content);
  if ("done" in p) return p.done;
  let attempt = await attemptDelivery(opts, opts.tls.mode, env, content, p.timeouts, p.results);
  if (attempt.tlsHandshakeFailed && opts.tls.mode === "opportunistic" && !opts.auth) {
    // Opportunistic TLS (RFC 3207 §4.1 lets a client go on without TLS): a server whose TLS
    // is broken still gets the mail, in plain text, on a new connection. Not with credentials,
    // which never go out in clear: the handshake failure stays a temporary one.
    attempt = await attemptDelivery(opts, "none", env, content, p.timeouts, p.results);
  }
  return toResult(env, attempt);
}

/** Limits of a {@link ConnectionCache}. */
export interface ConnectionCacheOptions {
  /**
   * Most mail transactions over one connection before QUIT.
   * @default 100
   */
  maxTransactions?: number;
  /**
   * How long an unused connection stays open, ms (Postfix: `smtp_connection_cache_time_limit`,
   * 2 s).
   * @default 2000
   */
  idleMs?: number;
}

/**
 * Connection reuse for outbound delivery, as Postfix's `smtp_connection_cache`: after a mail
 * transaction the session is kept open, and the next message for the same server (same IP,
 * port, source address, HELO name, TLS policy and name, credentials) goes over it. RFC 5321
 * §3.3 lets a client start a new transaction with MAIL once the previous one ended with the
 * reply to the final "." (§4.1.1.4); a transaction left open (every recipient refused) is
 * ended with RSET (§4.1.1.5) first, and a session in any other state is not reused. After
 * {@link ConnectionCacheOptions.maxTransactions} transactions, after
 * {@link ConnectionCacheOptions.idleMs} without use, and on {@link ConnectionCache.close}, a
 * cached session is ended with QUIT.
 *
 * A cached connection the server dropped (or answered 421 on) before the new transaction got
 * any reply is not the message's fault: the transaction is made again on a fresh connection
 * within the same {@link ConnectionCache.deliver} call, so it costs no extra attempt. Only a
 * transaction that may have reached the server (the MAIL reply came) is reported as it ended.
 *
 * @example
 * ```ts ignore
 * const cache = new ConnectionCache();
 * const r1 = await cache.deliver(opts, env1, [content1]); // connects, EHLO, STARTTLS, ...
 * const r2 = await cache.deliver(opts, env2, [content2]); // MAIL FROM on the same connection
 * await cache.close(); // QUIT
 * ```
 */
export class ConnectionCache {
  readonly #idle = new Map<string, Session[]>();
  readonly #closing = new Set<Promise<void>>();
  readonly #maxTransactions: number;
  readonly #idleMs: number;
  #closed = false;
  #connections = 0;
  #transactions = 0;

  constructor(options: ConnectionCacheOptions = {}) {
    this.#maxTransactions = Math.max(1, options.maxTransactions ?? 100);
    this.#idleMs = Math.max(0, options.idleMs ?? 2000);
  }

  /** Connections opened and transactions made so far (diagnostics and tests). */
  get stats(): { connections: number; transactions: number; idle: number } {
    let idle = 0;
    for (const list of this.#idle.values()) idle += list.length;
    return { connections: this.#connections, transactions: this.#transactions, idle };
  }

  /**
   * Deliver one message as {@link deliverMessage} does, over a cached session to the same
   * server when there is one.
   */
  async deliver(
    opts: ClientOptions,
    env: Envelope,
    content: readonly Uint8Array[],
  ): Promise<DeliveryResult> {
    const p = prepare(opts, env, content);
    if ("done" in p) return p.done;
    const key = cacheKey(opts);
    for (let s = this.#take(key); s; s = this.#take(key)) {
      const attempt = newAttempt(p.results, s);
      const outcome = await runTransaction(s, env, content, p.timeouts, attempt);
      const f = attempt.failure;
      if (f && attempt.early && (f.broken || (f.fromServer && f.code === 421))) {
        // The server dropped the idle session (or is saying goodbye): try a fresh one.
        this.#close(s, outcome !== "broken");
        continue;
      }
      this.#transactions++;
      await this.#release(key, s, outcome, p.timeouts);
      return toResult(env, attempt);
    }
    let attempt = newAttempt(p.results);
    let s = await openSession(opts, opts.tls.mode, p.timeouts, attempt);
    if (!s && attempt.tlsHandshakeFailed && opts.tls.mode === "opportunistic" && !opts.auth) {
      // As in deliverMessage: a broken STARTTLS gets one more try in plain text.
      attempt = newAttempt(p.results);
      s = await openSession(opts, "none", p.timeouts, attempt);
    }
    if (!s) return toResult(env, attempt);
    this.#connections++;
    this.#transactions++;
    const outcome = await runTransaction(s, env, content, p.timeouts, attempt);
    await this.#release(key, s, outcome, p.timeouts);
    return toResult(env, attempt);
  }

  /** QUIT every cached session; later deliveries still work but are not cached. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [key, list] of this.#idle) {
      this.#idle.delete(key);
      for (const s of list) this.#close(s, s.conn.usable);
    }
    while (this.#closing.size > 0) await Promise.all([...this.#closing]);
  }

  /** A cached session for `key` that still looks alive, or undefined. */
  #take(key: string): Session | undefined {
    const list = this.#idle.get(key);
    for (let s = list?.pop(); s; s = list?.pop()) {
      clearTimeout(s.idleTimer);
      delete s.idleTimer;
      if (s.conn.usable) return s;
      this.#close(s, false); // closed by the server, or it said something (421) while idle
    }
    this.#idle.delete(key);
    return undefined;
  }

  /** After a transaction: keep the session for the next message, or end it. */
  async #release(key: string, s: Session, outcome: Outcome, t: ClientTimeouts): Promise<void> {
    let reusable = outcome === "clean" || outcome === "rset";
    if (reusable && (this.#closed || s.transactions >= this.#maxTransactions)) reusable = false;
    if (reusable && outcome === "rset") {
      // RFC 5321 §4.1.1.5: RSET ends the open transaction; only a 250 makes it clean.
      try {
        await s.conn.write("RSET\r\n", t.mail, "RSET");
        reusable = (await s.conn.readReply(t.mail, "RSET", false)).code === 250;
      } catch {
        this.#close(s, false);
        return;
      }
    }
    if (!reusable || this.#closed) {
      this.#close(s, outcome !== "broken");
      return;
    }
    s.idleTimer = setTimeout(() => {
      const list = this.#idle.get(key);
      const i = list?.indexOf(s) ?? -1;
      if (i >= 0) list!.splice(i, 1);
      if (list?.length === 0) this.#idle.delete(key);
      this.#close(s, s.conn.usable);
    }, this.#idleMs);
    let list = this.#idle.get(key);
    if (!list) this.#idle.set(key, list = []);
    list.push(s);
  }

  /** End a session in the background (QUIT when `quit`); close() waits for it. */
  #close(s: Session, quit: boolean): void {
    clearTimeout(s.idleTimer);
    const p = closeSession(s.conn, quit).finally(() => this.#closing.delete(p));
    this.#closing.add(p);
  }
}

/** Sessions are shared only between deliveries that would open the very same one. */
function cacheKey(o: ClientOptions): string {
  return JSON.stringify([
    o.host,
    o.port,
    o.localAddress ?? "",
    o.helo,
    o.tls.mode,
    o.tls.servername ?? "",
    o.tls.caCerts ?? null,
    o.auth?.username ?? null,
    o.auth?.password ?? null,
  ]);
}

/** Checked options and envelope, or the result when nothing needs to be sent. */
type Prepared =
  | { done: DeliveryResult }
  | { timeouts: ClientTimeouts; results: (RecipientResult | undefined)[] };

/**
 * The local checks before any connection: options (TypeError for a programming error), the
 * addresses and the content. Recipients that cannot be sent get their result here.
 */
function prepare(
  opts: ClientOptions,
  env: Envelope,
  content: readonly Uint8Array[],
): Prepared {
  if (net.isIP(opts.host) === 0) {
    throw new TypeError(
      `Cannot deliver: "host" must be an IP literal: current value is "${opts.host}"`,
    );
  }
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
    throw new TypeError(`Cannot deliver: "port" must be 1-65535: current value is ${opts.port}`);
  }
  // RFC 5321 §4.1.1.1: a domain or an address literal; printable ASCII, one word.
  if (!/^[\x21-\x7e]{1,255}$/.test(opts.helo)) {
    throw new TypeError(
      `Cannot deliver: "helo" must be a host name: current value is "${opts.helo}"`,
    );
  }
  const timeouts: ClientTimeouts = { ...DEFAULT_TIMEOUTS };
  for (const [k, v] of Object.entries(opts.timeouts ?? {})) {
    if (typeof v === "number" && v > 0) timeouts[k as keyof ClientTimeouts] = v;
  }

  const results: (RecipientResult | undefined)[] = env.to.map((a) =>
    validPath(a) ? undefined : recipientFrom(
      a,
      // RFC 3463 X.1.3 "bad destination mailbox address syntax".
      new Failure(
        553,
        "5.1.3",
        "recipient address cannot be sent in an SMTP command",
        false,
        "RCPT TO",
      ),
    )
  );
  const refuse = (f: Failure): Prepared => ({
    done: {
      recipients: env.to.map((a, i) => results[i] ?? recipientFrom(a, f)),
      connectionError: { text: f.describe(), permanent: f.permanent },
    },
  });
  if (env.from !== "" && !validPath(env.from)) {
    // RFC 3463 X.1.7 "bad sender's mailbox address syntax".
    return refuse(
      new Failure(
        553,
        "5.1.7",
        "sender address cannot be sent in an SMTP command",
        false,
        "MAIL FROM",
      ),
    );
  }
  if (content.some((c) => c.includes(0))) {
    // SMUGGLING.md rule 6: a NUL is never transmitted; the caller should have refused it.
    return refuse(new Failure(554, "5.6.0", "message contains NUL octets", false, "DATA"));
  }
  if (results.every((r) => r !== undefined)) {
    return { done: { recipients: results as RecipientResult[] } };
  }
  return { timeouts, results };
}

/** The {@link DeliveryResult} of an attempt. */
function toResult(env: Envelope, attempt: Attempt): DeliveryResult {
  const out: DeliveryResult = { recipients: [] };
  const f = attempt.failure;
  out.recipients = env.to.map((a, i) => {
    const r = attempt.results[i];
    if (r) return r;
    return f ? recipientFrom(a, f) : recipientFrom(
      a,
      new Failure(421, "4.5.0", "no reply recorded for this recipient", false, "RCPT TO"),
    );
  });
  if (f && attempt.early) {
    out.connectionError = {
      text: f.describe(),
      permanent: f.permanent,
      ...(f.fromServer ? { code: f.code } : {}),
    };
  }
  if (attempt.tls) out.tls = attempt.tls;
  if (attempt.remoteHost) out.remoteHost = attempt.remoteHost;
  return out;
}

/**
 * An SMTP session that is ready for mail transactions: greeting read, EHLO (and STARTTLS,
 * EHLO again, AUTH) done.
 */
interface Session {
  conn: Connection;
  ext: Extensions;
  tls?: DeliveryResult["tls"];
  remoteHost?: string;
  /** Mail transactions attempted on it. */
  transactions: number;
  /** While cached: closes it when it has been idle too long. */
  idleTimer?: ReturnType<typeof setTimeout>;
}

/**
 * How a transaction left the session:
 * - `clean`: no transaction open (it ended with the reply to the final ".", or nothing was
 *   sent): another may start at once (RFC 5321 §3.3, §4.1.1.4);
 * - `rset`: a transaction is still open (MAIL accepted, every recipient refused): RSET
 *   (RFC 5321 §4.1.1.5) makes it clean;
 * - `dirty`: a failure left replies unread or the state unknown: QUIT, do not reuse;
 * - `broken`: the connection is gone (lost, timed out, 421): close without QUIT.
 */
type Outcome = "clean" | "rset" | "dirty" | "broken";

function newAttempt(initial: readonly (RecipientResult | undefined)[], s?: Session): Attempt {
  const a: Attempt = { results: [...initial], early: true };
  if (s?.tls) a.tls = s.tls;
  if (s?.remoteHost) a.remoteHost = s.remoteHost;
  return a;
}

/** Any error as a {@link Failure}; an unexpected one (a bug) is temporary, never a loss. */
function asFailure(e: unknown): Failure {
  if (e instanceof Failure) return e;
  return new Failure(421, "4.3.0", `internal error: ${errorText(e)}`, false, "SMTP", true);
}

/**
 * Whether QUIT is worth sending after a failure: not after a 421 reply or on a broken
 * connection, where the server is gone; after a timeout RFC 5321 §4.5.3.2 has the client
 * close rather than talk on.
 */
function quitAfter(f: Failure): boolean {
  return !f.broken && !(f.fromServer && f.code === 421);
}

/** End a session: QUIT (RFC 5321 §4.1.1.10) unless told not to, then close the socket. */
async function closeSession(conn: Connection, quit: boolean): Promise<void> {
  if (quit) {
    try {
      // The 221 is not worth waiting long for.
      await conn.write("QUIT\r\n", QUIT_WAIT_MS, "QUIT");
      await conn.readReply(QUIT_WAIT_MS, "QUIT", false);
    } catch {
      // Already done; the server may close without a 221.
    }
  }
  await conn.close();
}

/** One connection, one transaction, QUIT. Fills `results` for the recipients answered. */
async function attemptDelivery(
  opts: ClientOptions,
  mode: ClientTls["mode"],
  env: Envelope,
  content: readonly Uint8Array[],
  timeouts: ClientTimeouts,
  initial: readonly (RecipientResult | undefined)[],
): Promise<Attempt> {
  const attempt = newAttempt(initial);
  const s = await openSession(opts, mode, timeouts, attempt);
  if (!s) return attempt;
  const outcome = await runTransaction(s, env, content, timeouts, attempt);
  await closeSession(s.conn, outcome !== "broken");
  return attempt;
}

/**
 * Connect and make the session ready for mail. On failure the connection is closed, the
 * failure is in `attempt`, and the result is undefined.
 */
async function openSession(
  opts: ClientOptions,
  mode: ClientTls["mode"],
  t: ClientTimeouts,
  attempt: Attempt,
): Promise<Session | undefined> {
  let conn: Connection;
  try {
    conn = await Connection.open(opts, t.connect);
  } catch (e) {
    attempt.failure = asFailure(e);
    return undefined;
  }
  try {
    const ext = await greet(conn, opts, mode, t, attempt);
    const s: Session = { conn, ext, transactions: 0 };
    if (attempt.tls) s.tls = attempt.tls;
    if (attempt.remoteHost) s.remoteHost = attempt.remoteHost;
    return s;
  } catch (e) {
    const f = asFailure(e);
    attempt.failure = f;
    if (f.stage === "STARTTLS handshake" && mode === "opportunistic") {
      attempt.tlsHandshakeFailed = true;
    }
    await closeSession(conn, quitAfter(f));
    return undefined;
  }
}

/**
 * One mail transaction on a ready session, with the local checks first. Failures go into
 * `attempt`; the result tells what state the session is in.
 */
async function runTransaction(
  s: Session,
  env: Envelope,
  content: readonly Uint8Array[],
  t: ClientTimeouts,
  attempt: Attempt,
): Promise<Outcome> {
  s.transactions++;
  const refusal = localRefusal(s.ext, env);
  if (refusal) {
    attempt.failure = refusal; // nothing was sent: the session stays clean
    return "clean";
  }
  try {
    return await transact(s, env, content, t, attempt);
  } catch (e) {
    const f = asFailure(e);
    attempt.failure = f;
    return quitAfter(f) ? "dirty" : "broken";
  }
}

/**
 * The opening of a session: TLS first in implicit mode, the greeting, EHLO or HELO, STARTTLS
 * (then EHLO again) and AUTH. Returns the extensions; throws a {@link Failure}.
 */
async function greet(
  conn: Connection,
  opts: ClientOptions,
  mode: ClientTls["mode"],
  t: ClientTimeouts,
  attempt: Attempt,
): Promise<Extensions> {
  const recordTls = () => {
    const s = conn.secure!;
    const err = s.authorizationError as unknown;
    attempt.tls = {
      protocol: s.getProtocol() ?? "TLS",
      cipher: s.getCipher()?.name ?? "unknown",
      authorized: s.authorized,
      ...(!s.authorized && err ? { authorizationError: errorText(err) } : {}),
    };
  };
  // `quiet`: nothing was said over TLS yet (implicit TLS), so close without QUIT.
  const checkVerified = (quiet: boolean) => {
    if (!attempt.tls!.authorized) {
      const why = attempt.tls!.authorizationError ?? "not verified";
      throw new Failure(
        421,
        "4.7.5",
        `TLS certificate not verified: ${why}`,
        false,
        "TLS certificate check",
        quiet,
      );
    }
  };

  if (mode === "implicit") {
    // RFC 8314 §3: TLS from the first octet; the certificate must verify.
    await conn.startTls(opts.tls, opts.host, t.connect, "TLS handshake");
    recordTls();
    checkVerified(true);
  }

  // RFC 5321 §3.1, §4.3.1: the greeting is 220; 554 means "no service here".
  const greeting = await conn.readReply(t.greeting, "greeting", true);
  if (greeting.code !== 220) {
    const f = Failure.reply(greeting, "greeting");
    if (greeting.code >= 400) throw f;
    throw new Failure(
      421,
      "4.5.0",
      `unexpected greeting: ${greeting.code} ${f.text}`,
      false,
      "greeting",
    );
  }
  attempt.remoteHost = serverName(greeting);

  let ext = await hello(conn, opts.helo, t.ehlo, attempt);
  const enhanced = () => ext.has("ENHANCEDSTATUSCODES"); // RFC 2034 §3

  if (mode === "opportunistic" || mode === "required") {
    if (ext.has("STARTTLS")) {
      // RFC 3207 §4
      await conn.write("STARTTLS\r\n", t.ehlo, "STARTTLS");
      const r = await conn.readReply(t.ehlo, "STARTTLS", enhanced());
      if (r.code === 220) {
        await conn.startTls(opts.tls, opts.host, t.ehlo, "STARTTLS handshake");
        recordTls();
        if (mode === "required") checkVerified(false);
        // RFC 3207 §4.2: forget what was learnt before TLS and say EHLO again.
        ext = await hello(conn, opts.helo, t.ehlo, attempt);
      } else if (r.code === 421) {
        throw Failure.reply(r, "STARTTLS");
      } else if (mode === "required") {
        throw new Failure(
          421,
          "4.7.5",
          `STARTTLS refused (${r.code} ${replyText(r)}), TLS is required`,
          false,
          "STARTTLS",
        );
      }
      // RFC 3207 §4: after a refused STARTTLS an opportunistic client may go on in clear.
    } else if (mode === "required") {
      throw new Failure(
        421,
        "4.7.5",
        "server does not offer STARTTLS, TLS is required",
        false,
        "EHLO",
      );
    }
  }

  if (opts.auth) await authenticate(conn, opts.auth, ext, t.ehlo, attempt, enhanced());
  return ext;
}

/**
 * What the server announced it cannot take, checked before MAIL: a message above its SIZE
 * (RFC 1870 §6; SIZE 0 means no limit), or one that needs SMTPUTF8 when that is not offered
 * (RFC 6531 §3.4).
 */
function localRefusal(ext: Extensions, env: Envelope): Failure | undefined {
  const sizeParam = ext.get("SIZE");
  if (sizeParam !== undefined) {
    const limit = /^\d{1,15}$/.test(sizeParam[0] ?? "") ? Number(sizeParam[0]) : 0;
    if (limit > 0 && env.size > limit) {
      return new Failure(
        552,
        "5.3.4",
        `message too big for remote server: ${env.size} octets, limit ${limit}`,
        false,
        "SIZE check",
      );
    }
  }
  const needUtf8 = env.smtputf8 || hasNonAscii(env.from) || env.to.some(hasNonAscii);
  if (needUtf8 && !ext.has("SMTPUTF8")) {
    // RFC 6531 §3.4 (and §3.2 for the code): without SMTPUTF8 at the server the message cannot
    // be sent as is; we do not downgrade, so it is returned.
    return new Failure(
      553,
      "5.6.7",
      "message needs SMTPUTF8 (non-ASCII addresses or headers), which the remote server does not support",
      false,
      "SMTPUTF8 check",
    );
  }

  return undefined;
}

/**
 * The mail transaction itself (RFC 5321 §3.3): MAIL, RCPT for each recipient, DATA, the
 * content. Throws a {@link Failure} to end the session; fills `attempt.results` as recipients
 * are answered.
 */
async function transact(
  s: Session,
  env: Envelope,
  content: readonly Uint8Array[],
  t: ClientTimeouts,
  attempt: Attempt,
): Promise<Outcome> {
  const { conn, ext } = s;
  const enhanced = () => ext.has("ENHANCEDSTATUSCODES"); // RFC 2034 §3
  const sizeParam = ext.get("SIZE");
  const needUtf8 = env.smtputf8 || hasNonAscii(env.from) || env.to.some(hasNonAscii);
  // MAIL FROM:<path> [SP params] (RFC 5321 §4.1.1.2)
  let mail = `MAIL FROM:<${env.from}>`;
  if (sizeParam !== undefined && Number.isSafeInteger(env.size) && env.size >= 0) {
    mail += ` SIZE=${env.size}`; // RFC 1870 §4
  }
  if (env.eightBit && ext.has("8BITMIME")) {
    mail += " BODY=8BITMIME"; // RFC 6152 §2
  }
  // When 8BITMIME is not offered, 8-bit content goes out without BODY=: RFC 6152 §3 would
  // have us convert to 7 bit or bounce; like Postfix, we send it and let the server decide.
  if (needUtf8) mail += " SMTPUTF8"; // RFC 6531 §3.4
  const todo: number[] = [];
  env.to.forEach((_, i) => {
    if (attempt.results[i] === undefined) todo.push(i);
  });
  const rcptLine = (i: number) => `RCPT TO:<${env.to[i]}>\r\n`; // RFC 5321 §4.1.1.3

  let accepted: number[] = [];
  let dataReply: Reply | null = null;
  if (ext.has("PIPELINING")) {
    // RFC 2920 §3.1: MAIL, every RCPT and DATA (last in the group) in one write; the replies
    // come back in order.
    await conn.write(`${mail}\r\n${todo.map(rcptLine).join("")}DATA\r\n`, t.mail, "MAIL FROM");
    const m = await conn.readReply(t.mail, "MAIL FROM", enhanced());
    if (m.code < 200 || m.code >= 300) throw unexpected(m, "MAIL FROM");
    attempt.early = false;
    accepted = await readRcptReplies(conn, env, todo, t.rcpt, attempt, enhanced());
    dataReply = await conn.readReply(t.data, "DATA", enhanced());
    if (dataReply.code === 354 && accepted.length === 0) {
      // RFC 2920 §3.1: DATA was accepted with no recipient; end it with an empty message.
      await conn.write(".\r\n", t.dataBlock, "DATA");
      const end = await conn.readReply(t.dataEnd, "end of data", enhanced());
      return end.code === 421 ? "broken" : "clean";
    }
  } else {
    await conn.write(`${mail}\r\n`, t.mail, "MAIL FROM");
    const m = await conn.readReply(t.mail, "MAIL FROM", enhanced());
    if (m.code < 200 || m.code >= 300) throw unexpected(m, "MAIL FROM");
    attempt.early = false;
    for (const i of todo) {
      await conn.write(rcptLine(i), t.rcpt, "RCPT TO");
      accepted.push(...await readRcptReplies(conn, env, [i], t.rcpt, attempt, enhanced()));
    }
    if (accepted.length > 0) {
      await conn.write("DATA\r\n", t.data, "DATA");
      dataReply = await conn.readReply(t.data, "DATA", enhanced());
    }
  }
  // No recipient accepted: no DATA (or its refusal is expected); every result is known. The
  // transaction MAIL opened is still there.
  if (accepted.length === 0) return "rset";
  if (dataReply!.code !== 354) throw unexpected(dataReply!, "DATA");

  // RFC 5321 §4.1.1.4: the content, dot-stuffed, then CRLF.CRLF.
  const data = encodeData(content);
  for (let off = 0; off < data.length; off += WRITE_BLOCK) {
    await conn.write(data.subarray(off, off + WRITE_BLOCK), t.dataBlock, "DATA content");
  }
  const final = await conn.readReply(t.dataEnd, "end of data", enhanced());
  // RFC 5321 §4.1.1.4: one reply for the whole message, for every accepted recipient.
  for (const i of accepted) attempt.results[i] = recipientFromReply(env.to[i]!, final);
  return final.code === 421 ? "broken" : "clean";
}

/** A reply that is not the expected 2xx/3xx: the server's failure, or a protocol error. */
function unexpected(r: Reply, stage: string): Failure {
  if (r.code >= 400) return Failure.reply(r, stage);
  return new Failure(421, "4.5.0", `unexpected reply ${r.code} ${replyText(r)}`, false, stage);
}

/** Read RCPT replies for `indexes`; return those accepted. A 421 ends the attempt. */
async function readRcptReplies(
  conn: Connection,
  env: Envelope,
  indexes: number[],
  timeoutMs: number,
  attempt: Attempt,
  enhanced: boolean,
): Promise<number[]> {
  const accepted: number[] = [];
  for (const i of indexes) {
    const r = await conn.readReply(timeoutMs, "RCPT TO", enhanced);
    // RFC 5321 §4.2.5: 251 and 252 are acceptances too.
    if (r.code >= 200 && r.code < 300) {
      accepted.push(i);
    } else if (r.code >= 400) {
      attempt.results[i] = recipientFromReply(env.to[i]!, r);
      if (r.code === 421) throw Failure.reply(r, "RCPT TO");
    } else {
      throw unexpected(r, "RCPT TO");
    }
  }
  return accepted;
}

/**
 * EHLO, or HELO when EHLO is refused with 5xx (RFC 5321 §4.1.1.1, §3.2). Returns the
 * extensions (none after HELO).
 */
async function hello(
  conn: Connection,
  name: string,
  timeoutMs: number,
  attempt: Attempt,
): Promise<Extensions> {
  await conn.write(`EHLO ${name}\r\n`, timeoutMs, "EHLO");
  const r = await conn.readReply(timeoutMs, "EHLO", true);
  if (r.code === 250) {
    attempt.remoteHost = serverName(r) ?? attempt.remoteHost;
    return parseExtensions(r);
  }
  if (r.code < 500 || r.code === 554) {
    // 4xx: try later; 554 ("no SMTP service here") would refuse HELO just the same.
    throw unexpected(r, "EHLO");
  }
  await conn.write(`HELO ${name}\r\n`, timeoutMs, "HELO");
  const h = await conn.readReply(timeoutMs, "HELO", true);
  if (h.code !== 250) throw unexpected(h, "HELO");
  attempt.remoteHost = serverName(h) ?? attempt.remoteHost;
  return new Map();
}

/**
 * RFC 4954 AUTH with PLAIN (RFC 4616) or LOGIN. Credentials only go over TLS whose
 * certificate verified (RFC 8314 §3 asks for TLS; a certificate nobody checked would hand the
 * password to whoever sits in the middle).
 */
async function authenticate(
  conn: Connection,
  auth: { username: string; password: string },
  ext: Extensions,
  timeoutMs: number,
  attempt: Attempt,
  enhanced: boolean,
): Promise<void> {
  const stage = "AUTH";
  if (!attempt.tls) {
    // RFC 4954 §6's 538 5.7.11 "encryption required for requested authentication mechanism".
    throw new Failure(
      538,
      "5.7.11",
      "refusing to send credentials without TLS",
      false,
      stage,
    );
  }
  if (!attempt.tls.authorized) {
    const why = attempt.tls.authorizationError ?? "not verified";
    throw new Failure(
      421,
      "4.7.5",
      `refusing to send credentials: TLS certificate not verified: ${why}`,
      false,
      stage,
    );
  }
  if (auth.username.includes("\0") || auth.password.includes("\0")) {
    // RFC 4616 §2: NUL separates the fields and cannot be part of them.
    throw new Failure(554, "5.7.8", "credentials contain NUL", false, stage);
  }
  const mechs = (ext.get("AUTH") ?? []).map((m) => m.toUpperCase());
  const b64 = (s: string) => encodeBase64(encoder.encode(s));
  let r: Reply;
  if (mechs.includes("PLAIN")) {
    // RFC 4616 §2: [authzid] NUL authcid NUL passwd; RFC 4954 §4: as initial response.
    const resp = b64(`\0${auth.username}\0${auth.password}`);
    await conn.write(`AUTH PLAIN ${resp}\r\n`, timeoutMs, stage);
    r = await conn.readReply(timeoutMs, stage, enhanced);
    if (r.code === 334) {
      // A server that ignored the initial response asks for it.
      await conn.write(`${resp}\r\n`, timeoutMs, stage);
      r = await conn.readReply(timeoutMs, stage, enhanced);
    }
  } else if (mechs.includes("LOGIN")) {
    // draft-murchison-sasl-login: username and password, each in answer to a 334.
    await conn.write("AUTH LOGIN\r\n", timeoutMs, stage);
    r = await conn.readReply(timeoutMs, stage, enhanced);
    if (r.code === 334) {
      await conn.write(`${b64(auth.username)}\r\n`, timeoutMs, stage);
      r = await conn.readReply(timeoutMs, stage, enhanced);
    }
    if (r.code === 334) {
      await conn.write(`${b64(auth.password)}\r\n`, timeoutMs, stage);
      r = await conn.readReply(timeoutMs, stage, enhanced);
    }
  } else {
    const offered = mechs.length ? mechs.join(" ") : "none";
    throw new Failure(
      421,
      "4.7.0",
      `server offers no usable AUTH mechanism (offered: ${offered})`,
      false,
      stage,
    );
  }
  if (r.code === 334) {
    // Still asking: cancel the exchange (RFC 4954 §4) and give up.
    await conn.write("*\r\n", timeoutMs, stage);
    await conn.readReply(timeoutMs, stage, enhanced);
    throw new Failure(421, "4.7.0", "unexpected AUTH challenge", false, stage);
  }
  if (r.code !== 235) throw unexpected(r, stage); // RFC 4954 §6: 235 2.7.0 success
}

function encodeBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
