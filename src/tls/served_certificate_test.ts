import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { join } from "node:path";
import {
  certificateTestConfig,
  makeCertificate,
  withTempDir,
} from "../../tests/support/test_certificates.ts";
import { acmePaths } from "../acme/acme_state.ts";
import { ensureCertificateKey } from "./cert_key.ts";
import { generateSelfSigned } from "./certificate.ts";
import {
  describeCertificate,
  describeServedCertificate,
  keySpkiSha256,
  pinnedKey,
  selfSignedFiles,
  servedCertificateFiles,
} from "./served_certificate.ts";

const config = certificateTestConfig;

const ACME = { acme: { enabled: true, email: "a@example.test" } };

/** SHA-256 of the certificate's SPKI, computed by node:crypto instead of @peculiar/x509. */
function nodeSpkiSha256(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("hex");
}

Deno.test("describeCertificate() reads names, issuer, validity and the SPKI digest", async () => {
  const c = await makeCertificate({
    names: ["mail.example.test", "autoconfig.example.test"],
    issuerCn: "Test CA R1",
    notAfterDays: 30,
  });
  const d = await describeCertificate(c.certPem + c.certPem, {
    source: "acme",
    certFile: "/x/cert.pem",
  });
  assert.deepEqual(d.names, ["mail.example.test", "autoconfig.example.test"]);
  assert.equal(d.subject, "CN=mail.example.test");
  assert.equal(d.issuer, "CN=Test CA R1");
  assert.equal(d.spkiSha256, nodeSpkiSha256(c.certPem));
  assert.equal(d.spkiSha256, await keySpkiSha256(c.keyPem));
  assert.ok(Math.abs(d.notAfter.getTime() - (Date.now() + 30 * 86400_000)) < 5000);
  await assert.rejects(
    describeCertificate("not a certificate", { source: "acme", certFile: "/x/cert.pem" }),
    /"\/x\/cert\.pem" holds no PEM certificate/,
  );
});

Deno.test("servedCertificateFiles() prefers tls files, then a valid ACME certificate, then self-signed", async () => {
  await withTempDir(async (dir) => {
    const files = acmePaths(dir);
    // tls.cert_file wins.
    const tlsConfig = config(dir, { tls: { cert_file: "c.pem", key_file: "k.pem" } });
    assert.deepEqual(await servedCertificateFiles(tlsConfig), {
      source: "tls_files",
      certFile: join(dir, "c.pem"),
      keyFile: join(dir, "k.pem"),
    });
    // acme enabled, nothing ordered yet: self-signed.
    const acme = config(dir, ACME);
    assert.equal((await servedCertificateFiles(acme)).source, "self_signed");
    assert.equal(await describeServedCertificate(acme), undefined, "not generated yet");
    // A certificate without its key is not served.
    const { path: keyPath } = await ensureCertificateKey(dir);
    const keyPem = await Deno.readTextFile(keyPath);
    const valid = await makeCertificate({ names: ["mail.example.test"], issuerCn: "CA", keyPem });
    await Deno.remove(keyPath);
    await Deno.writeTextFile(files.cert, valid.certPem);
    assert.equal((await servedCertificateFiles(acme)).source, "self_signed");
    await Deno.writeTextFile(keyPath, keyPem);
    assert.deepEqual(await servedCertificateFiles(acme), {
      source: "acme",
      certFile: files.cert,
      keyFile: files.certKey,
    });
    const d = await describeServedCertificate(acme);
    assert.equal(d?.source, "acme");
    assert.equal(d?.issuer, "CN=CA");
    // The same files with acme disabled: self-signed.
    assert.equal((await servedCertificateFiles(config(dir))).source, "self_signed");
    // Expired: self-signed again.
    const expired = await makeCertificate({
      names: ["mail.example.test"],
      notBeforeDays: -100,
      notAfterDays: -10,
      keyPem,
    });
    await Deno.writeTextFile(files.cert, expired.certPem);
    assert.equal((await servedCertificateFiles(acme)).source, "self_signed");
    // A valid one judged at a later time: expired then.
    await Deno.writeTextFile(files.cert, valid.certPem);
    const later = new Date(Date.now() + 200 * 86400_000);
    assert.equal((await servedCertificateFiles(acme, { now: later })).source, "self_signed");
    // A damaged file is not served.
    await Deno.writeTextFile(
      files.cert,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    assert.equal((await servedCertificateFiles(acme)).source, "self_signed");
  });
});

Deno.test("pinnedKey() is cert-key.pem with acme, else the served certificate's key", async () => {
  await withTempDir(async (dir) => {
    const acme = config(dir, ACME);
    assert.equal(await pinnedKey(acme), undefined);
    const { path } = await ensureCertificateKey(dir);
    const pinned = await pinnedKey(acme);
    assert.equal(pinned?.file, path);
    assert.equal(pinned?.spkiSha256, await keySpkiSha256(await Deno.readTextFile(path)));
    // Without acme: the self-signed certificate, once it exists.
    const plain = config(dir);
    assert.equal(await pinnedKey(plain), undefined);
    const m = await generateSelfSigned("mail.example.test");
    const ss = selfSignedFiles(dir);
    await Deno.mkdir(join(dir, "tls"));
    await Deno.writeTextFile(ss.certFile, m.certPem);
    await Deno.writeTextFile(ss.keyFile, m.keyPem);
    const p = await pinnedKey(plain);
    assert.equal(p?.source, "self_signed");
    assert.equal(p?.spkiSha256, nodeSpkiSha256(m.certPem));
  });
});
