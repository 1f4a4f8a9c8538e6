/**
 * The ACME client against Debian's pebble: real issuance by http-01 and tls-alpn-01, with pebble
 * validating http-01 against a minimal responder in this file and tls-alpn-01 against postie's
 * own HTTPS listener (HttpService, whose TLS 1.3 responder serves the critical acmeIdentifier
 * certificate), both serving one ChallengeStore, names resolved by the loopback TestDnsServer. Also: nonces
 * refused at random (badNonce retries), account reuse, External Account Binding, and a
 * challenge nobody answers.
 *
 * @module
 */

import "reflect-metadata";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { loadOrCreateAccountKey } from "../../src/acme/account_key.ts";
import { AcmeProblem } from "../../src/acme/acme_problem.ts";
import { ChallengeStore } from "../../src/acme/challenges.ts";
import { AcmeClient, type ChallengeType } from "../../src/acme/client.ts";
import { b64url } from "../../src/acme/jws.ts";
import type { TlsAlpnChallenge } from "../../src/acme/tls_alpn_responder.ts";
import { HttpService } from "../../src/http/server.ts";
import { TlsContext } from "../../src/listen/tls_context.ts";
import { TestDnsServer } from "../support/dns_server.ts";
import { type Pebble, type PebbleOptions, startPebble } from "../support/pebble.ts";
import { freePort } from "../support/wait.ts";

const NAMES = ["mx.example.test", "autoconfig.example.test"];

/** A ChallengeStore that also counts the answers it holds, to prove they are taken away. */
class CountingStore extends ChallengeStore {
  live = 0;
  served = 0;
  override setHttp(token: string, keyAuthorization: string): void {
    this.live++;
    super.setHttp(token, keyAuthorization);
  }
  override deleteHttp(token: string): void {
    this.live--;
    super.deleteHttp(token);
  }
  override setTlsAlpn(name: string, challenge: TlsAlpnChallenge): void {
    this.live++;
    super.setTlsAlpn(name, challenge);
  }
  /** Looked up by the HTTPS listener for each acme-tls/1 hello: counted as served. */
  override tlsAlpn(name: string): TlsAlpnChallenge | undefined {
    const challenge = super.tlsAlpn(name);
    if (challenge) this.served++;
    return challenge;
  }
  override deleteTlsAlpn(name: string): void {
    this.live--;
    super.deleteTlsAlpn(name);
  }
}

/** http-01 (RFC 8555 §8.3): GET /.well-known/acme-challenge/<token> answers the key authorization. */
function httpResponder(port: number, store: CountingStore): Deno.HttpServer {
  return Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (req) => {
    const m = new URL(req.url).pathname.match(/^\/\.well-known\/acme-challenge\/([\w-]+)$/);
    const answer = m?.[1] ? store.http(m[1]) : undefined;
    if (answer === undefined) return new Response("no such challenge\n", { status: 404 });
    store.served++;
    return new Response(answer, { headers: { "content-type": "text/plain" } });
  });
}

/**
 * tls-alpn-01 (RFC 8737 §3): postie's HTTPS listener, without a certificate of its own, so that
 * it answers only `acme-tls/1` handshakes for pending challenges (with its TLS 1.3 responder).
 */
function tlsAlpnResponder(port: number, store: CountingStore): Promise<HttpService> {
  return HttpService.start({
    listen: { http: [], https: [{ host: "127.0.0.1", port }] },
    hostname: "mx.example.test",
    domains: ["example.test"],
    tls: new TlsContext(null),
    challenges: store,
    limits: { maxConnections: 20, maxConnectionsPerIp: 20, handshakeTimeoutMs: 10_000 },
  });
}

interface Env {
  pebble: Pebble;
  store: CountingStore;
  dir: string;
  client(accountKey?: CryptoKeyPair, pollTimeoutMs?: number): Promise<AcmeClient>;
}

function p256(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as Promise<CryptoKeyPair>;
}

/**
 * Run `fn` with a DNS server answering 127.0.0.1 for the test names, pebble, and (unless
 * `responders` is false) both challenge responders; everything is stopped afterwards.
 */
async function withPebble(
  opts: Omit<PebbleOptions, "httpPort" | "tlsPort" | "dnsServer"> & { responders?: boolean },
  fn: (env: Env) => Promise<void>,
): Promise<void> {
  const dns = await TestDnsServer.start({
    records: [...NAMES, "alpn.example.test", "nobody.example.test"].map((name) => ({
      name,
      type: "A" as const,
      data: "127.0.0.1",
    })),
  });
  const httpPort = await freePort();
  const tlsPort = await freePort();
  const store = new CountingStore();
  const dir = await Deno.makeTempDir({ prefix: "postie-acme-" });
  const http = opts.responders === false ? undefined : httpResponder(httpPort, store);
  const alpn = opts.responders === false ? undefined : await tlsAlpnResponder(tlsPort, store);
  const clients: AcmeClient[] = [];
  let pebble: Pebble | undefined;
  try {
    pebble = await startPebble({ ...opts, httpPort, tlsPort, dnsServer: dns.address });
    const started = pebble;
    await fn({
      pebble: started,
      store,
      dir,
      async client(accountKey, pollTimeoutMs) {
        const c = new AcmeClient({
          directoryUrl: started.directoryUrl,
          accountKey: accountKey ?? await p256(),
          caCerts: [started.caPem],
          pollIntervalMs: 200,
          pollTimeoutMs,
        });
        clients.push(c);
        return c;
      },
    });
  } catch (e) {
    if (pebble) {
      const tail = pebble.output().split("\n").slice(-40).join("\n");
      (e as Error).message += `\npebble said, at the end:\n${tail}`;
    }
    throw e;
  } finally {
    for (const c of clients) c.close();
    await pebble?.stop();
    await http?.shutdown();
    await alpn?.stop(1000);
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];
}

/** Issue for `names` by `challenge`, then check the chain with openssl and the SAN. */
async function issueAndVerify(
  env: Env,
  client: AcmeClient,
  names: string[],
  challenge: ChallengeType,
): Promise<void> {
  const certKey = await p256();
  const served = env.store.served;
  const issued = await client.issue({ names, challenge, challenges: env.store, certKey });
  assert.ok(env.store.served > served, `pebble fetched no ${challenge} answer`);
  assert.equal(env.store.live, 0, "the challenge answers were not taken away");
  const [leafPem, ...intermediates] = pemBlocks(issued.certPem);
  assert.ok(leafPem && intermediates.length > 0, issued.certPem);
  const leaf = new x509.X509Certificate(leafPem);
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  assert.deepEqual(san?.names.items.map((n) => n.value).sort(), [...names].sort());
  assert.deepEqual(issued.notBefore, leaf.notBefore);
  assert.deepEqual(issued.notAfter, leaf.notAfter);
  assert.ok(issued.notAfter.getTime() > Date.now());
  // The chain verifies up to pebble's root, checked by Debian's openssl.
  const files = { root: "root.pem", chain: "intermediates.pem", leaf: "leaf.pem" };
  await Deno.writeTextFile(join(env.dir, files.root), await env.pebble.rootPem());
  await Deno.writeTextFile(join(env.dir, files.chain), intermediates.join(""));
  await Deno.writeTextFile(join(env.dir, files.leaf), leafPem);
  const out = await new Deno.Command("openssl", {
    args: ["verify", "-CAfile", files.root, "-untrusted", files.chain, files.leaf],
    cwd: env.dir,
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `openssl verify: ${text}`);
  assert.match(text, /leaf\.pem: OK/);
}

Deno.test("ACME with pebble: http-01 for two names, then tls-alpn-01; chains verify to pebble's root", async () => {
  await withPebble({}, async (env) => {
    const client = await env.client();
    await client.account({ email: "postmaster@example.test" });
    await issueAndVerify(env, client, NAMES, "http-01");
    await issueAndVerify(env, client, ["alpn.example.test"], "tls-alpn-01");
    // pebble 2.4.0 has no renewalInfo in its directory.
    assert.equal(await client.renewalInfo(pemBlocks(await env.pebble.rootPem())[0]!), null);
  });
});

Deno.test("ACME with pebble refusing 30% of nonces: both challenge types still succeed, by retrying badNonce", async () => {
  await withPebble({ nonceRejectPercent: 30 }, async (env) => {
    const client = await env.client();
    await issueAndVerify(env, client, NAMES, "http-01");
    await issueAndVerify(env, client, ["alpn.example.test"], "tls-alpn-01");
    assert.ok(client.badNonceRetries > 0, "pebble refused no nonce (30% of some 20 requests)");
  });
});

Deno.test("ACME with pebble: the stored account key finds the same account again", async () => {
  await withPebble({}, async (env) => {
    const path = join(env.dir, "acme", "account-key.json");
    const first = await (await env.client(await loadOrCreateAccountKey(path))).account();
    const again = await env.client(await loadOrCreateAccountKey(path));
    assert.equal(await again.account(), first);
    assert.notEqual(await (await env.client()).account(), first, "another key, another account");
  });
});

Deno.test("ACME with pebble requiring External Account Binding: refused without, accepted with", async () => {
  const hmacKey = b64url(crypto.getRandomValues(new Uint8Array(32)));
  await withPebble({ eab: { "kid-1": hmacKey }, responders: false }, async (env) => {
    const key = await p256();
    const refused = await (await env.client(key)).account().catch((e) => e);
    assert.ok(refused instanceof AcmeProblem, String(refused));
    assert.equal(refused.type, "urn:ietf:params:acme:error:externalAccountRequired");
    const wrong = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const bad = await (await env.client(key)).account({ eab: { kid: "kid-1", hmacKey: wrong } })
      .catch((e) => e);
    assert.ok(bad instanceof AcmeProblem, String(bad));
    assert.equal(bad.type, "urn:ietf:params:acme:error:unauthorized");
    const url = await (await env.client(key)).account({ eab: { kid: "kid-1", hmacKey } });
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\//);
  });
});

Deno.test("ACME with pebble: a challenge nobody answers fails soon with the CA's problem", async () => {
  await withPebble({ responders: false }, async (env) => {
    const client = await env.client(undefined, 30_000);
    const started = Date.now();
    const err = await client.issue({
      names: ["nobody.example.test"],
      challenge: "http-01",
      challenges: env.store,
      certKey: await p256(),
    }).catch((e) => e);
    assert.ok(Date.now() - started < 30_000, "took too long");
    assert.ok(err instanceof AcmeProblem, String(err));
    // pebble's own words: it could not connect to the http-01 port.
    assert.equal(err.type, "urn:ietf:params:acme:error:connection");
    assert.match(err.detail, /nobody\.example\.test.*connection refused/);
    assert.match(err.message, /^http-01 for nobody\.example\.test: /);
    assert.equal(env.store.live, 0, "the answer was not taken away");
  });
});
