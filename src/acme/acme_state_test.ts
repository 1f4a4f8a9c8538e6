import assert from "node:assert/strict";
import { withTempDir } from "../../tests/support/test_certificates.ts";
import { createPrivateKey } from "node:crypto";
import { acmePaths, readAcmeAccount, readAcmeState } from "./acme_state.ts";
import { ensureCertificateKey } from "../tls/cert_key.ts";

Deno.test("ensureCertificateKey() makes a P-256 PKCS#8 key once, mode 0600, and keeps it", async () => {
  await withTempDir(async (dir) => {
    const first = await ensureCertificateKey(dir);
    assert.equal(first.created, true);
    assert.equal(first.path, acmePaths(dir).certKey);
    const pem = await Deno.readTextFile(first.path);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(pem);
    assert.equal(key.asymmetricKeyType, "ec");
    assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.equal((await Deno.stat(first.path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(acmePaths(dir).dir)).mode! & 0o777, 0o700);
    const mtime = (await Deno.stat(first.path)).mtime;
    const second = await ensureCertificateKey(dir);
    assert.equal(second.created, false);
    assert.equal(await Deno.readTextFile(first.path), pem);
    assert.deepEqual((await Deno.stat(first.path)).mtime, mtime);
    // No temporary file is left behind.
    const names = [];
    for await (const e of Deno.readDir(acmePaths(dir).dir)) names.push(e.name);
    assert.deepEqual(names, ["cert-key.pem"]);
  });
});

Deno.test("readAcmeAccount() and readAcmeState() read the files, or undefined without them", async () => {
  await withTempDir(async (dir) => {
    assert.equal(await readAcmeAccount(dir), undefined);
    assert.equal(await readAcmeState(dir), undefined);
    const f = acmePaths(dir);
    await Deno.mkdir(f.dir);
    await Deno.writeTextFile(
      f.account,
      JSON.stringify({ directory: "https://ca.test/dir", url: "https://ca.test/acct/1", key: {} }),
    );
    assert.deepEqual(await readAcmeAccount(dir), {
      directory: "https://ca.test/dir",
      url: "https://ca.test/acct/1",
    });
    await Deno.writeTextFile(f.account, JSON.stringify({ directory: "https://ca.test/dir" }));
    await assert.rejects(readAcmeAccount(dir), /must have the strings "directory" and "url"/);
    await Deno.writeTextFile(
      f.state,
      JSON.stringify({
        names: ["mail.example.test", 3],
        failures: 2,
        lastError: { at: "2026-01-02T03:04:05.000Z", type: "urn:x", detail: "no", status: 403 },
        nextAttempt: "2026-01-02T04:04:05.000Z",
        lastSuccess: 7,
      }),
    );
    assert.deepEqual(await readAcmeState(dir), {
      names: ["mail.example.test"],
      failures: 2,
      lastError: { at: "2026-01-02T03:04:05.000Z", type: "urn:x", detail: "no", status: 403 },
      nextAttempt: "2026-01-02T04:04:05.000Z",
    });
    await Deno.writeTextFile(f.state, "{");
    await assert.rejects(readAcmeState(dir), SyntaxError);
  });
});
