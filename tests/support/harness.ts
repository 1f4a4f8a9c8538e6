/**
 * Test harness: a real postie server in this process on loopback ports chosen by the kernel,
 * with its own data directory and a loopback DNS server (tests never use the machine's
 * resolver), plus a raw SMTP client that sends exact bytes and reads replies.
 *
 * @module
 */

import { join } from "node:path";
import { type Config, validateConfig } from "../../src/config/config.ts";
import { AccountStore } from "../../src/accounts/store.ts";
import { setupLogging } from "../../src/log/logger.ts";
import { type BoundAddress, SmtpServer } from "../../src/server/server.ts";
import { TestDnsServer } from "./dns_server.ts";

/** The password every test account gets. */
export const TEST_PASSWORD = "correct horse battery";

let loggingReady = false;

/** Options for {@link startTestServer}: config overrides in YAML key form. */
export interface TestServerOptions {
  /** Merged into the config document (YAML key names). */
  config?: Record<string, unknown>;
  /** Accounts to create before start. */
  accounts?: string[];
  /** Use this data directory instead of a new temporary one. */
  dataDir?: string;
  /** Use this DNS server (the caller closes it) instead of a new one. */
  dns?: TestDnsServer;
}

/** A running test server. */
export interface TestServer {
  server: SmtpServer;
  config: Config;
  dataDir: string;
  dns: TestDnsServer;
  port(kind: BoundAddress["kind"]): number;
  /**
   * Files in new/ of a mailbox, full paths, sorted, once the spool has delivered everything
   * accepted so far.
   */
  newMail(address: string): Promise<string[]>;
  /** All files anywhere under data_dir/mail (tmp, new, cur), for "nothing stored" checks. */
  allMail(): Promise<string[]>;
  /** Stop the server and the DNS server and remove the data directory. */
  close(): Promise<void>;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory) out.push(...await listFiles(p));
      else out.push(p);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** Start postie on 127.0.0.1 with kernel-chosen ports. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  if (!loggingReady) {
    setupLogging({ level: Deno.env.get("POSTIE_TEST_LOG") ? "debug" : "error", format: "text" });
    loggingReady = true;
  }
  const dataDir = opts.dataDir ?? await Deno.makeTempDir({ prefix: "postie-test-" });
  const dns = opts.dns ?? await TestDnsServer.start();
  const doc: Record<string, unknown> = {
    hostname: "mx.example.test",
    data_dir: dataDir,
    domains: ["example.test"],
    dns: { nameservers: [dns.address] },
    ...opts.config,
    // Every listener on a kernel-chosen loopback port unless the test says otherwise (never
    // a default such as 0.0.0.0:143).
    listen: {
      smtp: ["127.0.0.1:0"],
      submission: ["127.0.0.1:0"],
      submissions: ["127.0.0.1:0"],
      imap: ["127.0.0.1:0"],
      imaps: ["127.0.0.1:0"],
      admin: ["127.0.0.1:0"],
      ...(opts.config?.listen as Record<string, unknown> | undefined),
    },
  };
  const config = validateConfig(doc, "(test)", dataDir);
  const accounts = await AccountStore.open(dataDir);
  for (const a of opts.accounts ?? ["alice@example.test"]) {
    const [local, domain] = a.split("@") as [string, string];
    if (!accounts.get(a)) await accounts.add(local, domain, TEST_PASSWORD);
  }
  accounts.close();
  const server = await SmtpServer.start(config);
  return {
    server,
    config,
    dataDir,
    dns,
    port(kind) {
      const a = server.addresses.find((b) => b.kind === kind);
      if (!a) throw new Error(`no ${kind} listener`);
      return a.port;
    },
    async newMail(address) {
      await server.spool.idle();
      const [local, domain] = address.split("@") as [string, string];
      return await listFiles(join(dataDir, "mail", domain, local, "new"));
    },
    async allMail() {
      await server.spool.idle();
      return await listFiles(join(dataDir, "mail"));
    },
    async close() {
      await server.stop();
      if (!opts.dns) await dns.close();
      if (!opts.dataDir) await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** A parsed SMTP reply as the client saw it. */
export interface ClientReply {
  code: number;
  /** Text of each line after the code and separator. */
  lines: string[];
  /** The whole reply as received. */
  raw: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A raw SMTP client for tests: sends exact bytes, reads replies, can STARTTLS. */
export class SmtpTestClient {
  #conn: Deno.Conn;
  #buf = "";
  #eof = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connect to 127.0.0.1:port (plain TCP). */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<SmtpTestClient> {
    return new SmtpTestClient(await Deno.connect({ hostname, port }));
  }

  /** Connect with implicit TLS (RFC 8314), trusting the given CA certificate. */
  static async connectTls(
    port: number,
    caPem: string,
    serverName = "mx.example.test",
  ): Promise<SmtpTestClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return new SmtpTestClient(
      await Deno.startTls(conn, { hostname: serverName, caCerts: [caPem] }),
    );
  }

  // A read that outlived a timed-out reply() is kept and awaited by the next call, so no
  // bytes are lost.
  #pendingRead: Promise<Uint8Array | null> | null = null;

  #read(): Promise<Uint8Array | null> {
    this.#pendingRead ??= (async () => {
      const b = new Uint8Array(65536);
      try {
        const n = await this.#conn.read(b);
        return n === null ? null : b.subarray(0, n);
      } catch {
        return null; // reset or closed locally: the same as the end of the stream here
      }
    })();
    return this.#pendingRead;
  }

  async #fill(deadline: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), Math.max(0, deadline - Date.now()));
    });
    try {
      const got = await Promise.race([this.#read(), timeout]);
      if (got === "timeout") {
        throw new Error(`timed out waiting for reply; have ${JSON.stringify(this.#buf)}`);
      }
      this.#pendingRead = null;
      if (got === null) {
        this.#eof = true;
        return false;
      }
      this.#buf += dec.decode(got);
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Read one (possibly multi-line) reply. */
  async reply(timeoutMs = 10_000): Promise<ClientReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^((?:\d{3}-[^\r\n]*\r\n)*)(\d{3}) ?([^\r\n]*)\r\n/.exec(this.#buf);
      if (m) {
        const raw = m[0];
        this.#buf = this.#buf.slice(raw.length);
        const lines = raw.split("\r\n").filter((l) => l !== "").map((l) => l.slice(4));
        return { code: Number(m[2]), lines, raw };
      }
      if (this.#eof || !(await this.#fill(deadline))) {
        throw new Error(`connection closed; unparsed ${JSON.stringify(this.#buf)}`);
      }
    }
  }

  /** Send raw text or bytes. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Send a command line (CRLF appended) and read its reply. */
  async cmd(line: string): Promise<ClientReply> {
    await this.send(line + "\r\n");
    return await this.reply();
  }

  /** Resolve true once the server closed the connection (reading and discarding). */
  async closedByServer(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    try {
      while (!this.#eof) {
        if (Date.now() > deadline) return false;
        await this.#fill(deadline);
      }
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.ConnectionReset) return true;
      if ((e as Error).message.startsWith("timed out")) return false;
      throw e;
    }
  }

  /** Whatever unparsed text is buffered (used to prove nothing extra was sent). */
  get pending(): string {
    return this.#buf;
  }

  /** Issue STARTTLS and upgrade, trusting the given CA certificate. */
  async starttls(caPem: string, serverName = "mx.example.test"): Promise<ClientReply> {
    const r = await this.cmd("STARTTLS");
    if (r.code !== 220) return r;
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname: serverName,
      caCerts: [caPem],
    });
    return r;
  }

  /** Upgrade to TLS after the 220 reply to STARTTLS was already read. */
  async starttlsAfterReply(caPem: string, serverName = "mx.example.test"): Promise<void> {
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname: serverName,
      caCerts: [caPem],
    });
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

/** Greet, EHLO, MAIL, RCPT... and DATA with `body` (CRLF text, dot-stuffed by the caller). */
export async function sendMail(
  c: SmtpTestClient,
  from: string,
  rcpts: string[],
  body: string,
): Promise<ClientReply> {
  await c.cmd("EHLO client.example.org");
  const m = await c.cmd(`MAIL FROM:<${from}>`);
  if (m.code !== 250) return m;
  for (const r of rcpts) await c.cmd(`RCPT TO:<${r}>`);
  const d = await c.cmd("DATA");
  if (d.code !== 354) return d;
  await c.send(body + "\r\n.\r\n");
  return await c.reply();
}

/** Read the self-signed certificate the server generated. */
export async function serverCert(t: TestServer): Promise<string> {
  return await Deno.readTextFile(join(t.dataDir, "tls", "selfsigned-cert.pem"));
}

/** What {@link submitMessage} sends. */
export interface Submission {
  /** The account that logs in (password {@link TEST_PASSWORD}) and is the envelope sender. */
  account: string;
  to: string[];
  subject: string;
  /** The From: header; default the account. */
  from?: string;
}

/**
 * Submit one message the way a mail client does: the submission port, STARTTLS with the
 * server's certificate, AUTH PLAIN, one transaction. Throws unless every step succeeds.
 */
export async function submitMessage(t: TestServer, s: Submission): Promise<void> {
  const c = await SmtpTestClient.connect(t.port("submission"));
  const expect = (r: ClientReply, code: number, what: string) => {
    if (r.code !== code) throw new Error(`${what}: expected ${code}, got ${r.raw}`);
  };
  try {
    await c.reply();
    await c.cmd("EHLO laptop.example.test");
    await c.starttls(await serverCert(t), t.config.hostname);
    await c.cmd("EHLO laptop.example.test");
    expect(
      await c.cmd(`AUTH PLAIN ${btoa(`\0${s.account}\0${TEST_PASSWORD}`)}`),
      235,
      "AUTH",
    );
    expect(await c.cmd(`MAIL FROM:<${s.account}>`), 250, "MAIL");
    for (const r of s.to) expect(await c.cmd(`RCPT TO:<${r}>`), 250, `RCPT ${r}`);
    expect(await c.cmd("DATA"), 354, "DATA");
    await c.send(
      `From: ${s.from ?? s.account}\r\nTo: ${s.to.join(", ")}\r\nSubject: ${s.subject}\r\n\r\n` +
        "Hello.\r\n.\r\n",
    );
    expect(await c.reply(), 250, "end of DATA");
  } finally {
    c.close();
  }
}

/**
 * Two servers on loopback: A (mx.a.test, account alice@a.test, delivering outbound mail to B's
 * SMTP port) and B (mx.b.test, account bob@b.test, SMTP only), with b.test's MX in A's DNS.
 * `fn` runs with both; both are closed after it.
 */
export async function withServerPair(
  fn: (a: TestServer, b: TestServer) => Promise<void>,
): Promise<void> {
  const b = await startTestServer({
    config: {
      hostname: "mx.b.test",
      domains: ["b.test"],
      listen: { smtp: ["127.0.0.1:0"], submission: [], submissions: [], imap: [], imaps: [] },
    },
    accounts: ["bob@b.test"],
  });
  let a: TestServer | undefined;
  try {
    a = await startTestServer({
      config: {
        hostname: "mx.a.test",
        domains: ["a.test"],
        outbound: { port: b.port("smtp") },
        auth: { failure_delay_ms: 0 },
      },
      accounts: ["alice@a.test"],
    });
    a.dns.setRecords([
      { name: "b.test", type: "MX", data: { preference: 10, exchange: "mx.b.test" } },
      { name: "mx.b.test", type: "A", data: "127.0.0.1" },
    ]);
    await fn(a, b);
  } finally {
    await a?.close();
    await b.close();
  }
}
