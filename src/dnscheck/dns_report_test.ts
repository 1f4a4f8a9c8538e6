import assert from "node:assert/strict";
import { validateConfig } from "../config/config.ts";
import { acmePaths } from "../acme/acme_state.ts";
import { ensureCertificateKey } from "../tls/cert_key.ts";
import { keySpkiSha256 } from "../tls/served_certificate.ts";
import { parseZone } from "../../tests/support/zone.ts";
import { dnsReport } from "./dns_report.ts";

Deno.test("dnsReport() gives each domain its records and the hostname's TLSA and CAA once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-dns-report-" });
  try {
    const config = validateConfig(
      {
        hostname: "mail.example.test",
        domains: ["example.test", "example.org"],
        data_dir: dir,
        acme: { enabled: true },
      },
      "(test)",
      dir,
    );
    const { path } = await ensureCertificateKey(dir);
    const spki = await keySpkiSha256(await Deno.readTextFile(path));
    let text = await dnsReport(config, config.domains);
    const zone = parseZone(text);
    const at = (type: string) => zone.filter((r) => r.type === type).map((r) => r.name);
    assert.deepEqual(at("TLSA"), ["_25._tcp.mail.example.test"]);
    assert.deepEqual(at("CAA"), ["mail.example.test"]);
    assert.deepEqual(at("MX"), ["example.test", "example.org"]);
    assert.equal(at("SRV").length, 8);
    assert.deepEqual(at("CNAME"), [
      "autoconfig.example.test",
      "autodiscover.example.test",
      "autoconfig.example.org",
      "autodiscover.example.org",
    ]);
    assert.match(text, new RegExp(`IN TLSA 3 1 1 ${spki}$`, "m"));
    assert.match(text, /^; CAA: accounturi= .*comes after the first certificate/m);
    // Once the account exists, the CAA record names it.
    await Deno.writeTextFile(
      acmePaths(dir).account,
      JSON.stringify({ directory: config.acme!.directory, url: "https://acme.test/acct/9" }),
    );
    text = await dnsReport(config, ["example.org"]);
    assert.match(
      text,
      /^mail\.example\.test\. 3600 IN CAA 0 issue "letsencrypt\.org; accounturi=https:\/\/acme\.test\/acct\/9; validationmethods=http-01"$/m,
    );
    assert.doesNotMatch(text, /^example\.test\./m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
