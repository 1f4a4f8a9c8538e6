/**
 * The benchmark's own minimal SMTP client: one transaction at a time for the latency test, and
 * many connections that only wait for their greeting for the idle-connection test. Loopback
 * only, plain TCP, no pipelining.
 *
 * @module
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One SMTP reply. */
export interface Reply {
  code: number;
  text: string;
}

/** A plain TCP connection read as SMTP replies. */
export class SmtpConn {
  readonly conn: Deno.TcpConn;
  #buf = "";
  #chunk = new Uint8Array(4096);

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connect to 127.0.0.1:port. */
  static async connect(port: number): Promise<SmtpConn> {
    return new SmtpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Read one (possibly multi-line) reply; rejects at EOF or after `timeoutMs`. */
  async reply(timeoutMs = 30_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*(\d{3})(?:[ \r][^\n]*)?\n/.exec(this.#buf);
      if (m) {
        this.#buf = this.#buf.slice(m[0].length);
        return { code: Number(m[1]), text: m[0].trimEnd() };
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a reply (have ${this.#buf})`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.conn.read(this.#chunk),
        new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left)),
      ]).finally(() => clearTimeout(timer));
      if (n === "timeout") continue;
      if (n === null) throw new Error(`connection closed (have ${JSON.stringify(this.#buf)})`);
      this.#buf += dec.decode(this.#chunk.subarray(0, n));
    }
  }

  /** Write all of `data`. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  /** Send a command line and read the reply; throws unless the code is `expect`. */
  async cmd(line: string, expect: number): Promise<Reply> {
    await this.write(line + "\r\n");
    const r = await this.reply();
    if (r.code !== expect) throw new Error(`${line.split(" ")[0]}: expected ${expect}: ${r.text}`);
    return r;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/**
 * A message of about `size` octets of body (lines of 78 characters plus CRLF, like
 * smtp-source's), with a minimal header, already dot-stuffed (no line starts with ".") and
 * ending in CRLF.
 */
export function makeMessage(from: string, to: string, size: number, id: string): string {
  const head = `From: <${from}>\r\nTo: <${to}>\r\nDate: ${new Date().toUTCString()}\r\n` +
    `Message-Id: <${id}@client.source.test>\r\nSubject: bench ${id}\r\n\r\n`;
  const lines: string[] = [];
  for (let n = 0; n < size; n += 80) {
    const len = Math.min(78, size - n);
    lines.push(String((n / 80) % 10) + "X".repeat(Math.max(0, len - 1)));
  }
  return head + lines.join("\r\n") + "\r\n";
}

/** Timing of one transaction, in milliseconds. */
export interface TransactionTiming {
  /** From connect() to the 250 reply to the end of DATA. */
  totalMs: number;
  /** From MAIL FROM to the 250 reply to the end of DATA. */
  mailMs: number;
}

/**
 * One complete transaction on a new connection: greeting, EHLO, MAIL, RCPT, DATA, message,
 * QUIT. Timed from connect() to the 250 after the message (what a sending MTA waits for
 * before it may forget the message); QUIT is not timed.
 */
export async function timedTransaction(
  port: number,
  from: string,
  to: string,
  message: string,
): Promise<TransactionTiming> {
  const t0 = performance.now();
  const c = await SmtpConn.connect(port);
  try {
    const g = await c.reply();
    if (g.code !== 220) throw new Error(`greeting: ${g.text}`);
    await c.cmd("EHLO client.source.test", 250);
    const t1 = performance.now();
    await c.cmd(`MAIL FROM:<${from}>`, 250);
    await c.cmd(`RCPT TO:<${to}>`, 250);
    await c.cmd("DATA", 354);
    await c.write(message + ".\r\n");
    const r = await c.reply(120_000);
    if (r.code !== 250) throw new Error(`end of DATA: ${r.text}`);
    const t2 = performance.now();
    await c.cmd("QUIT", 221).catch(() => {});
    return { totalMs: t2 - t0, mailMs: t2 - t1 };
  } finally {
    c.close();
  }
}

/** What {@link openIdle} achieved. */
export interface IdleResult {
  /** Connections that got a 220 greeting and are still open. */
  conns: SmtpConn[];
  /** Refused at connect() (RST, nothing listening, out of file descriptors...). */
  connectFailed: number;
  /** Connected but greeted with something else than 220 (e.g. 421), or closed. */
  rejected: number;
  /** Connected but no greeting before the deadline. */
  noGreeting: number;
  /** First few error messages, for the report. */
  errors: string[];
  ms: number;
}

/**
 * Open `n` connections to 127.0.0.1:port and wait for each one's greeting, at most `parallel`
 * connection attempts in flight at once; greeted connections stay open (and silent).
 */
export async function openIdle(
  port: number,
  n: number,
  parallel = 100,
  greetingTimeoutMs = 60_000,
): Promise<IdleResult> {
  const t0 = performance.now();
  const res: IdleResult = {
    conns: [],
    connectFailed: 0,
    rejected: 0,
    noGreeting: 0,
    errors: [],
    ms: 0,
  };
  const note = (e: unknown) => {
    if (res.errors.length < 5) res.errors.push(e instanceof Error ? e.message : String(e));
  };
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      let c: SmtpConn;
      try {
        c = await SmtpConn.connect(port);
      } catch (e) {
        res.connectFailed++;
        note(e);
        continue;
      }
      try {
        const g = await c.reply(greetingTimeoutMs);
        if (g.code === 220) {
          res.conns.push(c);
          continue;
        }
        res.rejected++;
        note(g.text);
      } catch (e) {
        if (/timed out/.test(String(e))) res.noGreeting++;
        else res.rejected++;
        note(e);
      }
      c.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker));
  res.ms = performance.now() - t0;
  return res;
}
