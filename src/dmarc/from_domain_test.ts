import assert from "node:assert/strict";
import { authorDomain, fromDomainOf } from "./from_domain.ts";

Deno.test("fromDomainOf() finds the domain of one address in RFC 5322 forms", () => {
  const cases: [string, string][] = [
    ["john@example.com", "example.com"],
    ["<john@example.com>", "example.com"],
    ["John Doe <john@Example.COM>", "example.com"],
    [`"Doe, John" <john@example.com>`, "example.com"],
    [`"bank.example@x" <john@example.com>`, "example.com"],
    [`"john@evil" @example.com`, "example.com"],
    ["john@example.com (John Doe)", "example.com"],
    ["(comment (nested)) John <john@example.com> (trailing)", "example.com"],
    ["John\r\n <john@example.com>", "example.com"],
    [`"quoted local"@example.com`, "example.com"],
    ["john @ example . com", "example.com"],
    ["<@relay.example.net,@relay2.example.org:john@example.com>", "example.com"],
    ["Team: a@example.com, b@EXAMPLE.com;", "example.com"],
    ["a@example.com, b@example.com", "example.com"],
    ["a@example.com,, b@example.com", "example.com"],
    ["=?utf-8?q?J=C3=B6rg?= <joerg@example.com>", "example.com"],
    ["Jörg <jörg@bücher.example>", "xn--bcher-kva.example"],
  ];
  for (const [value, domain] of cases) assert.equal(fromDomainOf(value), domain, value);
});

Deno.test("fromDomainOf() returns null when there is not exactly one Author Domain", () => {
  const cases = [
    "",
    "a@example.com, b@example.net",
    "Team: a@example.com;, b@example.net",
    "undisclosed-recipients:;",
    "john",
    "<>",
    "john@[192.0.2.1]",
    "john@",
    "@example.com",
    "a@b@example.com",
    "bank.example@x <john@example.com>",
    "<john@example.com> trailing",
    "<john@example.com",
    "john@example.com>",
    `"unterminated <john@example.com>`,
    "(unterminated john@example.com",
    "john@exa mple.com",
    "john@.example.com",
    "john@example..com",
    "Group: a@example.com",
    "a@example.com;",
    "x@example.com.", // dot-atom has no trailing dot (RFC 5322 §3.2.3)
  ];
  for (const value of cases) assert.equal(fromDomainOf(value), null, value);
});

Deno.test("authorDomain() gives a reason when it finds no domain", () => {
  assert.deepEqual(authorDomain([]), {
    domain: null,
    reason: "no From field (RFC 5322 §3.6 requires one)",
  });
  assert.deepEqual(authorDomain(["a@example.com", "b@example.com"]), {
    domain: null,
    reason: "2 From fields (RFC 5322 §3.6 allows one)",
  });
  assert.deepEqual(authorDomain(["a@example.com, b@example.net"]), {
    domain: null,
    reason: "From field has addresses in 2 domains: example.com, example.net",
  });
  assert.deepEqual(authorDomain(["x@[192.0.2.1]"]), {
    domain: null,
    reason: "From address has a domain literal, not a domain name",
  });
  assert.deepEqual(authorDomain(["Friends:;"]), {
    domain: null,
    reason: "no address in the From field",
  });
});
