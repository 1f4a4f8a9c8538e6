import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { validateConfig } from "../config/config.ts";
import { ensureCertificateKey } from "../tls/cert_key.ts";
import { keySpkiSha256 } from "../tls/served_certificate.ts";
import { makeCertificate } from "../../tests/support/test_certificates.ts";
import { parseZone } from "../../tests/support/zone.ts";
import {
  caaIssuerDomain,
  caaRecord,
  clientRecords,
  formatZone,
  hostRecords,
  tlsaRecord,
} from "./records.ts";

function config(extra: Record<string, unknown> = {}) {
  return validateConfig(
    { hostname: "mail.example.test", domains: ["example.test", "example.org"], ...extra },
    "(test)",
    "/tmp",
  );
}

const ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/123456";
const LE = "https://acme-v02.api.letsencrypt.org/directory";

Deno.test("tlsaRecord() is 3 1 1 with the SHA-256 of the key's SubjectPublicKeyInfo", async () => {
  const c = await makeCertificate({ names: ["mail.example.test"], issuerCn: "CA" });
  // The association data computed independently: SHA-256 over the DER SPKI (RFC 6698 §2.1.3).
  const spki = new X509Certificate(c.certPem).publicKey.export({ type: "spki", format: "der" });
  const want = createHash("sha256").update(spki).digest("hex");
  const r = tlsaRecord("mail.example.test", await keySpkiSha256(c.keyPem));
  assert.equal(r.name, "_25._tcp.mail.example.test");
  assert.equal(r.type, "TLSA");
  assert.equal(r.value, `3 1 1 ${want}`);
  assert.match(r.explanation, /DNSSEC/);
  assert.match(r.explanation, /_465\._tcp and _993\._tcp is optional/);
  assert.equal(
    tlsaRecord("mail.example.test", want.toUpperCase(), 465).name,
    "_465._tcp.mail.example.test",
  );
  assert.equal(
    formatZone([r]).split("\n")[1],
    `_25._tcp.mail.example.test. 3600 IN TLSA 3 1 1 ${want}`,
  );
});

Deno.test("caaRecord() names the CA, the account and the validation method (RFC 8659, RFC 8657)", () => {
  assert.equal(caaIssuerDomain(LE), "letsencrypt.org");
  assert.equal(
    caaIssuerDomain("https://acme-staging-v02.api.letsencrypt.org/directory"),
    "letsencrypt.org",
  );
  assert.equal(caaIssuerDomain("https://ca.example.test/dir"), undefined);
  assert.equal(caaIssuerDomain("not a url"), undefined);
  const full = caaRecord("mail.example.test", {
    issuer: "letsencrypt.org",
    challenge: "http-01",
    accountUrl: ACCOUNT,
  });
  assert.equal(full.type, "CAA");
  assert.equal(
    full.value,
    `0 issue "letsencrypt.org; accounturi=${ACCOUNT}; validationmethods=http-01"`,
  );
  const early = caaRecord("mail.example.test", {
    issuer: "letsencrypt.org",
    challenge: "tls-alpn-01",
  });
  assert.equal(early.value, '0 issue "letsencrypt.org; validationmethods=tls-alpn-01"');
  assert.equal(
    formatZone([early]).split("\n")[1],
    'mail.example.test. 3600 IN CAA 0 issue "letsencrypt.org; validationmethods=tls-alpn-01"',
  );
});

Deno.test("hostRecords() puts TLSA and CAA on the hostname only, accounturi once the account exists", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-records-" });
  try {
    const { path } = await ensureCertificateKey(dir);
    const spkiSha256 = await keySpkiSha256(await Deno.readTextFile(path));
    const acme = config({ acme: { enabled: true } });
    const pinned = { spkiSha256, source: "acme" as const };
    const before = hostRecords(acme, { pinned });
    assert.deepEqual(before.records.map((r) => `${r.name} ${r.type} ${r.value}`), [
      `_25._tcp.mail.example.test TLSA 3 1 1 ${spkiSha256}`,
      'mail.example.test CAA 0 issue "letsencrypt.org; validationmethods=http-01"',
    ]);
    assert.ok(before.notes.some((n) => /accounturi= .* comes after the first certificate/.test(n)));
    const after = hostRecords(acme, { pinned, account: { directory: LE, url: ACCOUNT } });
    assert.equal(
      after.records[1]!.value,
      `0 issue "letsencrypt.org; accounturi=${ACCOUNT}; validationmethods=http-01"`,
    );
    assert.deepEqual(after.notes, []);
    // Never on the bare domains.
    assert.ok(after.records.every((r) => r.name.endsWith("mail.example.test")));
    // An account of another directory is not this CA's account.
    const other = hostRecords(acme, {
      pinned,
      account: { directory: "https://acme-staging-v02.api.letsencrypt.org/directory", url: "x" },
    });
    assert.doesNotMatch(other.records[1]!.value, /accounturi/);
    // Unknown CA: no CAA, a note instead.
    const unknown = hostRecords(
      config({ acme: { enabled: true, directory: "https://127.0.0.1:14000/dir" } }),
      { pinned },
    );
    assert.deepEqual(unknown.records.map((r) => r.type), ["TLSA"]);
    assert.ok(unknown.notes.some((n) => /does not know the issuer domain/.test(n)));
    // rotate_key: no TLSA.
    const rotating = hostRecords(config({ acme: { enabled: true, rotate_key: true } }), { pinned });
    assert.deepEqual(rotating.records.map((r) => r.type), ["CAA"]);
    // No acme: no CAA; no key yet: no TLSA.
    assert.deepEqual(hostRecords(config(), {}).records, []);
    assert.match(hostRecords(config(), {}).notes[0]!, /TLSA: comes after the first start/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clientRecords() gives RFC 6186 SRV records, TLS first, and autoconfig only with HTTP", () => {
  const plain = clientRecords(config(), "example.org");
  assert.deepEqual(plain.map((r) => `${r.name} ${r.type} ${r.value}`), [
    "_submissions._tcp.example.org SRV 0 1 465 mail.example.test.",
    "_imaps._tcp.example.org SRV 0 1 993 mail.example.test.",
    "_submission._tcp.example.org SRV 10 1 587 mail.example.test.",
    "_imap._tcp.example.org SRV 10 1 143 mail.example.test.",
  ]);
  // A listener that is off is published as "not available"; ports follow the config.
  const some = clientRecords(
    config({ listen: { imap: [], submissions: ["0.0.0.0:4650"], https: ["0.0.0.0:443"] } }),
    "example.test",
  );
  const byName = new Map(some.map((r) => [r.name, r]));
  assert.equal(byName.get("_imap._tcp.example.test")?.value, "0 0 0 .");
  assert.equal(byName.get("_submissions._tcp.example.test")?.value, "0 1 4650 mail.example.test.");
  assert.equal(byName.get("autoconfig.example.test")?.type, "CNAME");
  assert.equal(byName.get("autoconfig.example.test")?.value, "mail.example.test.");
  assert.equal(byName.get("autodiscover.example.test")?.value, "mail.example.test.");
  // http-01 opens port 80: autoconfig is served; autodiscover needs HTTPS, and says so.
  const acme = clientRecords(config({ acme: { enabled: true } }), "example.test");
  assert.match(acme.find((r) => r.name.startsWith("autodiscover."))!.explanation, /not yet/);
  // The zone text reads back as records.
  const zone = parseZone(formatZone(acme));
  assert.ok(zone.some((r) => r.name === "autoconfig.example.test" && r.type === "CNAME"));
});
