import "reflect-metadata";
import assert from "node:assert/strict";
import tls from "node:tls";
import * as x509 from "@peculiar/x509";
import { TlsContext } from "../listen/tls_context.ts";
import { ACME_TLS_ALPN } from "./serve_http.ts";
import { exchange, get, HOSTNAME, startTestService } from "./_testing.ts";

// RFC 8737 §3: id-pe-acmeIdentifier.
const ACME_IDENTIFIER = "1.3.6.1.5.5.7.1.31";

/**
 * A tls-alpn-01 certificate for `name` (RFC 8737 §3), its key, and PEMs. RFC 8737 makes the
 * acmeIdentifier extension critical; Deno 2.9.6's TLS (rustls) refuses to serve a certificate
 * with an unknown critical extension (see the last test), which is why postie has its own
 * responder, and its TLS client refuses such a certificate too, so the tests of the listener's
 * choice that handshake with node:tls use a non-critical one (tests/interop/acme_tls_alpn_test.ts
 * shows openssl the real one).
 */
async function challengeCertificate(name: string, keyAuthorization: string, critical = false) {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(keyAuthorization)),
  );
  const value = Uint8Array.from([0x04, 0x20, ...digest]); // DER OCTET STRING
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=acme challenge",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }]),
      new x509.Extension(ACME_IDENTIFIER, critical, value),
    ],
  });
  const key = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const keyPem = x509.PemConverter.encode(key, "PRIVATE KEY");
  return {
    value,
    challenge: { certDer: new Uint8Array(cert.rawData), privateKey: keys.privateKey },
    certPem: cert.toString("pem"),
    keyPem,
  };
}

interface Handshake {
  alpn: string | false;
  cert: x509.X509Certificate;
  /** What the server sent after the handshake before it closed. */
  after: string;
}

/** Handshake with `alpn` and SNI `servername`, send nothing, and wait for the server to close. */
function handshake(port: number, servername: string | undefined, alpn: string[]) {
  return new Promise<Handshake>((resolve, reject) => {
    const s = tls.connect({
      host: "127.0.0.1",
      port,
      ...(servername ? { servername } : {}),
      ALPNProtocols: alpn,
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => reject(new Error("server did not close")), 3000);
    let after = "";
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.once("secureConnect", () => {
      const raw = s.getPeerCertificate(true).raw;
      const cert = new x509.X509Certificate(new Uint8Array(raw));
      const alpnProtocol = s.alpnProtocol ?? false;
      s.on("data", (d: Uint8Array) => after += new TextDecoder().decode(d));
      // A normal HTTPS connection waits for a request: end it, the server closes too.
      if (alpnProtocol !== ACME_TLS_ALPN) s.end();
      s.once("close", () => {
        clearTimeout(timer);
        resolve({ alpn: alpnProtocol, cert, after });
      });
    });
  });
}

Deno.test("HttpService serves http-01 answers over HTTP and HTTPS, for any host", async () => {
  const t = await startTestService();
  t.challenges.setHttp("tok_en-1", "tok_en-1.thumbprint");
  try {
    for (const tlsOptions of [undefined, { ca: t.cert.certPem }]) {
      const port = tlsOptions ? t.httpsPort : t.httpPort;
      const r = await exchange(port, get("/.well-known/acme-challenge/tok_en-1", "x"), tlsOptions);
      assert.equal(r.status, 200);
      assert.equal(r.body, "tok_en-1.thumbprint");
      assert.equal(r.headers.get("content-type"), "application/octet-stream");
      assert.equal(r.headers.get("content-length"), String(r.body.length));
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
      assert.equal(r.headers.get("connection"), "close");
      assert.ok(r.headers.has("date"));
      assert.ok(!r.headers.has("server"));
      const head = await exchange(
        port,
        get("/.well-known/acme-challenge/tok_en-1", "x", "HEAD"),
        tlsOptions,
      );
      assert.deepEqual([head.status, head.body], [200, ""]);
      assert.equal(head.headers.get("content-length"), String(r.body.length));
      for (const bad of ["nope", "tok_en-1/x", "..%2Ftok_en-1", ""]) {
        const miss = await exchange(port, get(`/.well-known/acme-challenge/${bad}`), tlsOptions);
        assert.equal(miss.status, 404, bad);
      }
      const posted = await exchange(
        port,
        get("/.well-known/acme-challenge/tok_en-1", "x", "POST"),
        tlsOptions,
      );
      assert.equal(posted.status, 405);
      assert.equal(posted.headers.get("allow"), "GET, HEAD");
    }
    t.challenges.deleteHttp("tok_en-1");
    const gone = await exchange(t.httpPort, get("/.well-known/acme-challenge/tok_en-1"));
    assert.equal(gone.status, 404);
  } finally {
    await t.service.stop(1000);
  }
});

Deno.test("HttpService: an acme-tls/1 hello gets the challenge certificate, others the normal one", async () => {
  const t = await startTestService();
  const challenge = await challengeCertificate(HOSTNAME, "token.thumb");
  t.challenges.setTlsAlpn(HOSTNAME.toUpperCase(), challenge.challenge);
  try {
    const acme = await handshake(t.httpsPort, HOSTNAME, [ACME_TLS_ALPN]);
    assert.equal(acme.alpn, ACME_TLS_ALPN);
    const ext = acme.cert.getExtension(ACME_IDENTIFIER);
    assert.ok(ext);
    assert.deepEqual(new Uint8Array(ext.value), challenge.value);
    assert.equal(acme.cert.subject, "CN=acme challenge");
    assert.equal(acme.after, "", "no HTTP after a tls-alpn-01 handshake");
    // The same port, a browser-like hello: the TlsContext certificate and http/1.1.
    const normal = await handshake(t.httpsPort, HOSTNAME, ["h2", "http/1.1"]);
    assert.equal(normal.alpn, "http/1.1");
    assert.equal(normal.cert.subject, `CN=${HOSTNAME}`);
    assert.equal(normal.cert.getExtension(ACME_IDENTIFIER), null);
    // acme-tls/1 for a name with nothing pending, or without SNI: not the challenge.
    const other = await handshake(t.httpsPort, "other.test", [ACME_TLS_ALPN, "http/1.1"]);
    assert.equal(other.cert.subject, `CN=${HOSTNAME}`);
    const noSni = await handshake(t.httpsPort, undefined, [ACME_TLS_ALPN, "http/1.1"]);
    assert.equal(noSni.cert.subject, `CN=${HOSTNAME}`);
    // And HTTPS still serves requests.
    const r = await exchange(t.httpsPort, get("/nothing"), { ca: t.cert.certPem });
    assert.equal(r.status, 404);
  } finally {
    await t.service.stop(1000);
  }
});

Deno.test("HttpService without a certificate answers only tls-alpn-01 handshakes", async () => {
  const t = await startTestService({ tls: new TlsContext(null) });
  const challenge = await challengeCertificate(HOSTNAME, "k");
  t.challenges.setTlsAlpn(HOSTNAME, challenge.challenge);
  try {
    const acme = await handshake(t.httpsPort, HOSTNAME, [ACME_TLS_ALPN]);
    assert.ok(acme.cert.getExtension(ACME_IDENTIFIER));
    await assert.rejects(handshake(t.httpsPort, HOSTNAME, ["http/1.1"]));
  } finally {
    await t.service.stop(1000);
  }
});

Deno.test("HttpService redirects plain HTTP to HTTPS, else 404", async () => {
  const t = await startTestService();
  const noHttps = await startTestService({
    listen: { http: [{ host: "127.0.0.1", port: 0 }], https: [] },
  });
  try {
    const r = await exchange(t.httpPort, get("/some/page?a=1&b=%20"));
    assert.equal(r.status, 301);
    const location = `https://${HOSTNAME}:${t.httpsPort}/some/page?a=1&b=%20`;
    assert.equal(r.headers.get("location"), location);
    const abs = await exchange(t.httpPort, get("http://example.test?q", "example.test"));
    assert.equal(abs.headers.get("location"), `https://${HOSTNAME}:${t.httpsPort}/?q`);
    const secure = await exchange(t.httpsPort, get("/some/page"), { ca: t.cert.certPem });
    assert.equal(secure.status, 404);
    assert.equal((await exchange(noHttps.httpPort, get("/some/page"))).status, 404);
    // A reload changes the name redirected to.
    t.service.configure({
      hostname: "new.example.test",
      domains: ["example.test"],
      limits: { maxConnections: 5, maxConnectionsPerIp: 5, handshakeTimeoutMs: 1000 },
    });
    const moved = await exchange(t.httpPort, get("/x"));
    assert.equal(moved.headers.get("location"), `https://new.example.test:${t.httpsPort}/x`);
  } finally {
    await t.service.stop(1000);
    await noHttps.service.stop(1000);
  }
});

Deno.test("HttpService answers errors with their status and closes; pipelined bytes are ignored", async () => {
  const t = await startTestService();
  t.challenges.setHttp("t", "t.k");
  try {
    const bad = await exchange(t.httpPort, "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n");
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get("connection"), "close");
    assert.equal(bad.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal((await exchange(t.httpPort, "BREW / HTTP/1.1\r\nHost: a\r\n\r\n")).status, 501);
    const two = await exchange(
      t.httpPort,
      get("/.well-known/acme-challenge/t") + get("/.well-known/acme-challenge/t") + "\x00junk",
    );
    assert.equal(two.raw.match(/HTTP\/1\.1 /g)?.length, 1, two.raw);
    assert.equal(two.body, "t.k");
  } finally {
    await t.service.stop(1000);
  }
});

Deno.test("HttpService refuses connections over the limit with 503 (HTTPS: closed)", async () => {
  const t = await startTestService({
    limits: { maxConnections: 1, maxConnectionsPerIp: 1, handshakeTimeoutMs: 3000 },
  });
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: t.httpPort });
  try {
    await new Promise((r) => setTimeout(r, 50));
    const r = await exchange(t.httpPort, get("/"));
    assert.equal(r.status, 503);
    assert.equal(r.headers.get("connection"), "close");
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    await assert.rejects(exchange(t.httpsPort, get("/"), { ca: t.cert.certPem }));
  } finally {
    idle.close();
    await t.service.stop(1000);
  }
});

Deno.test("HttpService.stop closes idle connections at once and then refuses to connect", async () => {
  const t = await startTestService();
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: t.httpPort });
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await t.service.stop(5000);
  assert.ok(Date.now() - started < 1000, `stop took ${Date.now() - started} ms`);
  assert.equal(await idle.read(new Uint8Array(10)), null);
  idle.close();
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: t.httpPort }));
});

// A canary: when this fails, Deno serves RFC 8737 certificates, and postie's own TLS 1.3
// responder (src/acme/tls_alpn_responder.ts) could give way to node:tls. rustls's
// with_single_cert checks the certificate with webpki, which refuses unknown critical
// extensions (UnsupportedCriticalExtension, rustls/webpki#281).
Deno.test("Deno's TLS cannot yet serve a certificate with a critical acmeIdentifier", async () => {
  const challenge = await challengeCertificate(HOSTNAME, "k", true);
  const server = tls.createServer({ cert: challenge.certPem, key: challenge.keyPem });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const port = (server.address() as { port: number }).port;
    await assert.rejects(handshake(port, HOSTNAME, [ACME_TLS_ALPN]));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
