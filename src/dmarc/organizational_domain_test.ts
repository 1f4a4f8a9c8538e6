import assert from "node:assert/strict";
import { asciiDomain, organizationalDomain, registrableDomain } from "./organizational_domain.ts";

Deno.test("organizationalDomain() is the public suffix plus one label (RFC 7489 §3.2)", () => {
  const cases: [string, string][] = [
    ["a.b.c.d.example.com", "example.com"], // the §3.2 example
    ["example.com", "example.com"],
    ["Mail.Example.COM.", "example.com"],
    ["mail.example.co.uk", "example.co.uk"],
    ["co.uk", "co.uk"], // a public suffix has no parent: itself
    ["com", "com"],
    ["foo.bar.github.io", "bar.github.io"], // PRIVATE section rules count
    ["a.b.example.uk.com", "example.uk.com"],
    ["www.city.kobe.jp", "city.kobe.jp"], // wildcard exception
    ["a.b.c.kobe.jp", "b.c.kobe.jp"], // wildcard
    ["x.example.invalidtld", "example.invalidtld"], // implicit "*" rule
    ["_dmarc.mail.example.com", "example.com"],
    ["www.食狮.中国", "食狮.中国"],
    ["www.xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s"],
  ];
  for (const [domain, org] of cases) assert.equal(organizationalDomain(domain), org, domain);
});

Deno.test("registrableDomain() is null for suffixes, IPs and invalid names", () => {
  for (const domain of ["co.uk", "com", "c.mm", "192.0.2.1", ".example.com", "a..b.com", ""]) {
    assert.equal(registrableDomain(domain), null, domain);
  }
});

Deno.test("asciiDomain() gives the lower-case A-label form or null", () => {
  assert.equal(asciiDomain("Bücher.Example."), "xn--bcher-kva.example");
  assert.equal(asciiDomain("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
  assert.equal(asciiDomain("a_b.example.com"), "a_b.example.com");
  for (const bad of ["", ".", "a b.com", "[192.0.2.1]", "a".repeat(64) + ".com"]) {
    assert.equal(asciiDomain(bad), null, bad);
  }
  assert.equal(asciiDomain(("a".repeat(63) + ".").repeat(4) + "com"), null); // > 253 octets
});
