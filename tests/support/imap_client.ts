/**
 * A small IMAP client for tests over loopback sockets: sends exact text, reads lines or whole
 * tagged answers (literals are read inline by octet count, as the text is decoded latin1, one
 * character per octet), can STARTTLS, and can tell when the server closed the connection.
 *
 * @module
 */

import { TEST_PASSWORD } from "./harness.ts";

const enc = new TextEncoder();
// latin1: one character per octet, so literal sizes can be counted on the string.
const dec = new TextDecoder("latin1");

/** The name the test certificate is issued to; TLS clients connect to 127.0.0.1 with it. */
export const CERT_NAME = "mx.example.test";

/** A line-oriented IMAP test client. */
export class Imap {
  #conn: Deno.Conn | Deno.TlsConn;
  #buf = "";
  constructor(conn: Deno.Conn | Deno.TlsConn) {
    this.#conn = conn;
  }

  /** Connect to 127.0.0.1:port without TLS. */
  static async plain(port: number): Promise<Imap> {
    return new Imap(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Connect to 127.0.0.1:port with implicit TLS, trusting `ca`. */
  static async tls(port: number, ca: string): Promise<Imap> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    return new Imap(await Deno.startTls(tcp, { hostname: CERT_NAME, caCerts: [ca] }));
  }

  /** Implicit TLS, greeting read, logged in as `user`; the tagged reply must be OK. */
  static async login(port: number, ca: string, user = "alice@example.test"): Promise<Imap> {
    const c = await Imap.tls(port, ca);
    try {
      await c.line();
      const r = await c.cmd("L1", `LOGIN ${user} "${TEST_PASSWORD}"`);
      if (!/^L1 OK/m.test(r)) throw new Error(`login failed: ${r}`);
      return c;
    } catch (e) {
      c.close();
      throw e;
    }
  }

  /** Upgrade the connection after a tagged OK to STARTTLS. */
  async starttls(ca: string): Promise<void> {
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname: CERT_NAME,
      caCerts: [ca],
    });
  }

  /** Text received and not yet consumed. */
  get pending(): string {
    return this.#buf;
  }

  /** Write all of `text` (a TLS write may take only part of it). */
  async send(text: string | Uint8Array): Promise<void> {
    const data = typeof text === "string" ? enc.encode(text) : text;
    for (let off = 0; off < data.length;) off += await this.#conn.write(data.subarray(off));
  }

  /** Read until `done(buffer)` says the buffer holds a complete answer; return and consume it. */
  async until(done: (b: string) => number, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = done(this.#buf);
      if (end >= 0) {
        const out = this.#buf.slice(0, end);
        this.#buf = this.#buf.slice(end);
        return out;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; have ${JSON.stringify(this.#buf)}`);
      const b = new Uint8Array(65536);
      let fired = false;
      const timer = setTimeout(() => {
        fired = true;
        this.close();
      }, left);
      let n: number | null;
      try {
        n = await this.#conn.read(b);
      } catch (e) {
        if (fired) throw new Error(`timed out; have ${JSON.stringify(this.#buf)}`);
        throw e;
      } finally {
        clearTimeout(timer);
      }
      if (n === null) throw new Error(`connection closed; have ${JSON.stringify(this.#buf)}`);
      this.#buf += dec.decode(b.subarray(0, n));
    }
  }

  /** One line, CRLF included. */
  line(timeoutMs?: number): Promise<string> {
    return this.until((b) => {
      const i = b.indexOf("\r\n");
      return i < 0 ? -1 : i + 2;
    }, timeoutMs);
  }

  /** Everything up to and including the tagged reply of `tag`. */
  tagged(tag: string, timeoutMs?: number): Promise<string> {
    const re = new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r]*\\r\\n`);
    return this.until((b) => {
      const m = re.exec(b);
      return m ? m.index + m[0].length : -1;
    }, timeoutMs);
  }

  /** Send a tagged command; everything up to and including its tagged reply. */
  async cmd(tag: string, text: string): Promise<string> {
    await this.send(`${tag} ${text}\r\n`);
    return await this.tagged(tag);
  }

  /**
   * Read and discard until the server ends the connection (end of stream or reset); false
   * when it is still open after `timeoutMs`. What was read stays in {@link pending}.
   */
  async closedByServer(timeoutMs = 10_000): Promise<boolean> {
    try {
      await this.until(() => -1, timeoutMs);
    } catch (e) {
      // A reset, or (TLS) an end without close_notify, as a destroyed socket gives.
      if (e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.UnexpectedEof) {
        return true;
      }
      const msg = (e as Error).message;
      if (msg.startsWith("connection closed")) return true;
      if (msg.startsWith("timed out")) return false;
      throw e;
    }
    return false;
  }

  /** Close the connection (no error when it already is). */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}
