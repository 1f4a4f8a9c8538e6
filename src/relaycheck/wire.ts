/**
 * The relay-check wire: one SMTP client connection that sends command lines and reads
 * (multi-line) replies, each under a timeout, and can upgrade to TLS after STARTTLS. It only
 * ever sends the commands of a whitelist that leaves out DATA and BDAT, so nothing sent through
 * it can turn into relayed mail.
 *
 * @module
 */

/** A reply longer than this is garbage, not SMTP. */
const MAX_REPLY_BYTES = 64 * 1024;
/** The only commands this client ever sends. DATA and BDAT are deliberately absent. */
const ALLOWED_VERBS = new Set(["EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "QUIT"]);

/** One SMTP reply. */
export interface Reply {
  code: number;
  lines: string[];
  /** The first line as received (code included), made printable. */
  first: string;
}

/** The connection is unusable: closed, reset, timed out or not speaking SMTP. */
export class ConnectionLost extends Error {}

/** `s` with anything but printable ASCII replaced by "?", cut to `max` characters. */
export function printable(s: string, max = 200): string {
  const t = s.replace(/[^\x20-\x7e]/g, "?");
  return t.length > max ? t.slice(0, max) + "..." : t;
}

/** `p`, or a ConnectionLost saying "timed out after `shownMs` ms `what`" after `ms`. */
async function withTimeout<T>(p: Promise<T>, ms: number, what: string, shownMs = ms): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ConnectionLost(`timed out after ${shownMs} ms ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const encoder = new TextEncoder();

/** One SMTP client connection: sends command lines, reads (multi-line) replies. */
export class Wire {
  #conn: Deno.Conn;
  #buf = "";
  #decoder = new TextDecoder();
  #eof = false;
  #closed = false;
  // A read that outlived a timeout is kept: closing the connection settles it.
  #pending: Promise<Uint8Array | null> | null = null;

  /** `timeoutMs` bounds each reply, each send and the TLS handshake. */
  constructor(conn: Deno.Conn, readonly timeoutMs: number) {
    this.#conn = conn;
  }

  #read(): Promise<Uint8Array | null> {
    this.#pending ??= (async () => {
      const b = new Uint8Array(16384);
      try {
        const n = await this.#conn.read(b);
        return n === null ? null : b.slice(0, n);
      } catch {
        return null; // reset, or closed locally
      }
    })();
    return this.#pending;
  }

  /** Read one reply (RFC 5321 §4.2.1: "ddd-text" lines, then "ddd text" or "ddd"). */
  async reply(): Promise<Reply> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const parsed = this.#parse();
      if (parsed) return parsed;
      if (this.#eof) {
        const rest = this.#buf.trim();
        throw new ConnectionLost(
          rest === ""
            ? "connection closed by the server"
            : `connection closed after "${printable(rest, 80)}"`,
        );
      }
      if (this.#buf.length > MAX_REPLY_BYTES) throw new ConnectionLost("reply too long");
      const chunk = await withTimeout(
        this.#read(),
        Math.max(0, deadline - Date.now()),
        "waiting for a reply",
        this.timeoutMs,
      );
      this.#pending = null;
      if (chunk === null) {
        this.#eof = true;
        this.#buf += this.#decoder.decode();
      } else {
        this.#buf += this.#decoder.decode(chunk, { stream: true });
      }
    }
  }

  #parse(): Reply | null {
    const lines: string[] = [];
    let pos = 0;
    let code = 0;
    for (;;) {
      const nl = this.#buf.indexOf("\n", pos);
      if (nl < 0) return null;
      const line = this.#buf.slice(pos, nl).replace(/\r$/, "");
      pos = nl + 1;
      const m = /^(\d{3})([ -]|$)(.*)$/.exec(line);
      if (!m) throw new ConnectionLost(`not an SMTP reply: "${printable(line, 80)}"`);
      const c = Number(m[1]);
      if (lines.length > 0 && c !== code) {
        throw new ConnectionLost(`inconsistent multi-line reply: "${printable(line, 80)}"`);
      }
      code = c;
      lines.push(line);
      if (m[2] !== "-") {
        this.#buf = this.#buf.slice(pos);
        return { code, lines, first: printable(lines[0]!) };
      }
    }
  }

  /** Send one command line; anything outside the whitelist (DATA, BDAT, CR/LF) throws. */
  async send(line: string): Promise<void> {
    const verb = line.split(" ", 1)[0]!.toUpperCase();
    // The safety property of the whole tool: nothing but these commands ever leaves.
    if (!ALLOWED_VERBS.has(verb) || /[\r\n]/.test(line)) {
      throw new Error(`relay-check refuses to send ${JSON.stringify(line)}`);
    }
    const bytes = encoder.encode(line + "\r\n");
    try {
      await withTimeout(
        (async () => {
          let off = 0;
          while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
        })(),
        this.timeoutMs,
        "sending a command",
      );
    } catch (e) {
      if (e instanceof ConnectionLost) throw e;
      throw new ConnectionLost(`send failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Send one command line and read its reply. */
  async command(line: string): Promise<Reply> {
    await this.send(line);
    return await this.reply();
  }

  /** Upgrade to TLS after the 220 reply to STARTTLS. */
  async startTls(serverName: string): Promise<void> {
    // RFC 3207 §4.2: anything received before the handshake is discarded (and would be an
    // injection attempt).
    this.#buf = "";
    const tls = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname: serverName,
      unsafelyDisableHostnameVerification: true,
    });
    this.#conn = tls;
    await withTimeout(tls.handshake(), this.timeoutMs, "in the TLS handshake");
  }

  /** Close the connection (once) and settle a read still pending. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    if (this.#pending) await this.#pending;
    this.#pending = null;
  }
}
