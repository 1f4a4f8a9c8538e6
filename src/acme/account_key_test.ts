import assert from "node:assert/strict";
import { join } from "node:path";
import { importAccountKey, loadOrCreateAccountKey } from "./account_key.ts";
import { publicJwk } from "./jws.ts";

Deno.test("loadOrCreateAccountKey() creates a 0600 private JWK once and loads the same key again", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "acme", "account.json");
    const first = await loadOrCreateAccountKey(path);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const stored = JSON.parse(await Deno.readTextFile(path));
    assert.deepEqual(Object.keys(stored).sort(), ["crv", "d", "kty", "x", "y"]);
    const again = await loadOrCreateAccountKey(path);
    assert.deepEqual(await publicJwk(again.publicKey), await publicJwk(first.publicKey));
    // The loaded private key signs what the public key verifies.
    const data = new TextEncoder().encode("x");
    const sig = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      again.privateKey,
      data,
    );
    assert.ok(
      await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, first.publicKey, sig, data),
    );
    await assert.rejects(() => Deno.stat(`${path}.tmp`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadOrCreateAccountKey() refuses a file that is not a key and leaves it alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "account.json");
    await Deno.writeTextFile(path, "{broken");
    await assert.rejects(
      () => loadOrCreateAccountKey(path),
      /account\.json: not an ACME account key/,
    );
    assert.equal(await Deno.readTextFile(path), "{broken");
    await Deno.writeTextFile(path, JSON.stringify({ kty: "EC", crv: "P-256", x: "a", y: "b" }));
    await assert.rejects(() => loadOrCreateAccountKey(path), /not a private ECDSA P-256 JWK/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("importAccountKey() refuses a key of another curve", async () => {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
  ]) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", keys.privateKey);
  await assert.rejects(() => importAccountKey(jwk), TypeError);
});
