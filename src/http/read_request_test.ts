import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { Connection } from "../listen/connection.ts";
import {
  DEFAULT_REQUEST_LIMITS,
  HttpError,
  type HttpRequest,
  readRequest,
  type RequestLimits,
} from "./read_request.ts";

const PEER = { address: "127.0.0.1", port: 40000 };

/** Feed `raw` (then end the stream, unless `keepOpen`) and read one request. */
async function parse(
  raw: string | Uint8Array,
  limits: Partial<RequestLimits> = {},
  keepOpen = false,
): Promise<HttpRequest | number | null> {
  const stream = new PassThrough();
  const conn = new Connection(stream, PEER);
  stream.write(typeof raw === "string" ? new TextEncoder().encode(raw) : raw);
  if (!keepOpen) stream.end();
  try {
    return await readRequest(conn, { ...DEFAULT_REQUEST_LIMITS, ...limits }, false);
  } catch (e) {
    if (e instanceof HttpError) return e.status;
    throw e;
  } finally {
    conn.destroy();
  }
}

async function status(raw: string | Uint8Array, limits: Partial<RequestLimits> = {}) {
  const r = await parse(raw, limits);
  return typeof r === "number" ? r : r === null ? null : 0;
}

Deno.test("readRequest() parses a GET with query, headers and Host", async () => {
  const r = await parse(
    "\r\nGET /mail/config-v1.1.xml?emailaddress=a%40b.test&x=1 HTTP/1.1\r\n" +
      "Host: Autoconfig.B.test:8080\r\nAccept:  */* \r\nX-A: 1\r\nx-a: 2\r\n\r\n",
  ) as HttpRequest;
  assert.equal(r.method, "GET");
  assert.equal(r.path, "/mail/config-v1.1.xml");
  assert.equal(r.query.get("emailaddress"), "a@b.test");
  assert.equal(r.version, "1.1");
  assert.equal(r.host, "autoconfig.b.test");
  assert.equal(r.headers.get("accept"), "*/*");
  assert.equal(r.headers.get("x-a"), "1, 2");
  assert.deepEqual(r.body, new Uint8Array(0));
  assert.deepEqual(r.peer, PEER);
});

Deno.test("readRequest() reads a Content-Length body and no further (pipelined garbage)", async () => {
  const r = await parse(
    "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n" +
      "hello\x00\x01GARBAGE / HTTP/9\r\n\r\n",
  ) as HttpRequest;
  assert.equal(new TextDecoder().decode(r.body), "hello");
  // Identical repeated lengths stand for one (RFC 9110 §8.6).
  const twice = await parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nok");
  assert.equal(new TextDecoder().decode((twice as HttpRequest).body), "ok");
});

Deno.test("readRequest() takes HTTP/1.0 without Host, bare LF lines and absolute-form", async () => {
  const old = await parse("GET / HTTP/1.0\n\n") as HttpRequest;
  assert.equal(old.version, "1.0");
  assert.equal(old.host, null);
  const abs = await parse(
    "GET http://Mail.Example.com:80/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n",
  ) as HttpRequest;
  assert.deepEqual([abs.host, abs.path, abs.query.get("y")], ["mail.example.com", "/x", "1"]);
  const v6 = await parse("GET / HTTP/1.1\r\nHost: [::1]:443\r\n\r\n") as HttpRequest;
  assert.equal(v6.host, "[::1]");
  // A later minor version is served as 1.1 (RFC 9110 §2.5).
  assert.equal((await parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n") as HttpRequest).version, "1.1");
});

Deno.test("readRequest() answers bad syntax with 400", async () => {
  const bad = [
    "GET /\r\nHost: a\r\n\r\n", // no version
    "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", // two spaces
    "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
    "GET / http/1.1\r\nHost: a\r\n\r\n",
    "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET nopath HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\n", // no Host in 1.1 (RFC 9112 §3.2)
    "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n", // obs-fold (RFC 9112 §5.2)
    "GET / HTTP/1.1\r\nHost : a\r\n\r\n", // space before colon (RFC 9112 §5.1)
    "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", // NUL
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", // bare CR
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bb\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nab",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort", // then end of stream
    "GET / HTTP/1.1\r\nHost: a\r\n", // end of stream inside the header section
    "\r\n".repeat(20) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", // a TLS hello on the plain port
  ];
  for (const raw of bad) assert.equal(await status(raw), 400, JSON.stringify(raw));
  assert.equal(await status(Uint8Array.of(0x47, 0x45, 0x54, 0x20, 0x2f, 0, 0x0d, 0x0a)), 400);
});

Deno.test("readRequest() answers methods, versions and codings it does not do", async () => {
  for (const m of ["PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH", "BREW", "get"]) {
    assert.equal(await status(`${m} / HTTP/1.1\r\nHost: a\r\n\r\n`), 501, m);
  }
  assert.equal(await status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  assert.equal(await status("GET / HTTP/0.9\r\n\r\n"), 505);
  const chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  assert.equal(await status(chunked), 501);
});

Deno.test("readRequest() enforces every size limit", async () => {
  const line = (n: number) => `GET /${"a".repeat(n - 14)} HTTP/1.1`; // n bytes long
  assert.equal(line(8192).length, 8192);
  assert.notEqual(await status(`${line(8192)}\r\nHost: a\r\n\r\n`), 414);
  assert.equal(await status(`${line(8193)}\r\nHost: a\r\n\r\n`), 414);
  // Without any line end the limit still holds (the request line is not buffered forever).
  assert.equal(await status("GET /" + "a".repeat(20000)), 414);
  const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join("");
  assert.equal(await status(`GET / HTTP/1.1\r\nHost: a\r\n${fields(99)}\r\n`), 0);
  assert.equal(await status(`GET / HTTP/1.1\r\nHost: a\r\n${fields(100)}\r\n`), 431);
  const big = (n: number) => `GET / HTTP/1.1\r\nHost: a\r\nX: ${"v".repeat(n)}\r\n\r\n`;
  // "Host: a\r\n" is 9 bytes, "X: " and CRLF 5 more: 16384 in all is still fine.
  assert.equal(await status(big(16384 - 14)), 0);
  assert.equal(await status(big(16384 - 13)), 431);
  assert.equal(await status("GET / HTTP/1.1\r\nHost: a\r\nX: " + "v".repeat(20000)), 431);
  const body = (n: number | string) => `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${n}\r\n\r\n`;
  assert.equal(await status(body(65536) + "x".repeat(65536)), 0);
  assert.equal(await status(body(65537)), 413);
  assert.equal(await status(body(1e15)), 413);
  assert.equal(await status(body("9".repeat(40))), 413);
});

Deno.test("readRequest() gives 408 to a slowloris client and to a stalled body", async () => {
  const stream = new PassThrough();
  const conn = new Connection(stream, PEER);
  const limits = { ...DEFAULT_REQUEST_LIMITS, headerTimeoutMs: 300 };
  const started = Date.now();
  const reading = readRequest(conn, limits, false).catch((e) => e);
  // One byte every 50 ms: each read is quick, the header section never ends in time.
  const trickle = setInterval(() => stream.write("X"), 50);
  stream.write("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ");
  const e = await reading;
  clearInterval(trickle);
  const took = Date.now() - started;
  assert.ok(e instanceof HttpError && e.status === 408, String(e));
  assert.ok(took >= 280 && took < 1500, `timed out after ${took} ms`);
  conn.destroy();
  const body = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
  assert.equal(await parse(body, { bodyTimeoutMs: 100 }, true), 408);
  assert.equal(await parse("", { headerTimeoutMs: 100 }, true), 408);
});

Deno.test("readRequest() gives null when the peer leaves or the server stops before a byte", async () => {
  assert.equal(await parse(""), null);
  const stream = new PassThrough();
  const conn = new Connection(stream, PEER);
  const reading = readRequest(conn, DEFAULT_REQUEST_LIMITS, false);
  conn.interrupt();
  assert.equal(await reading, null);
  // Half a request when the server stops: 503.
  const half = new PassThrough();
  const c2 = new Connection(half, PEER);
  half.write("GET / HTTP/1.1\r\n");
  const r2 = readRequest(c2, DEFAULT_REQUEST_LIMITS, false).catch((e) => e.status);
  await new Promise((r) => setTimeout(r, 20));
  c2.interrupt();
  assert.equal(await r2, 503);
  conn.destroy();
  c2.destroy();
});

Deno.test("readRequest() keeps obs-text bytes of a field value as Latin-1", async () => {
  const raw = Uint8Array.from([
    ...new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\nX-T: caf"),
    0xe9,
    0x80,
    ...new TextEncoder().encode("\r\n\r\n"),
  ]);
  const r = await parse(raw) as HttpRequest;
  assert.equal(r.headers.get("x-t"), "caf\xe9\x80");
});
