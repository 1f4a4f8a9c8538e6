/**
 * Helpers for the SMTP client's unit tests: scripted fake SMTP servers on 127.0.0.1 (plain or
 * TLS from the start), options and envelopes for deliveries to them. Test-only; private to
 * src/client.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ClientOptions, Envelope } from "./client_options.ts";
import type { DeliveryResult } from "./delivery_result.ts";
import type { TlsMaterial } from "../tls/certificate.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An envelope from bob@sender.test to `to`, 100 octets, plain ASCII; `extra` overrides. */
export function envelope(to: string[], extra: Partial<Envelope> = {}): Envelope {
  return { from: "bob@sender.test", to, size: 100, smtputf8: false, eightBit: false, ...extra };
}

/** The server side of one fake connection, read line by line or chunk by chunk. */
export class FakeIO {
  #conn: Deno.Conn;
  #buf = "";
  #eof = false;
  readonly remoteAddress: string;
  /** Every line the client sent, for "never sent X" checks. */
  readonly seen: string[] = [];

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.remoteAddress = (conn.remoteAddr as Deno.NetAddr).hostname;
  }

  async #read(): Promise<boolean> {
    if (this.#eof) return false;
    const b = new Uint8Array(65536);
    let n: number | null;
    try {
      n = await this.#conn.read(b);
    } catch {
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#buf += dec.decode(b.subarray(0, n));
    return true;
  }

  /** Everything in the next read (or what is buffered); null at the end of the stream. */
  async chunk(): Promise<string | null> {
    if (this.#buf === "" && !(await this.#read())) return null;
    const c = this.#buf;
    this.#buf = "";
    this.seen.push(...c.split("\r\n").filter((l) => l !== ""));
    return c;
  }

  /** One line without CRLF; null at the end of the stream. */
  async line(): Promise<string | null> {
    for (;;) {
      const i = this.#buf.indexOf("\r\n");
      if (i >= 0) {
        const l = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 2);
        this.seen.push(l);
        return l;
      }
      if (!(await this.#read())) return null;
    }
  }

  /** The DATA content up to and including CRLF.CRLF. */
  async data(): Promise<string> {
    for (;;) {
      const i = this.#buf.indexOf("\r\n.\r\n");
      if (i >= 0) {
        const d = this.#buf.slice(0, i + 5);
        this.#buf = this.#buf.slice(i + 5);
        return d;
      }
      if (!(await this.#read())) throw new Error(`no end of data: ${JSON.stringify(this.#buf)}`);
    }
  }

  /** Read a line, check it, and answer. */
  async expect(pattern: RegExp | string, answer?: string): Promise<string> {
    const l = await this.line();
    if (typeof pattern === "string") assert.equal(l, pattern);
    else assert.match(l ?? "(end of stream)", pattern);
    if (answer !== undefined) await this.send(answer);
    return l!;
  }

  async send(s: string): Promise<void> {
    const b = enc.encode(s.endsWith("\n") ? s : s + "\r\n");
    let off = 0;
    while (off < b.length) off += await this.#conn.write(b.subarray(off));
  }

  /**
   * One accepted transaction, then the end of the session: `mail` (the MAIL command, checked
   * as it stands) and `RCPT TO:<to>` get 250, DATA 354, the content 250, then QUIT → 221.
   * With `enhanced`, the 250s carry RFC 3463 codes (2.1.0, 2.1.5, 2.0.0).
   */
  async acceptMessage(mail: string, to: string, enhanced = false): Promise<void> {
    await this.expect(mail, enhanced ? "250 2.1.0 Ok" : "250 Ok");
    await this.expect(`RCPT TO:<${to}>`, enhanced ? "250 2.1.5 Ok" : "250 Ok");
    await this.expect("DATA", "354 Go");
    await this.data();
    await this.send(enhanced ? "250 2.0.0 Ok" : "250 Ok");
    await this.quit();
  }

  /** Wait until the client closes (after QUIT or a failure). */
  async end(): Promise<void> {
    while (await this.#read()) this.#buf = "";
  }

  /** QUIT → 221, then wait for the close. */
  async quit(): Promise<void> {
    await this.expect("QUIT", "221 2.0.0 Bye");
    await this.end();
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

/** What a fake server does on one connection (`index` counts from 0). */
export type Script = (io: FakeIO, index: number) => Promise<void>;

/**
 * Run `client` against a fake server on 127.0.0.1 whose connections follow `script` (the
 * connection's index is passed, for tests that expect a second connection). With `tlsMaterial`
 * the listener speaks TLS from the start.
 */
export async function withFakeServer(
  script: Script,
  client: (port: number) => Promise<DeliveryResult>,
  tlsMaterial?: TlsMaterial,
): Promise<{ result: DeliveryResult; ios: FakeIO[] }> {
  const listener = tlsMaterial
    ? Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: tlsMaterial.certPem,
      key: tlsMaterial.keyPem,
    })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ios: FakeIO[] = [];
  const runs: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      const io = new FakeIO(conn);
      const index = ios.length;
      ios.push(io);
      runs.push(script(io, index).finally(() => io.close()));
    }
  })();
  try {
    const result = await client(listener.addr.port);
    await Promise.all(runs);
    return { result, ios };
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const io of ios) io.close();
    await Promise.allSettled(runs);
  }
}

/** Options for a delivery to the fake server on `port`, with timeouts short enough for tests. */
export function fakeOpts(port: number, extra: Partial<ClientOptions> = {}): ClientOptions {
  return {
    host: "127.0.0.1",
    port,
    helo: "client.test",
    tls: { mode: "opportunistic" },
    timeouts: { greeting: 5000, ehlo: 5000, mail: 5000, rcpt: 5000, data: 5000, dataEnd: 5000 },
    ...extra,
  };
}

/** An EHLO reply offering PIPELINING, SIZE 10000, 8BITMIME, SMTPUTF8 and ENHANCEDSTATUSCODES. */
export const EHLO_FULL =
  "250-fake.test Hello\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n" +
  "250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES";
/** A small message. */
export const BODY = [enc.encode("Subject: x\r\n\r\nhi\r\n")];
