import assert from "node:assert/strict";
import {
  b64url,
  b64urlDecode,
  externalAccountBinding,
  jwkThumbprint,
  keyAuthorization,
  publicJwk,
  signJws,
} from "./jws.ts";

const decoder = new TextDecoder();
const json = (b64: string) => JSON.parse(decoder.decode(b64urlDecode(b64)));

async function p256(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

Deno.test("b64url() encodes without padding in the URL alphabet and b64urlDecode() reverses it", () => {
  assert.deepEqual(b64url(new Uint8Array([0xfb, 0xff, 0x01])), "-_8B");
  assert.deepEqual(b64url("a"), "YQ");
  assert.deepEqual(b64urlDecode("-_8B"), new Uint8Array([0xfb, 0xff, 0x01]));
  assert.throws(() => b64urlDecode("+/8B"), SyntaxError);
});

Deno.test("jwkThumbprint() gives RFC 7638 §3.1's value for its RSA example", async () => {
  const jwk = {
    kty: "RSA",
    n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_" +
      "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_" +
      "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4v" +
      "MQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    e: "AQAB",
    alg: "RS256",
    kid: "2011-04-29",
  };
  assert.deepEqual(await jwkThumbprint(jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
});

Deno.test("jwkThumbprint() of an EC key hashes crv,kty,x,y in that order and nothing else", async () => {
  const jwk = { kty: "EC", y: "Y", x: "X", crv: "P-256", d: "secret", alg: "ES256" };
  const expected = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode('{"crv":"P-256","kty":"EC","x":"X","y":"Y"}'),
    ),
  );
  assert.deepEqual(await jwkThumbprint(jwk), b64url(expected));
  await assert.rejects(() => jwkThumbprint({ kty: "EC", crv: "P-256", x: "X" }), TypeError);
  await assert.rejects(() => jwkThumbprint({ kty: "XYZ" }), TypeError);
});

Deno.test("publicJwk() returns only the public members of a P-256 key and refuses other keys", async () => {
  const keys = await p256();
  const jwk = await publicJwk(keys.privateKey);
  assert.deepEqual(Object.keys(jwk).sort(), ["crv", "kty", "x", "y"]);
  assert.deepEqual(jwk, await publicJwk(keys.publicKey));
  const p384 = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
  ]) as CryptoKeyPair;
  await assert.rejects(() => publicJwk(p384.publicKey), TypeError);
});

Deno.test("keyAuthorization() joins token and thumbprint with a dot (RFC 8555 §8.1)", () => {
  assert.deepEqual(keyAuthorization("tok", "thumb"), "tok.thumb");
});

Deno.test("signJws() makes a flattened ES256 JWS that verifies; POST-as-GET has an empty payload", async () => {
  const keys = await p256();
  const jws = await signJws(keys.privateKey, {
    kid: "https://ca/acct/1",
    nonce: "n1",
    url: "https://ca/x",
  }, { a: 1 });
  assert.deepEqual(json(jws.protected), {
    alg: "ES256",
    kid: "https://ca/acct/1",
    nonce: "n1",
    url: "https://ca/x",
  });
  assert.deepEqual(json(jws.payload), { a: 1 });
  const signature = b64urlDecode(jws.signature);
  assert.deepEqual(signature.length, 64);
  assert.ok(
    await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      keys.publicKey,
      signature,
      new TextEncoder().encode(`${jws.protected}.${jws.payload}`),
    ),
  );
  const jwk = await publicJwk(keys.publicKey);
  const get = await signJws(keys.privateKey, { jwk, nonce: "n2", url: "https://ca/y" }, undefined);
  assert.deepEqual(get.payload, "");
  assert.deepEqual(json(get.protected).jwk, jwk);
});

Deno.test("externalAccountBinding() is HS256 over the account JWK with the EAB kid and the newAccount URL", async () => {
  const keys = await p256();
  const jwk = await publicJwk(keys.publicKey);
  const hmacKey = b64url(new Uint8Array(32).fill(7));
  const eab = await externalAccountBinding(
    { kid: "kid-1", hmacKey },
    jwk,
    "https://ca/new-acct",
  );
  assert.deepEqual(json(eab.protected), { alg: "HS256", kid: "kid-1", url: "https://ca/new-acct" });
  assert.deepEqual(json(eab.payload), jwk);
  const key = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(32).fill(7),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  assert.ok(
    await crypto.subtle.verify(
      "HMAC",
      key,
      b64urlDecode(eab.signature),
      new TextEncoder().encode(`${eab.protected}.${eab.payload}`),
    ),
  );
  await assert.rejects(
    () => externalAccountBinding({ kid: "k", hmacKey: "not base64!" }, jwk, "u"),
    SyntaxError,
  );
});
