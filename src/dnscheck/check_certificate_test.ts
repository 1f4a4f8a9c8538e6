import assert from "node:assert/strict";
import { join } from "node:path";
import { acmePaths } from "../acme/acme_state.ts";
import { ensureCertificateKey } from "../tls/cert_key.ts";
import { generateSelfSigned } from "../tls/certificate.ts";
import { selfSignedFiles } from "../tls/served_certificate.ts";
import {
  certificateTestConfig,
  makeCertificate,
  withTempDir,
} from "../../tests/support/test_certificates.ts";
import { checkCertificate, nameMatches } from "./check_certificate.ts";
import { formatCheck, isProblem } from "./check.ts";

const config = certificateTestConfig;

const ACME = { acme: { enabled: true } };

function summary(items: { what: string; status: string }[]): string[] {
  return items.map((i) => `${i.status} ${i.what}`);
}

/** Store an ACME certificate for `names`, valid `days` more days, made on cert-key.pem. */
async function acmeCertificate(dir: string, names: string[], days: number): Promise<void> {
  const { path } = await ensureCertificateKey(dir);
  const c = await makeCertificate({
    names,
    issuerCn: "Test Intermediate R1",
    notBeforeDays: days - 90,
    notAfterDays: days,
    keyPem: await Deno.readTextFile(path),
  });
  await Deno.writeTextFile(acmePaths(dir).cert, c.certPem);
}

async function writeState(dir: string, state: unknown): Promise<void> {
  await Deno.mkdir(acmePaths(dir).dir, { recursive: true });
  await Deno.writeTextFile(acmePaths(dir).state, JSON.stringify(state));
}

Deno.test("nameMatches() takes exact names and one left-most wildcard label", () => {
  assert.ok(nameMatches("MAIL.example.test", "mail.example.test"));
  assert.ok(nameMatches("*.example.test", "mail.example.test"));
  assert.ok(!nameMatches("*.example.test", "a.mail.example.test"));
  assert.ok(!nameMatches("*.example.test", "example.test"));
  assert.ok(!nameMatches("example.test", "mail.example.test"));
});

Deno.test("checkCertificate() reports a valid ACME certificate and the last success as OK", async () => {
  await withTempDir(async (dir) => {
    await acmeCertificate(dir, ["mail.example.test", "autoconfig.example.test"], 60);
    await writeState(dir, {
      names: ["mail.example.test"],
      failures: 0,
      lastSuccess: "2026-01-01T00:00:00.000Z",
      nextAttempt: "2026-02-10T00:00:00.000Z",
    });
    const items = await checkCertificate(config(dir, ACME));
    assert.deepEqual(summary(items), ["OK Certificate", "OK Certificate expiry", "OK ACME"]);
    assert.match(
      items[0]!.detail,
      /^ACME \(.*cert\.pem\), issuer CN=Test Intermediate R1, names mail\.example\.test, autoconfig\.example\.test$/,
    );
    assert.match(items[1]!.detail, /, (59|60) days left$/);
    assert.equal(
      items[2]!.detail,
      "last success 2026-01-01T00:00:00.000Z; next attempt 2026-02-10T00:00:00.000Z",
    );
    assert.ok(!items.some(isProblem));
  });
});

Deno.test("checkCertificate() warns under 14 days and fails once expired or for another name", async () => {
  await withTempDir(async (dir) => {
    const tls = config(dir, { tls: { cert_file: "c.pem", key_file: "k.pem" } });
    const store = async (names: string[], days: number) => {
      const c = await makeCertificate({ names, issuerCn: "CA", notAfterDays: days });
      await Deno.writeTextFile(join(dir, "c.pem"), c.certPem);
      await Deno.writeTextFile(join(dir, "k.pem"), c.keyPem);
    };
    await store(["mail.example.test"], 10);
    let items = await checkCertificate(tls);
    assert.deepEqual(summary(items), ["OK Certificate", "WARN Certificate expiry"]);
    assert.match(items[0]!.detail, /^tls\.cert_file/);
    assert.ok(!items.some(isProblem), "a warning is not a failure");
    await store(["*.example.test"], 30);
    assert.deepEqual(summary(await checkCertificate(tls)), [
      "OK Certificate",
      "OK Certificate expiry",
    ]);
    await store(["www.example.test"], 30);
    items = await checkCertificate(tls);
    assert.deepEqual(summary(items), ["WRONG Certificate", "OK Certificate expiry"]);
    assert.equal(items[0]!.expected, "a certificate for mail.example.test");
    assert.match(formatCheck(items), /should be: a certificate for mail\.example\.test/);
    // Judged in 40 days: expired.
    items = await checkCertificate(tls, { now: new Date(Date.now() + 40 * 86400_000) });
    assert.match(items[1]!.detail, /^expired on \d{4}-\d\d-\d\d \(\d+ days ago\)$/);
    assert.equal(items[1]!.status, "WRONG");
    // A configured file that is missing is an ERROR.
    await Deno.remove(join(dir, "c.pem"));
    items = await checkCertificate(tls);
    assert.deepEqual(summary(items), ["ERROR Certificate"]);
  });
});

Deno.test("checkCertificate() shows the last ACME error and the next attempt", async () => {
  await withTempDir(async (dir) => {
    const acme = config(dir, ACME);
    // Nothing yet: the self-signed one will be generated; no attempt yet.
    assert.deepEqual(summary(await checkCertificate(acme)), ["WARN Certificate", "WARN ACME"]);
    // The self-signed certificate served while the orders fail: the ACME error fails the check.
    const m = await generateSelfSigned("mail.example.test");
    await Deno.mkdir(join(dir, "tls"));
    await Deno.writeTextFile(selfSignedFiles(dir).certFile, m.certPem);
    await Deno.writeTextFile(selfSignedFiles(dir).keyFile, m.keyPem);
    await writeState(dir, {
      names: ["mail.example.test"],
      failures: 3,
      lastError: {
        at: "2026-03-01T10:00:00.000Z",
        type: "urn:ietf:params:acme:error:connection",
        detail: "Fetching http://mail.example.test/.well-known/acme-challenge/x: Timeout",
        status: 400,
      },
      nextAttempt: "2026-03-01T11:00:00.000Z",
    });
    let items = await checkCertificate(acme);
    assert.deepEqual(summary(items), [
      "WARN Certificate",
      "OK Certificate expiry",
      "WRONG ACME",
    ]);
    assert.match(items[0]!.detail, /^self-signed .* mail clients refuse a self-signed one$/);
    assert.equal(
      items[2]!.detail,
      "last error 2026-03-01T10:00:00.000Z: urn:ietf:params:acme:error:connection (HTTP 400): " +
        "Fetching http://mail.example.test/.well-known/acme-challenge/x: Timeout; " +
        "3 failure(s) in a row; next attempt 2026-03-01T11:00:00.000Z",
    );
    // An expired ACME certificate on disk is named as the reason for the self-signed one.
    await acmeCertificate(dir, ["mail.example.test"], -1);
    items = await checkCertificate(acme);
    assert.match(items[0]!.detail, /cert\.pem expired on \d{4}-\d\d-\d\d/);
    // With a valid ACME certificate, a failing renewal is a warning.
    await acmeCertificate(dir, ["mail.example.test"], 20);
    items = await checkCertificate(acme);
    assert.deepEqual(summary(items), ["OK Certificate", "OK Certificate expiry", "WARN ACME"]);
    // An error older than the last success is history.
    await writeState(dir, {
      names: [],
      failures: 0,
      lastError: { at: "2026-03-01T10:00:00.000Z", type: "x", detail: "y" },
      lastSuccess: "2026-03-02T10:00:00.000Z",
    });
    assert.equal((await checkCertificate(acme))[2]!.status, "OK");
    await Deno.writeTextFile(acmePaths(dir).state, "{not json");
    assert.equal((await checkCertificate(acme))[2]!.status, "ERROR");
  });
});
