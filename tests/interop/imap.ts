/**
 * A minimal IMAP4rev1 client (RFC 3501) over plain TCP or implicit TLS, enough to log in, select
 * a mailbox and fetch a message: tagged commands, untagged responses, and `{n}` literals read by
 * octet count. Also the synthetic mbox that imaptest's clients append from (interop tests and
 * benchmark).
 *
 * @module
 */

const enc = new TextEncoder();
/**
 * One character per octet (U+0000 to U+00FF), so literal lengths can be counted on the string.
 * Not `TextDecoder("latin1")`: the Encoding Standard maps that label to windows-1252, which turns
 * 0x80-0x9F into other code points.
 */
function octets(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode(...b.subarray(i, i + 8192));
  }
  return s;
}

/** The response to one tagged command. */
export interface ImapResponse {
  /** OK, NO or BAD. */
  status: string;
  /** The tagged completion line, without the tag. */
  text: string;
  /** Everything before the tagged line (untagged responses with literals inline). */
  untagged: string;
}

/** An IMAP connection on 127.0.0.1. */
export class ImapClient {
  #conn: Deno.Conn | Deno.TlsConn;
  #buf = "";
  #tag = 0;

  private constructor(conn: Deno.Conn | Deno.TlsConn) {
    this.#conn = conn;
  }

  /** Connect and read the greeting, which must be `* OK`. */
  static async connect(port: number): Promise<{ client: ImapClient; greeting: string }> {
    return await ImapClient.#greet(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /**
   * Connect with implicit TLS to 127.0.0.1, verifying the certificate against `caPem` under
   * `serverName` (never a DNS lookup), and read the greeting.
   */
  static async connectTls(
    port: number,
    caPem: string,
    serverName = "mx.example.test",
  ): Promise<{ client: ImapClient; greeting: string }> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    return await ImapClient.#greet(
      await Deno.startTls(tcp, { hostname: serverName, caCerts: [caPem] }),
    );
  }

  static async #greet(
    conn: Deno.Conn | Deno.TlsConn,
  ): Promise<{ client: ImapClient; greeting: string }> {
    const c = new ImapClient(conn);
    try {
      const greeting = await c.#line(10_000);
      if (!greeting.startsWith("* OK")) throw new Error(`bad IMAP greeting ${greeting}`);
      return { client: c, greeting };
    } catch (e) {
      c.close();
      throw e;
    }
  }

  async #fill(deadline: number): Promise<void> {
    const b = new Uint8Array(65536);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), Math.max(0, deadline - Date.now()));
    });
    try {
      const n = await Promise.race([this.#conn.read(b), timeout]);
      if (n === "timeout") {
        throw new Error(`IMAP read timed out; have ${JSON.stringify(this.#buf)}`);
      }
      if (n === null) throw new Error(`IMAP connection closed; have ${JSON.stringify(this.#buf)}`);
      this.#buf += octets(b.subarray(0, n));
    } finally {
      clearTimeout(timer);
    }
  }

  // One protocol line (without CRLF); a line ending in a {n} literal announcement continues
  // after n octets, which are included verbatim.
  async #line(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let out = "";
    for (;;) {
      let i: number;
      while ((i = this.#buf.indexOf("\r\n")) < 0) await this.#fill(deadline);
      const line = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + 2);
      out += line;
      const lit = /\{(\d+)\}$/.exec(line);
      if (!lit) return out;
      const n = Number(lit[1]);
      while (this.#buf.length < n) await this.#fill(deadline);
      out += "\r\n" + this.#buf.slice(0, n);
      this.#buf = this.#buf.slice(n);
    }
  }

  /** Send a command with a fresh tag and read up to its tagged completion. */
  async command(text: string, timeoutMs = 10_000): Promise<ImapResponse> {
    const tag = `a${++this.#tag}`;
    const bytes = enc.encode(`${tag} ${text}\r\n`);
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
    const lines: string[] = [];
    for (;;) {
      const line = await this.#line(timeoutMs);
      if (line.startsWith(`${tag} `)) {
        const rest = line.slice(tag.length + 1);
        const sp = rest.indexOf(" ");
        return {
          status: sp < 0 ? rest : rest.slice(0, sp),
          text: sp < 0 ? "" : rest.slice(sp + 1),
          untagged: lines.join("\r\n"),
        };
      }
      lines.push(line);
    }
  }

  /** Close the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

/** The octets of the first `BODY[] {n}` literal in a FETCH response. */
export function fetchedBody(untagged: string): string {
  const m = /BODY\[\] \{(\d+)\}\r\n/.exec(untagged);
  if (!m) throw new Error(`no BODY[] literal in ${JSON.stringify(untagged)}`);
  const start = m.index + m[0].length;
  return untagged.slice(start, start + Number(m[1]));
}

/**
 * A realistic mbox of `n` messages to `to`, for imaptest's `mbox=` (the messages its clients
 * APPEND): plain, multipart with an attachment, replies, 8-bit.
 */
export function syntheticMbox(n: number, to: string): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const date = new Date(Date.UTC(2026, 0, 1 + (i % 300), i % 24, i % 60)).toUTCString()
      .replace("GMT", "+0000");
    const head = `From sender${i % 17}@example.org Thu Jan  1 00:00:00 2026\n` +
      `Date: ${date}\nFrom: Sender ${i % 17} <sender${i % 17}@example.org>\n` +
      `To: ${to}\nSubject: message ${i} ${i % 5 === 0 ? "Re: thread" : "news"}\n` +
      `Message-ID: <m${i}@example.org>\n`;
    if (i % 3 === 0) {
      parts.push(
        head + `MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b${i}"\n\n` +
          `--b${i}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n` +
          `Grüße, number ${i}.\n${"line of text\n".repeat(i % 40)}\n--b${i}\n` +
          `Content-Type: application/octet-stream; name="a${i}.bin"\n` +
          `Content-Transfer-Encoding: base64\nContent-Disposition: attachment\n\n` +
          `${btoa("x".repeat(60 + i)).replace(/(.{76})/g, "$1\n")}\n--b${i}--\n`,
      );
    } else {
      parts.push(head + `\nBody of message ${i}.\n${"more text here\n".repeat(i % 25)}`);
    }
  }
  return parts.join("\n");
}
