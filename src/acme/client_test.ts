/**
 * AcmeClient against a small fake CA on loopback: nonce handling and badNonce retries, problem
 * documents and rate limits, input checks, and ACME Renewal Information (pebble 2.4.0, used by
 * the interop test, has no renewalInfo). Real issuance is tested against pebble in
 * tests/interop/acme_pebble_test.ts.
 */

import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { AcmeProblem, isRateLimited } from "./acme_problem.ts";
import { ariCertId } from "./ari_cert_id.ts";
import { ChallengeStore } from "./challenges.ts";
import { AcmeClient } from "./client.ts";
import { b64urlDecode } from "./jws.ts";

const P256 = { name: "ECDSA", namedCurve: "P-256" };

interface FakeCa {
  url: string;
  /** Protected headers of the signed requests, in order. */
  headers: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * A fake CA: refuses the first `badNonces` POSTs with badNonce, registers accounts, answers
 * newOrder with a rate limit, and serves renewalInfo when `ari` is set.
 */
function fakeCa(opts: { badNonces?: number; ari?: boolean } = {}): FakeCa {
  let nonce = 0;
  let refuse = opts.badNonces ?? 0;
  const headers: Record<string, unknown>[] = [];
  const problem = (status: number, type: string, extra: HeadersInit = {}) =>
    new Response(JSON.stringify({ type: `urn:ietf:params:acme:error:${type}`, detail: type }), {
      status,
      headers: {
        "content-type": "application/problem+json",
        ...extra,
        "replay-nonce": `n${++nonce}`,
      },
    });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const base = url.origin;
    if (url.pathname === "/dir") {
      return Response.json({
        newNonce: `${base}/nonce`,
        newAccount: `${base}/acct`,
        newOrder: `${base}/order`,
        ...(opts.ari ? { renewalInfo: `${base}/ari/` } : {}),
      });
    }
    if (url.pathname === "/nonce") {
      return new Response(null, { headers: { "replay-nonce": `n${++nonce}` } });
    }
    if (url.pathname.startsWith("/ari/")) {
      return Response.json({
        suggestedWindow: { start: "2025-01-02T00:00:00Z", end: "2025-01-03T00:00:00Z" },
        explanationURL: "https://ca.example/why",
      }, { headers: { "retry-after": "21600" } });
    }
    const jws = await req.json();
    const header = JSON.parse(new TextDecoder().decode(b64urlDecode(jws.protected)));
    headers.push(header);
    if (req.headers.get("content-type") !== "application/jose+json") {
      return problem(415, "malformed");
    }
    if (refuse > 0) {
      refuse--;
      return problem(400, "badNonce");
    }
    if (url.pathname === "/acct") {
      return new Response("{}", {
        status: 201,
        headers: { location: `${base}/acct/1`, "replay-nonce": `n${++nonce}` },
      });
    }
    if (url.pathname === "/order") return problem(429, "rateLimited", { "retry-after": "3600" });
    return problem(404, "malformed");
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/dir`,
    headers,
    close: () => server.shutdown(),
  };
}

async function client(ca: FakeCa, now?: () => number): Promise<AcmeClient> {
  const accountKey = await crypto.subtle.generateKey(P256, true, ["sign", "verify"]);
  return new AcmeClient({ directoryUrl: ca.url, accountKey, now });
}

Deno.test("AcmeClient.account() retries badNonce with the nonce of the refusal, then signs with kid", async () => {
  const ca = fakeCa({ badNonces: 3 });
  const c = await client(ca);
  try {
    assert.equal(
      await c.account({ email: "postmaster@example.test" }),
      `${new URL(ca.url).origin}/acct/1`,
    );
    assert.equal(c.badNonceRetries, 3);
    assert.equal(ca.headers.length, 4);
    // The first nonce came from HEAD newNonce, each retry used the one the refusal carried.
    assert.deepEqual(ca.headers.map((h) => h.nonce), ["n1", "n2", "n3", "n4"]);
    for (const h of ca.headers) {
      assert.equal(h.alg, "ES256");
      assert.ok(h.jwk && !h.kid, "newAccount is signed with jwk");
      assert.equal(h.url, `${new URL(ca.url).origin}/acct`);
    }
    // After the account, requests carry kid; newOrder is rate limited here.
    const err = await c.issue({
      names: ["mx.example.test"],
      challenge: "http-01",
      challenges: new ChallengeStore(),
      certKey: await crypto.subtle.generateKey(P256, true, ["sign", "verify"]),
    }).catch((e) => e);
    assert.equal(ca.headers.at(-1)?.kid, `${new URL(ca.url).origin}/acct/1`);
    assert.ok(isRateLimited(err), String(err));
  } finally {
    c.close();
    await ca.close();
  }
});

Deno.test("AcmeClient gives up on badNonce after its retries and reports the problem", async () => {
  const ca = fakeCa({ badNonces: 1000 });
  const c = await client(ca);
  try {
    const err = await c.account().catch((e) => e);
    assert.ok(err instanceof AcmeProblem);
    assert.ok(err.is("badNonce"));
    assert.equal(err.status, 400);
    assert.equal(c.badNonceRetries, 10);
  } finally {
    c.close();
    await ca.close();
  }
});

Deno.test("AcmeClient: a 429 rateLimited problem carries Retry-After as a date", async () => {
  const ca = fakeCa();
  const now = Date.UTC(2025, 0, 1);
  const c = await client(ca, () => now);
  try {
    await c.account();
    const err = await c.issue({
      names: ["mx.example.test"],
      challenge: "tls-alpn-01",
      challenges: new ChallengeStore(),
      certKey: await crypto.subtle.generateKey(P256, true, ["sign", "verify"]),
    }).catch((e) => e);
    assert.ok(err instanceof AcmeProblem);
    assert.equal(err.type, "urn:ietf:params:acme:error:rateLimited");
    assert.equal(err.status, 429);
    assert.deepEqual(err.retryAfter, new Date(now + 3600_000));
  } finally {
    c.close();
    await ca.close();
  }
});

Deno.test("AcmeClient refuses bad input before talking to the CA", async () => {
  const ca = fakeCa();
  const c = await client(ca);
  try {
    const certKey = await crypto.subtle.generateKey(P256, true, ["sign", "verify"]);
    const store = new ChallengeStore();
    for (const names of [[], ["*.example.test"], ["a..b"], ["localhost"], ["mx.example.test/x"]]) {
      await assert.rejects(
        () => c.issue({ names, challenge: "http-01", challenges: store, certKey }),
        TypeError,
        JSON.stringify(names),
      );
    }
    await assert.rejects(() => c.account({ email: "not an address" }), TypeError);
    await assert.rejects(() => c.account({ eab: { kid: "k", hmacKey: "@@@" } }), TypeError);
    assert.equal(ca.headers.length, 0);
  } finally {
    c.close();
    await ca.close();
  }
});

Deno.test("AcmeClient.renewalInfo() reads the suggested window by the ARI identifier; null without ARI", async () => {
  const keys = await crypto.subtle.generateKey(P256, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "0087654321",
    name: "CN=mx.example.test",
    keys,
    signingAlgorithm: { ...P256, hash: "SHA-256" },
    extensions: [
      new x509.AuthorityKeyIdentifierExtension("69885b6b87464041e1b37b847ba0ae2cde01c8d4"),
    ],
  });
  const pem = cert.toString("pem");
  const ari = fakeCa({ ari: true });
  const plain = fakeCa();
  const now = Date.UTC(2025, 0, 1);
  const withAri = await client(ari, () => now);
  const without = await client(plain);
  try {
    const window = await withAri.renewalInfo(pem);
    assert.deepEqual(window, {
      start: new Date("2025-01-02T00:00:00Z"),
      end: new Date("2025-01-03T00:00:00Z"),
      retryAfter: new Date(now + 21600_000),
      explanationUrl: "https://ca.example/why",
    });
    assert.equal(ariCertId(pem), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    assert.equal(await without.renewalInfo(pem), null);
  } finally {
    withAri.close();
    without.close();
    await ari.close();
    await plain.close();
  }
});
