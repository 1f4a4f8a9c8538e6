/**
 * `postie check` as a process: the certificate section after the DNS sections, a warning that
 * does not fail the check, a certificate for another name that does.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TestDnsServer } from "../support/dns_server.ts";
import { parseZone } from "../support/zone.ts";
import { runPostie as postie } from "../support/postie_process.ts";
import { makeCertificate } from "../support/test_certificates.ts";

Deno.test("postie check reports the served certificate; only a real problem fails it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-check-cert-e2e-" });
  const dns = await TestDnsServer.start();
  try {
    const configPath = join(dir, "postie.yaml");
    await Deno.writeTextFile(
      configPath,
      `hostname: mx.example.test
data_dir: data
domains: [example.test]
tls:
  cert_file: cert.pem
  key_file: key.pem
outbound:
  source_ipv4: 127.0.0.1
dns:
  nameservers: ["${dns.address}"]
check:
  dnsbl: [dnsbl.test]
`,
    );
    const store = async (names: string[], days: number) => {
      const c = await makeCertificate({ names, issuerCn: "Test CA", notAfterDays: days });
      await Deno.writeTextFile(join(dir, "cert.pem"), c.certPem);
      await Deno.writeTextFile(join(dir, "key.pem"), c.keyPem);
    };
    await store(["mx.example.test"], 10);
    const c = ["--config", configPath];
    const zone = await postie(["dns", ...c]);
    assert.equal(zone.code, 0, zone.stderr);
    // The TLSA record is the key of tls.cert_file.
    assert.match(zone.stdout, /^_25\._tcp\.mx\.example\.test\. 3600 IN TLSA 3 1 1 [0-9a-f]{64}$/m);
    dns.setRecords(parseZone(zone.stdout));

    const warn = await postie(["check", ...c]);
    assert.equal(warn.code, 0, warn.stdout + warn.stderr);
    assert.match(warn.stdout, /^certificate of mx\.example\.test:$/m);
    assert.match(warn.stdout, /^OK +Certificate +tls\.cert_file \(.*\), issuer CN=Test CA/m);
    assert.match(warn.stdout, /^WARN +Certificate expiry +valid until \S+, (9|10) days left$/m);

    await store(["www.example.test"], 60);
    const wrong = await postie(["check", ...c]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /^WRONG +Certificate /m);
    assert.match(wrong.stdout, /should be: a certificate for mx\.example\.test/);
    assert.match(wrong.stdout, /^1 problem\(s\) found$/m);
  } finally {
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
