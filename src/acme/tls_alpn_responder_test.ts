import assert from "node:assert/strict";
import { ReadTimeout } from "../listen/inbox.ts";
import { tlsAlpnCertificate } from "./tls_alpn_certificate.ts";
import { p1363ToDer, respondTlsAlpn, type TlsAlpnConnection } from "./tls_alpn_responder.ts";

// The full handshake is tested against real clients: node:tls in src/http/server_test.ts,
// openssl s_client in tests/interop/acme_tls_alpn_test.ts, pebble (Go) in
// tests/interop/acme_pebble_test.ts. Here: what a bad hello gets.

/** A connection that hands out `chunks`, then ends (or stays silent until the deadline). */
class FakeConnection implements TlsAlpnConnection {
  readonly written: Uint8Array[] = [];
  closed = false;
  constructor(readonly chunks: Uint8Array[], readonly endAfter = true) {}
  async read(timeoutMs: number): Promise<Uint8Array | null> {
    const chunk = this.chunks.shift();
    if (chunk) return chunk;
    if (this.endAfter) return null;
    await new Promise((r) => setTimeout(r, timeoutMs));
    throw new ReadTimeout();
  }
  write(data: Uint8Array): Promise<boolean> {
    this.written.push(data);
    return Promise.resolve(true);
  }
  close(): void {
    this.closed = true;
  }
}

const u16 = (n: number) => [n >> 8, n & 0xff];
const vec = (width: 2 | 3, bytes: number[]) => [
  ...(width === 2 ? u16(bytes.length) : [bytes.length >> 16, ...u16(bytes.length & 0xffff)]),
  ...bytes,
];
const v1 = (bytes: number[]) => [bytes.length, ...bytes];
const ext = (type: number, data: number[]) => [...u16(type), ...vec(2, data)];
const ascii = (s: string) => [...new TextEncoder().encode(s)];

interface HelloOptions {
  versions?: number[] | null;
  suites?: number[];
  alpn?: string[] | null;
  sigalgs?: number[] | null;
  groups?: number[];
  shares?: [number, number[]][];
  /** Cut this many bytes off the end of the hello body (lengths adjusted around it). */
  cut?: number;
}

/** A ClientHello record with what `o` says (defaults: what a validation client sends). */
function clientHello(o: HelloOptions = {}): Uint8Array {
  const x25519 = Array.from(crypto.getRandomValues(new Uint8Array(32)));
  const extensions = [
    ...ext(0, vec(2, [0, ...vec(2, ascii("mx.example.test"))])),
    ...(o.versions === null ? [] : ext(43, v1((o.versions ?? [0x0304]).flatMap(u16)))),
    ...(o.alpn === null
      ? []
      : ext(16, vec(2, (o.alpn ?? ["acme-tls/1"]).flatMap((p) => v1(ascii(p)))))),
    ...(o.sigalgs === null ? [] : ext(13, vec(2, (o.sigalgs ?? [0x0403, 0x0804]).flatMap(u16)))),
    ...ext(10, vec(2, (o.groups ?? [0x001d, 0x0017]).flatMap(u16))),
    ...ext(
      51,
      vec(2, (o.shares ?? [[0x001d, x25519]]).flatMap(([g, k]) => [...u16(g), ...vec(2, k)])),
    ),
  ];
  let body = [
    3,
    3,
    ...Array.from(crypto.getRandomValues(new Uint8Array(32))),
    ...v1(Array.from(crypto.getRandomValues(new Uint8Array(32)))),
    ...vec(2, (o.suites ?? [0x1302, 0x1301]).flatMap(u16)),
    ...v1([0]),
    ...vec(2, extensions),
  ];
  if (o.cut) body = body.slice(0, body.length - o.cut);
  const message = [1, ...vec(3, body)];
  return Uint8Array.from([22, 3, 1, ...vec(2, message)]);
}

const ALERT = { protocol_version: 70, handshake_failure: 40, no_application_protocol: 120 };

async function answer(chunks: Uint8Array[], endAfter = true, deadlineMs = 2000) {
  const challenge = await (challengeP ??= tlsAlpnCertificate("mx.example.test", "t.k"));
  const conn = new FakeConnection(chunks, endAfter);
  const outcome = await respondTlsAlpn(conn, challenge, Date.now() + deadlineMs);
  assert.ok(conn.closed, "the connection was not closed");
  return { outcome, written: conn.written.map((w) => Array.from(w)) };
}
let challengeP: ReturnType<typeof tlsAlpnCertificate> | undefined;

/** A fatal plaintext alert record (RFC 8446 §6). */
const fatal = (code: number) => [21, 3, 3, 0, 2, 2, code];

Deno.test("respondTlsAlpn() refuses hellos it cannot answer with the right fatal alert", async () => {
  const cases: [string, HelloOptions, number, RegExp][] = [
    ["TLS 1.2 only", { versions: null }, ALERT.protocol_version, /TLS 1\.3/],
    ["1.2 in supported_versions", { versions: [0x0303] }, ALERT.protocol_version, /TLS 1\.3/],
    ["no acme-tls/1", { alpn: ["h2", "http/1.1"] }, ALERT.no_application_protocol, /acme-tls/],
    ["no ALPN", { alpn: null }, ALERT.no_application_protocol, /acme-tls/],
    ["no AES-128-GCM", { suites: [0x1302, 0x1303] }, ALERT.handshake_failure, /AES_128/],
    ["no ECDSA P-256", { sigalgs: [0x0804] }, ALERT.handshake_failure, /ecdsa/],
    ["no signature_algorithms", { sigalgs: null }, 109, /signature_algorithms/],
    [
      "no usable group",
      { groups: [0x001e], shares: [[0x001e, new Array(56).fill(9)]] },
      40,
      /x25519/,
    ],
    ["a short x25519 share", { shares: [[0x001d, new Array(31).fill(9)]] }, 47, /wrong form/],
    ["truncated extensions", { cut: 3 }, 50, /truncated/],
  ];
  for (const [what, options, code, reason] of cases) {
    const { outcome, written } = await answer([clientHello(options)]);
    assert.equal(outcome.ok, false, what);
    assert.match(outcome.ok ? "" : outcome.reason, reason, what);
    assert.deepEqual(written, [fatal(code)], what);
  }
});

Deno.test("respondTlsAlpn(): not TLS at all is unexpected_message; a cut-off record just closes", async () => {
  const http = await answer([new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")]);
  assert.deepEqual(http.written, [fatal(10)]);
  const cut = await answer([clientHello().slice(0, 60)]);
  assert.deepEqual(cut.written, []);
  assert.deepEqual(cut.outcome, { ok: false, reason: "the client closed the connection" });
  // A hello in two records, then the end: reassembled, answered with a ServerHello.
  const whole = clientHello();
  const body = whole.slice(5);
  const rec = (part: Uint8Array) =>
    Uint8Array.from([22, 3, 1, part.length >> 8, part.length & 0xff, ...part]);
  const split = await answer([rec(body.slice(0, 40)), rec(body.slice(40))]);
  assert.equal(split.written[0]?.[0], 22, "a handshake record first");
  assert.equal(split.written[0]?.[5], 2, "a ServerHello");
});

Deno.test("respondTlsAlpn() asks for an x25519 share with a HelloRetryRequest when none came", async () => {
  const { outcome, written } = await answer([clientHello({ shares: [] })]);
  const hrr = written[0]!;
  assert.deepEqual(hrr.slice(0, 1), [22]);
  assert.equal(hrr[5], 2, "ServerHello type");
  // RFC 8446 §4.1.3: the special random, SHA-256("HelloRetryRequest").
  assert.equal(
    Uint8Array.from(hrr.slice(11, 43)).toHex(),
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c",
  );
  // The key_share extension names the group only: 0x0033, length 2, x25519.
  assert.ok(hrr.join().includes([0, 0x33, 0, 2, 0, 0x1d].join()), "key_share x25519");
  // Then the middlebox-compatibility change_cipher_spec, and the client went away.
  assert.deepEqual(written[1], [20, 3, 3, 0, 1, 1]);
  assert.deepEqual(outcome, { ok: false, reason: "the client closed the connection" });
  // A second hello that still has no share: illegal_parameter.
  const again = await answer([clientHello({ shares: [] }), clientHello({ shares: [] })]);
  assert.deepEqual(again.written.at(-1), fatal(47));
});

Deno.test("respondTlsAlpn() gives up on a silent client at the deadline", async () => {
  const started = Date.now();
  const silent = await answer([], false, 300);
  assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  assert.deepEqual(silent, {
    outcome: { ok: false, reason: "the client was too slow" },
    written: [],
  });
  // One that stops after its hello, before its Finished: the same, after the server's flight.
  const stalled = await answer([clientHello()], false, 300);
  assert.deepEqual(stalled.outcome, { ok: false, reason: "the client was too slow" });
  assert.equal(stalled.written.length, 3, "ServerHello, change_cipher_spec, the encrypted flight");
  assert.equal(stalled.written[2]![0], 23, "the flight is protected");
});

Deno.test("p1363ToDer() makes minimal DER integers, with a 0 before a high bit", () => {
  const sig = new Uint8Array(64);
  sig[0] = 0x80; // r with its high bit set
  sig[32 + 31] = 5; // s = 5
  assert.equal(p1363ToDer(sig).toHex(), "3026022100" + "80" + "00".repeat(31) + "020105");
});
