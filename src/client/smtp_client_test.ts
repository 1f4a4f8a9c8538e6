import assert from "node:assert/strict";
import {
  type ClientOptions,
  ConnectionCache,
  deliverMessage,
  type DeliveryResult,
  encodeData,
  type Envelope,
} from "./smtp_client.ts";
import { serverCert, startTestServer } from "../../tests/support/harness.ts";
import { smugglingVariants } from "../../tests/support/conformance.ts";
import { generateSelfSigned, type TlsMaterial } from "../tls/certificate.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function text(b: Uint8Array): string {
  return dec.decode(b);
}

function envelope(to: string[], extra: Partial<Envelope> = {}): Envelope {
  return { from: "bob@sender.test", to, size: 100, smtputf8: false, eightBit: false, ...extra };
}

/** No CR without LF after it, no LF without CR before it. */
function assertCrlfOnly(b: Uint8Array): void {
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0d) assert.equal(b[i + 1], 0x0a, `bare CR at ${i}`);
    if (b[i] === 0x0a) assert.equal(b[i - 1], 0x0d, `bare LF at ${i}`);
  }
}

// ---------------------------------------------------------------------------------------------
// encodeData

Deno.test("encodeData() turns bare LF and bare CR into CRLF", () => {
  assert.equal(text(encodeData([enc.encode("a\nb\rc\r\nd")])), "a\r\nb\r\nc\r\nd\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\r\nb")])), "a\r\n\r\nb\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\n\rb")])), "a\r\n\r\nb\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("x\r")])), "x\r\n.\r\n");
});

Deno.test("encodeData() keeps CRLF that spans two chunks", () => {
  const out = encodeData([enc.encode("a\r"), enc.encode("\nb\r"), enc.encode("\n")]);
  assert.equal(text(out), "a\r\nb\r\n.\r\n");
});

Deno.test("encodeData() dot-stuffs every line starting with a dot, across chunks", () => {
  assert.equal(text(encodeData([enc.encode(".")])), "..\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\n.\r\nb")])), "a\r\n..\r\nb\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\n.\nb")])), "a\r\n..\r\nb\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode(".x\r\n..y\r\n")])), "..x\r\n...y\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\n"), enc.encode(".b")])), "a\r\n..b\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a."), enc.encode("b")])), "a.b\r\n.\r\n");
});

Deno.test("encodeData() ends in exactly one CRLF before the terminator", () => {
  assert.equal(text(encodeData([])), ".\r\n");
  assert.equal(text(encodeData([enc.encode("")])), ".\r\n");
  assert.equal(text(encodeData([enc.encode("a")])), "a\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\n")])), "a\r\n.\r\n");
  assert.equal(text(encodeData([enc.encode("a\r\n\r\n")])), "a\r\n\r\n.\r\n");
});

Deno.test("encodeData() neutralises every SMUGGLING.md end-of-data variant", async () => {
  const variants = await smugglingVariants();
  assert.ok(variants.length >= 10, "variants were read");
  for (const v of variants) {
    const before = enc.encode("Subject: probe\r\n\r\nbody\r\n");
    const after = enc.encode(
      "MAIL FROM:<smuggled@test.example>\r\nRCPT TO:<rcpt@our.domain>\r\nDATA\r\n" +
        "Subject: smuggled\r\n\r\nX\r\n.\r\n",
    );
    const out = encodeData([before, v.bytes, after]);
    assertCrlfOnly(out);
    const s = text(out);
    assert.ok(s.endsWith("\r\n.\r\n"), v.name);
    // The terminator appears once, at the very end: every content line "." became "..".
    assert.equal(s.indexOf("\r\n.\r\n"), s.length - 5, `${v.name}: ${JSON.stringify(s)}`);
    for (const line of s.slice(0, -3).split("\r\n")) {
      if (line.startsWith(".")) assert.ok(line.startsWith(".."), `${v.name}: ${line}`);
    }
    // And each variant alone, as the whole message.
    const alone = encodeData([v.bytes]);
    assertCrlfOnly(alone);
    assert.equal(text(alone).indexOf("\r\n.\r\n"), text(alone).length - 5, v.name);
  }
});

// ---------------------------------------------------------------------------------------------
// Against a real postie

const MESSAGE = "From: bob@sender.test\r\nTo: alice@example.test\r\nSubject: client test\r\n\r\n" +
  "Hello Alice.\r\n.a line with a leading dot\r\n.\r\nlast line\r\n";

Deno.test("deliverMessage() delivers to postie with opportunistic STARTTLS", async () => {
  const t = await startTestServer();
  try {
    // Bare LFs in the input: postie refuses those, so acceptance proves the normalisation.
    const content = [enc.encode(MESSAGE.replaceAll("\r\n", "\n"))];
    const r = await deliverMessage(
      {
        host: "127.0.0.1",
        port: t.port("smtp"),
        helo: "client.test",
        tls: { mode: "opportunistic" },
      },
      envelope(["alice@example.test"], { size: MESSAGE.length }),
      content,
    );
    assert.equal(r.connectionError, undefined);
    assert.equal(r.recipients.length, 1);
    const rr = r.recipients[0]!;
    assert.equal(rr.address, "alice@example.test");
    assert.equal(rr.code, 250, rr.text);
    assert.equal(rr.enhanced, "2.0.0");
    assert.ok(rr.ok);
    assert.equal(rr.permanent, false);
    assert.equal(r.remoteHost, "mx.example.test");
    assert.ok(r.tls, "STARTTLS was used");
    assert.equal(r.tls.authorized, false);
    assert.ok(r.tls.authorizationError, "the reason is recorded");
    assert.match(r.tls.protocol, /^TLSv1\.[23]$/);
    const files = await t.newMail("alice@example.test");
    assert.equal(files.length, 1);
    const stored = await Deno.readTextFile(files[0]!);
    assert.ok(stored.endsWith(MESSAGE), JSON.stringify(stored.slice(-200)));
  } finally {
    await t.close();
  }
});

Deno.test("deliverMessage() verifies postie's certificate in required mode", async () => {
  const t = await startTestServer();
  try {
    const r = await deliverMessage(
      {
        host: "127.0.0.1",
        port: t.port("smtp"),
        helo: "client.test",
        tls: { mode: "required", servername: "mx.example.test", caCerts: [await serverCert(t)] },
      },
      envelope(["alice@example.test"]),
      [enc.encode(MESSAGE)],
    );
    assert.equal(r.connectionError, undefined);
    assert.deepEqual(r.tls && { authorized: r.tls.authorized, err: r.tls.authorizationError }, {
      authorized: true,
      err: undefined,
    });
    assert.ok(r.recipients[0]!.ok, r.recipients[0]!.text);
    assert.equal((await t.newMail("alice@example.test")).length, 1);
  } finally {
    await t.close();
  }
});

Deno.test("deliverMessage() fails temporarily in required mode when the name does not match", async () => {
  const t = await startTestServer();
  try {
    const r = await deliverMessage(
      {
        host: "127.0.0.1",
        port: t.port("smtp"),
        helo: "client.test",
        tls: { mode: "required", servername: "other.example.test", caCerts: [await serverCert(t)] },
      },
      envelope(["alice@example.test"]),
      [enc.encode(MESSAGE)],
    );
    assert.ok(r.connectionError);
    assert.equal(r.connectionError.permanent, false);
    assert.match(r.connectionError.text, /4\.7\.5/);
    assert.equal(r.tls?.authorized, false);
    assert.equal(r.recipients[0]!.ok, false);
    assert.equal(r.recipients[0]!.permanent, false);
    assert.deepEqual(await t.allMail(), []);
  } finally {
    await t.close();
  }
});

Deno.test("deliverMessage() reports each recipient's reply from postie", async () => {
  const t = await startTestServer();
  try {
    const r = await deliverMessage(
      { host: "127.0.0.1", port: t.port("smtp"), helo: "client.test", tls: { mode: "none" } },
      envelope(["nobody@example.test", "alice@example.test", "someone@elsewhere.example"]),
      [enc.encode(MESSAGE)],
    );
    assert.equal(r.connectionError, undefined);
    assert.equal(r.tls, undefined);
    const [unknown, alice, remote] = r.recipients;
    assert.deepEqual([unknown!.code, unknown!.enhanced, unknown!.permanent, unknown!.ok], [
      550,
      "5.1.1",
      true,
      false,
    ]);
    assert.match(unknown!.text, /User unknown/);
    assert.equal(alice!.code, 250);
    assert.ok(alice!.ok);
    assert.deepEqual([remote!.code, remote!.enhanced, remote!.permanent], [554, "5.7.1", true]);
    assert.equal((await t.newMail("alice@example.test")).length, 1);
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Against scripted fake servers

/** The server side of one fake connection, read line by line or chunk by chunk. */
class FakeIO {
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

type Script = (io: FakeIO, index: number) => Promise<void>;

/**
 * Run `client` against a fake server on 127.0.0.1 whose connections follow `script` (the
 * connection's index is passed, for tests that expect a second connection). With `tlsMaterial`
 * the listener speaks TLS from the start.
 */
async function withFakeServer(
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

function fakeOpts(port: number, extra: Partial<ClientOptions> = {}): ClientOptions {
  return {
    host: "127.0.0.1",
    port,
    helo: "client.test",
    tls: { mode: "opportunistic" },
    timeouts: { greeting: 5000, ehlo: 5000, mail: 5000, rcpt: 5000, data: 5000, dataEnd: 5000 },
    ...extra,
  };
}

const EHLO_FULL = "250-fake.test Hello\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n" +
  "250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES";
const BODY = [enc.encode("Subject: x\r\n\r\nhi\r\n")];

Deno.test("deliverMessage() sends MAIL, RCPTs and DATA in one write when PIPELINING is offered", async () => {
  let group = "";
  let content = "";
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_FULL);
    group = (await io.chunk()) ?? "";
    await io.send(
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n250 2.1.5 Ok\r\n354 Go ahead",
    );
    content = await io.data();
    await io.send("250 2.0.0 Queued as X");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["a@fake.test", "b@fake.test", "c@fake.test"], { size: 20, eightBit: true }),
      BODY,
    ));
  assert.equal(
    group,
    "MAIL FROM:<bob@sender.test> SIZE=20 BODY=8BITMIME\r\n" +
      "RCPT TO:<a@fake.test>\r\nRCPT TO:<b@fake.test>\r\nRCPT TO:<c@fake.test>\r\nDATA\r\n",
  );
  assert.equal(content, "Subject: x\r\n\r\nhi\r\n.\r\n");
  assert.deepEqual(
    result.recipients.map((r) => [r.address, r.code, r.enhanced, r.text, r.ok, r.permanent]),
    [
      ["a@fake.test", 250, "2.0.0", "Queued as X", true, false],
      ["b@fake.test", 550, "5.1.1", "No such user", false, true],
      ["c@fake.test", 250, "2.0.0", "Queued as X", true, false],
    ],
  );
  assert.equal(result.remoteHost, "fake.test");
  assert.equal(result.tls, undefined, "no STARTTLS offered");
});

Deno.test("deliverMessage() sends one command at a time without PIPELINING", async () => {
  const chunks: string[] = [];
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250 8BITMIME");
    chunks.push((await io.chunk())!);
    await io.send("250 Ok");
    chunks.push((await io.chunk())!);
    await io.send("550 No");
    chunks.push((await io.chunk())!);
    await io.send("251 Will forward");
    chunks.push((await io.chunk())!);
    await io.send("354 Go");
    await io.data();
    await io.send("451 4.3.0 Try later");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["a@fake.test", "b@fake.test"], { eightBit: true }),
      BODY,
    ));
  assert.deepEqual(chunks, [
    "MAIL FROM:<bob@sender.test> BODY=8BITMIME\r\n",
    "RCPT TO:<a@fake.test>\r\n",
    "RCPT TO:<b@fake.test>\r\n",
    "DATA\r\n",
  ]);
  // No ENHANCEDSTATUSCODES advertised: "4.3.0" stays in the text.
  assert.deepEqual(result.recipients.map((r) => [r.code, r.enhanced, r.text, r.permanent]), [
    [550, undefined, "No", true],
    [451, undefined, "4.3.0 Try later", false],
  ]);
});

Deno.test("deliverMessage() does not send DATA when no recipient is accepted", async () => {
  const { result, ios } = await withFakeServer(
    async (io) => {
      await io.send("220 fake.test ESMTP");
      await io.expect("EHLO client.test", "250-fake.test\r\n250 ENHANCEDSTATUSCODES");
      await io.expect("MAIL FROM:<bob@sender.test>", "250 2.1.0 Ok");
      await io.expect("RCPT TO:<a@fake.test>", "450 4.2.0 Mailbox busy");
      await io.expect("RCPT TO:<b@fake.test>", "550 5.1.1 No");
      await io.quit();
    },
    async (port) =>
      await deliverMessage(fakeOpts(port), envelope(["a@fake.test", "b@fake.test"]), BODY),
  );
  assert.ok(!ios[0]!.seen.includes("DATA"));
  assert.equal(result.connectionError, undefined);
  assert.deepEqual(result.recipients.map((r) => [r.code, r.enhanced, r.permanent]), [
    [450, "4.2.0", false],
    [550, "5.1.1", true],
  ]);
});

Deno.test("deliverMessage() falls back to HELO when EHLO gets 500", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 old.test SMTP");
    await io.expect("EHLO client.test", "500 Command unrecognized");
    await io.expect("HELO client.test", "250 old.test");
    // No ESMTP parameters after HELO, even with a size and 8-bit content.
    await io.expect("MAIL FROM:<bob@sender.test>", "250 Ok");
    await io.expect("RCPT TO:<a@old.test>", "250 Ok");
    await io.expect("DATA", "354 Go");
    await io.data();
    await io.send("250 Ok");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["a@old.test"], { size: 5000, eightBit: true }),
      BODY,
    ));
  assert.equal(result.recipients[0]!.code, 250);
  assert.equal(result.remoteHost, "old.test");
});

Deno.test("deliverMessage() refuses a message above the server's SIZE without sending MAIL", async () => {
  const { result, ios } = await withFakeServer(
    async (io) => {
      await io.send("220 fake.test ESMTP");
      await io.expect("EHLO client.test", "250-fake.test\r\n250-PIPELINING\r\n250 SIZE 1000");
      await io.quit();
    },
    async (port) =>
      await deliverMessage(
        fakeOpts(port),
        envelope(["a@x.test", "b@x.test"], { size: 5000 }),
        BODY,
      ),
  );
  assert.ok(!ios[0]!.seen.some((l) => l.startsWith("MAIL")));
  assert.ok(result.connectionError);
  assert.equal(result.connectionError.permanent, true);
  assert.equal(result.connectionError.code, undefined, "a local decision");
  assert.match(result.connectionError.text, /^552 5\.3\.4 message too big for remote server/);
  for (const r of result.recipients) {
    assert.deepEqual([r.code, r.enhanced, r.permanent, r.ok], [552, "5.3.4", true, false]);
  }
});

Deno.test("deliverMessage() refuses an SMTPUTF8 message when the server lacks SMTPUTF8", async () => {
  const { result, ios } = await withFakeServer(
    async (io) => {
      await io.send("220 fake.test ESMTP");
      await io.expect("EHLO client.test", "250-fake.test\r\n250 8BITMIME");
      await io.quit();
    },
    async (port) =>
      await deliverMessage(fakeOpts(port), envelope(["jörg@x.test"], { smtputf8: false }), BODY),
  );
  assert.ok(!ios[0]!.seen.some((l) => l.startsWith("MAIL")));
  assert.equal(result.connectionError?.permanent, true);
  const r = result.recipients[0]!;
  assert.deepEqual([r.code, r.enhanced, r.permanent], [553, "5.6.7", true]);
  assert.match(r.text, /SMTPUTF8/);
});

Deno.test("deliverMessage() sends SMTPUTF8 when the server offers it", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250-8BITMIME\r\n250 SMTPUTF8");
    await io.expect("MAIL FROM:<bob@sender.test> BODY=8BITMIME SMTPUTF8", "250 Ok");
    await io.expect("RCPT TO:<jörg@x.test>", "250 Ok");
    await io.expect("DATA", "354 Go");
    await io.data();
    await io.send("250 Ok");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["jörg@x.test"], { smtputf8: true, eightBit: true }),
      BODY,
    ));
  assert.ok(result.recipients[0]!.ok);
});

Deno.test("deliverMessage() treats 421 at the greeting as temporary", async () => {
  const { result, ios } = await withFakeServer(async (io) => {
    await io.send("421 4.3.2 fake.test busy, try later");
    await io.end();
  }, async (port) => await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY));
  assert.deepEqual(ios[0]!.seen, [], "nothing sent after a 421");
  assert.deepEqual(result.connectionError, {
    text: "421 4.3.2 fake.test busy, try later (in reply to greeting)",
    permanent: false,
    code: 421,
  });
  const r = result.recipients[0]!;
  assert.deepEqual([r.code, r.enhanced, r.permanent, r.ok], [421, "4.3.2", false, false]);
});

Deno.test("deliverMessage() treats 554 at the greeting as permanent and says QUIT", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("554-5.7.1 fake.test does not accept mail\r\n554 5.7.1 from you");
    await io.quit();
  }, async (port) => await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY));
  assert.equal(result.connectionError?.permanent, true);
  assert.equal(result.connectionError?.code, 554);
  const r = result.recipients[0]!;
  assert.deepEqual([r.code, r.enhanced, r.text, r.permanent], [
    554,
    "5.7.1",
    "fake.test does not accept mail from you",
    true,
  ]);
});

Deno.test("deliverMessage() times out on a silent server with a temporary failure", async () => {
  const started = Date.now();
  const { result } = await withFakeServer(async (io) => {
    await io.end(); // never says anything
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { timeouts: { greeting: 200 } }),
      envelope(["a@x.test"]),
      BODY,
    ));
  assert.ok(Date.now() - started < 3000);
  assert.equal(result.connectionError?.permanent, false);
  assert.equal(result.connectionError?.code, undefined);
  assert.match(result.connectionError!.text, /timed out.*greeting/);
  assert.equal(result.recipients[0]!.permanent, false);
});

Deno.test("deliverMessage() times out waiting for the final reply with a temporary failure", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_FULL);
    await io.chunk();
    await io.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead");
    await io.data();
    await io.end(); // no final reply
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { timeouts: { dataEnd: 200 } }),
      envelope(["a@x.test"]),
      BODY,
    ));
  assert.equal(result.connectionError, undefined, "recipients were tried");
  const r = result.recipients[0]!;
  assert.deepEqual([r.code, r.enhanced, r.permanent, r.ok], [421, "4.4.2", false, false]);
});

Deno.test("deliverMessage() treats a connection reset mid-transaction as temporary", async () => {
  const { result } = await withFakeServer(
    async (io) => {
      await io.send("220 fake.test ESMTP");
      await io.expect("EHLO client.test", "250-fake.test\r\n250 ENHANCEDSTATUSCODES");
      await io.expect("MAIL FROM:<bob@sender.test>", "250 2.1.0 Ok");
      await io.expect("RCPT TO:<a@x.test>", "550 5.1.1 no");
      await io.expect("RCPT TO:<b@x.test>");
      io.close(); // gone
    },
    async (port) =>
      await deliverMessage(fakeOpts(port), envelope(["a@x.test", "b@x.test", "c@x.test"]), BODY),
  );
  assert.equal(result.connectionError, undefined);
  assert.deepEqual(result.recipients.map((r) => [r.code, r.permanent, r.ok]), [
    [550, true, false],
    [421, false, false],
    [421, false, false],
  ]);
  assert.match(result.recipients[1]!.text, /connection closed/);
});

Deno.test("deliverMessage() reports a refused connection as temporary", async () => {
  // A port nobody listens on: bind and close a listener to get one.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const r = await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY);
  assert.equal(r.connectionError?.permanent, false);
  assert.match(r.connectionError!.text, /^421 4\.4\.1 connect to 127\.0\.0\.1:\d+ failed/);
});

Deno.test("deliverMessage() never sends credentials without TLS", async () => {
  const { result, ios } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { auth: { username: "user", password: "secret-pw" } }),
      envelope(["a@x.test"]),
      BODY,
    ));
  const sent = ios[0]!.seen.join("\n");
  assert.doesNotMatch(sent, /AUTH|secret|c2VjcmV0/);
  assert.deepEqual(ios[0]!.seen, ["EHLO client.test", "QUIT"]);
  assert.equal(result.connectionError?.permanent, true);
  assert.match(result.connectionError!.text, /without TLS/);
  assert.equal(result.recipients[0]!.permanent, true);
});

Deno.test("deliverMessage() sends AUTH PLAIN over implicit TLS", async () => {
  const material = await generateSelfSigned("smarthost.test");
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 smarthost.test ESMTP");
    await io.expect(
      "EHLO client.test",
      "250-smarthost.test\r\n250-AUTH LOGIN PLAIN\r\n250 ENHANCEDSTATUSCODES",
    );
    const plain = String.fromCharCode(...enc.encode("\0user@example.test\0pässword"));
    await io.expect(`AUTH PLAIN ${btoa(plain)}`);
    await io.send("235 2.7.0 Authentication successful");
    await io.expect("MAIL FROM:<bob@sender.test>", "250 2.1.0 Ok");
    await io.expect("RCPT TO:<a@x.test>", "250 2.1.5 Ok");
    await io.expect("DATA", "354 Go");
    await io.data();
    await io.send("250 2.0.0 Ok");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, {
        tls: { mode: "implicit", servername: "smarthost.test", caCerts: [material.certPem] },
        auth: { username: "user@example.test", password: "pässword" },
      }),
      envelope(["a@x.test"]),
      BODY,
    ), material);
  assert.equal(result.connectionError, undefined, JSON.stringify(result.connectionError));
  assert.equal(result.tls?.authorized, true);
  assert.ok(result.recipients[0]!.ok);
});

Deno.test("deliverMessage() refuses implicit TLS to an unverified certificate", async () => {
  const material = await generateSelfSigned("smarthost.test");
  const { result, ios } = await withFakeServer(async (io) => {
    await io.end();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, {
        tls: { mode: "implicit", servername: "smarthost.test" },
        auth: { username: "user", password: "pw" },
      }),
      envelope(["a@x.test"]),
      BODY,
    ), material);
  assert.deepEqual(ios[0]?.seen ?? [], []);
  assert.equal(result.connectionError?.permanent, false);
  assert.match(result.connectionError!.text, /4\.7\.5 TLS certificate not verified/);
  assert.equal(result.tls?.authorized, false);
});

Deno.test("deliverMessage() retries in plain text when opportunistic STARTTLS breaks", async () => {
  const { result, ios } = await withFakeServer(async (io, index) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250 STARTTLS");
    if (index === 0) {
      await io.expect("STARTTLS", "220 Go ahead");
      await io.send("this is not TLS\r\n");
      io.close();
      return;
    }
    await io.expect("MAIL FROM:<bob@sender.test>", "250 Ok");
    await io.expect("RCPT TO:<a@x.test>", "250 Ok");
    await io.expect("DATA", "354 Go");
    await io.data();
    await io.send("250 Ok");
    await io.quit();
  }, async (port) => await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY));
  assert.equal(ios.length, 2);
  assert.ok(result.recipients[0]!.ok);
  assert.equal(result.tls, undefined);
});

Deno.test("deliverMessage() fails temporarily in required mode without STARTTLS", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n250 PIPELINING");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { tls: { mode: "required" } }),
      envelope(["a@x.test"]),
      BODY,
    ));
  assert.equal(result.connectionError?.permanent, false);
  assert.match(result.connectionError!.text, /^421 4\.7\.5 .*STARTTLS/);
});

Deno.test("deliverMessage() binds the source address", async () => {
  const { result, ios } = await withFakeServer(async (io) => {
    await io.send("554 5.7.1 go away");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, { localAddress: "127.0.0.2" }),
      envelope(["a@x.test"]),
      BODY,
    ));
  assert.equal(ios[0]!.remoteAddress, "127.0.0.2");
  assert.equal(result.connectionError?.code, 554);
});

Deno.test("deliverMessage() refuses unsendable addresses and NUL before connecting", async () => {
  const opts = fakeOpts(9); // nothing is contacted
  let r = await deliverMessage(opts, envelope(["a@x.test\r\nRSET"]), BODY);
  assert.deepEqual(r.recipients.map((x) => [x.code, x.enhanced, x.permanent]), [[
    553,
    "5.1.3",
    true,
  ]]);
  r = await deliverMessage(opts, envelope(["a@x.test"], { from: "b@x.test>\r\nDATA" }), BODY);
  assert.equal(r.connectionError?.permanent, true);
  assert.equal(r.recipients[0]!.enhanced, "5.1.7");
  r = await deliverMessage(opts, envelope(["a@x.test"]), [enc.encode("a\0b\r\n")]);
  assert.equal(r.recipients[0]!.enhanced, "5.6.0");
  await assert.rejects(
    () => deliverMessage({ ...opts, host: "mx.example.test" }, envelope(["a@x.test"]), BODY),
    TypeError,
  );
  await assert.rejects(
    () => deliverMessage({ ...opts, helo: "bad name" }, envelope(["a@x.test"]), BODY),
    TypeError,
  );
});

Deno.test("deliverMessage() uses AUTH LOGIN when PLAIN is not offered", async () => {
  const material = await generateSelfSigned("smarthost.test");
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 smarthost.test ESMTP");
    await io.expect("EHLO client.test", "250-smarthost.test\r\n250 AUTH=LOGIN");
    await io.expect("AUTH LOGIN", "334 VXNlcm5hbWU6");
    await io.expect(btoa("user"), "334 UGFzc3dvcmQ6");
    await io.expect(btoa("pw"), "235 Ok");
    await io.expect("MAIL FROM:<bob@sender.test>", "250 Ok");
    await io.expect("RCPT TO:<a@x.test>", "250 Ok");
    await io.expect("DATA", "354 Go");
    await io.data();
    await io.send("250 Ok");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, {
        tls: { mode: "implicit", servername: "smarthost.test", caCerts: [material.certPem] },
        auth: { username: "user", password: "pw" },
      }),
      envelope(["a@x.test"]),
      BODY,
    ), material);
  assert.ok(result.recipients[0]!.ok, JSON.stringify(result));
});

Deno.test("deliverMessage() reports rejected credentials as permanent", async () => {
  const material = await generateSelfSigned("smarthost.test");
  const { result, ios } = await withFakeServer(async (io) => {
    await io.send("220 smarthost.test ESMTP");
    await io.expect(
      "EHLO client.test",
      "250-smarthost.test\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN",
    );
    await io.expect(/^AUTH PLAIN /, "535 5.7.8 Authentication credentials invalid");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port, {
        tls: { mode: "implicit", servername: "smarthost.test", caCerts: [material.certPem] },
        auth: { username: "user", password: "wrong" },
      }),
      envelope(["a@x.test"]),
      BODY,
    ), material);
  assert.ok(!ios[0]!.seen.some((l) => l.startsWith("MAIL")));
  assert.deepEqual(result.connectionError, {
    text: "535 5.7.8 Authentication credentials invalid (in reply to AUTH)",
    permanent: true,
    code: 535,
  });
});

Deno.test("deliverMessage() sends a large message intact", async () => {
  const line = "0123456789".repeat(9) + "\r\n";
  const big = "Subject: big\r\n\r\n" + (line + "." + line).repeat(5000); // ~0.9 MB
  let received = "";
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_FULL.replace("SIZE 10000", "SIZE 0"));
    await io.chunk();
    await io.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead");
    received = await io.data();
    await io.send("250 2.0.0 Ok");
    await io.quit();
  }, async (port) =>
    await deliverMessage(
      fakeOpts(port),
      envelope(["a@x.test"], { size: big.length }),
      [enc.encode(big.slice(0, 1000)), enc.encode(big.slice(1000))],
    ));
  assert.ok(result.recipients[0]!.ok);
  assert.equal(received, big.replaceAll("\r\n.", "\r\n..") + ".\r\n");
});

Deno.test("deliverMessage() treats a malformed reply as a temporary failure", async () => {
  const { result } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", "250-fake.test\r\n251 mixed codes");
    await io.end();
  }, async (port) => await deliverMessage(fakeOpts(port), envelope(["a@x.test"]), BODY));
  assert.equal(result.connectionError?.permanent, false);
  assert.match(result.connectionError!.text, /malformed reply/);
});

// ---------------------------------------------------------------------------------------------
// Connection reuse (ConnectionCache)

/** Server side of one pipelined transaction: MAIL, one RCPT, DATA, content, final reply. */
async function serveTransaction(io: FakeIO, rcpt: string, final = "250 2.0.0 Ok"): Promise<string> {
  await io.expect("MAIL FROM:<bob@sender.test>", "250 2.1.0 Ok");
  await io.expect(`RCPT TO:<${rcpt}>`, "250 2.1.5 Ok");
  await io.expect("DATA", "354 Go ahead");
  const content = await io.data();
  await io.send(final);
  return content;
}

const EHLO_PIPE = "250-fake.test Hello\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES";

Deno.test("ConnectionCache sends several messages over one connection, then QUIT at the limit", async () => {
  const cache = new ConnectionCache({ maxTransactions: 3 });
  const results: DeliveryResult[] = [];
  const perConnection: string[][] = [];
  const { ios } = await withFakeServer(async (io, index) => {
    const got: string[] = [];
    perConnection[index] = got;
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_PIPE);
    for (let n = 0; n < (index === 0 ? 3 : 1); n++) {
      got.push(await serveTransaction(io, `m${got.length + 3 * index}@x.test`));
    }
    await io.quit();
  }, async (port) => {
    try {
      for (let m = 0; m < 4; m++) {
        const body = [enc.encode(`Subject: ${m}\r\n\r\nmessage ${m}\r\n`)];
        results.push(await cache.deliver(fakeOpts(port), envelope([`m${m}@x.test`]), body));
      }
      assert.deepEqual(cache.stats, { connections: 2, transactions: 4, idle: 1 });
    } finally {
      await cache.close();
    }
    return results[0]!;
  });
  assert.equal(ios.length, 2, "three messages on the first connection, the fourth on a new one");
  assert.deepEqual(
    perConnection.map((c) => c.map((d) => d.match(/message (\d)/)![1])),
    [["0", "1", "2"], ["3"]],
  );
  // Between transactions nothing but the next MAIL: no EHLO again, no RSET (RFC 5321 §3.3).
  assert.deepEqual(ios[0]!.seen.filter((l) => /^[A-Z]{4}\b/.test(l) && !/^(Subj)/.test(l)), [
    "EHLO client.test",
    ...Array(3).fill(["MAIL FROM:<bob@sender.test>", "RCPT TO:<m0@x.test>", "DATA"]).flat()
      .map((l, i) => l.replace("m0", `m${Math.floor(i / 3)}`)),
    "QUIT",
  ]);
  for (const r of results) {
    assert.equal(r.connectionError, undefined);
    assert.deepEqual(r.recipients.map((x) => [x.code, x.ok]), [[250, true]]);
    assert.equal(r.remoteHost, "fake.test");
  }
});

Deno.test("ConnectionCache recovers when the server drops a cached connection, without a failed attempt", async () => {
  const cache = new ConnectionCache();
  const results: DeliveryResult[] = [];
  const { ios } = await withFakeServer(async (io, index) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_PIPE);
    if (index === 0) {
      await serveTransaction(io, "a@x.test");
      // The second MAIL arrives, and the server goes away without a reply (as at its idle
      // timeout, in the same moment).
      await io.expect("MAIL FROM:<bob@sender.test>");
      io.close();
      return;
    }
    if (index === 1) {
      await serveTransaction(io, "b@x.test");
      // Now the server says goodbye while the connection is idle (RFC 5321 §4.5.3.2.7).
      await io.send("421 4.4.2 fake.test idle timeout");
      io.close();
      return;
    }
    await serveTransaction(io, "c@x.test");
    await io.quit();
  }, async (port) => {
    try {
      results.push(await cache.deliver(fakeOpts(port), envelope(["a@x.test"]), BODY));
      results.push(await cache.deliver(fakeOpts(port), envelope(["b@x.test"]), BODY));
      // Let the 421 arrive while idle.
      await new Promise((r) => setTimeout(r, 100));
      results.push(await cache.deliver(fakeOpts(port), envelope(["c@x.test"]), BODY));
    } finally {
      await cache.close();
    }
    return results[0]!;
  });
  assert.equal(ios.length, 3);
  assert.deepEqual(
    results.map((r) => [r.connectionError, r.recipients.map((x) => [x.address, x.code, x.ok])]),
    [
      [undefined, [["a@x.test", 250, true]]],
      [undefined, [["b@x.test", 250, true]]],
      [undefined, [["c@x.test", 250, true]]],
    ],
  );
  assert.equal(ios[1]!.seen.filter((l) => l.startsWith("MAIL")).length, 1, "nothing after 421");
});

Deno.test("ConnectionCache ends an open transaction with RSET before reuse, and keeps failures apart", async () => {
  const cache = new ConnectionCache();
  const results: DeliveryResult[] = [];
  const { ios } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_PIPE);
    // 1: the only recipient is refused; DATA (pipelined) gets 554.
    await io.expect("MAIL FROM:<bob@sender.test>", "250 2.1.0 Ok");
    await io.expect("RCPT TO:<nobody@x.test>", "550 5.1.1 No such user");
    await io.expect("DATA", "554 5.5.1 No valid recipients");
    await io.expect("RSET", "250 2.0.0 Ok");
    // 2: the message is refused at the end of data.
    await serveTransaction(io, "a@x.test", "554 5.7.1 Spam");
    // 3: delivered.
    await serveTransaction(io, "b@x.test");
    await io.quit();
  }, async (port) => {
    try {
      for (const to of ["nobody@x.test", "a@x.test", "b@x.test"]) {
        results.push(await cache.deliver(fakeOpts(port), envelope([to]), BODY));
      }
    } finally {
      await cache.close();
    }
    return results[0]!;
  });
  assert.equal(ios.length, 1);
  assert.deepEqual(results.map((r) => r.recipients.map((x) => [x.code, x.permanent, x.ok])), [
    [[550, true, false]],
    [[554, true, false]],
    [[250, false, true]],
  ]);
});

Deno.test("ConnectionCache does not share connections between TLS policies or credentials", async () => {
  const cache = new ConnectionCache();
  const { ios } = await withFakeServer(async (io) => {
    await io.send("220 fake.test ESMTP");
    await io.expect("EHLO client.test", EHLO_PIPE);
    await serveTransaction(io, "a@x.test");
    await io.quit();
  }, async (port) => {
    try {
      await cache.deliver(fakeOpts(port), envelope(["a@x.test"]), BODY);
      return await cache.deliver(
        fakeOpts(port, { tls: { mode: "none" } }),
        envelope(["a@x.test"]),
        BODY,
      );
    } finally {
      await cache.close();
    }
  });
  assert.equal(ios.length, 2, "mode none gets its own connection");
});
