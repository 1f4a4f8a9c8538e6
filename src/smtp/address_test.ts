import assert from "node:assert/strict";
import { assertSyntaxError, domainOf, mbox } from "./_testing.ts";
import { AddressSyntaxError, canonicalDomain, type Mailbox, parseMailbox } from "./address.ts";

Deno.test("parseMailbox()", async (t) => {
  const valid: [string, string, Mailbox][] = [
    ["accepts a plain mailbox", "alice@example.test", mbox("alice", "example.test")],
    [
      "accepts a quoted local part",
      '"a b"@example.test',
      mbox("a b", "example.test", { quoted: true }),
    ],
    [
      "accepts a quoted-pair of a space",
      '"a\\ b"@example.test',
      mbox("a b", "example.test", { quoted: true }),
    ],
    [
      "treats a quoted Dot-string as unquoted",
      '"alice"@EXAMPLE.test.',
      mbox("alice", "example.test"),
    ],
    [
      "treats a quoted non-ASCII Dot-string as unquoted",
      '"😀"@example.test',
      mbox("😀", "example.test", { utf8: true }),
    ],
    [
      "accepts an IPv4 literal",
      "a@[198.51.100.7]",
      mbox("a", "[198.51.100.7]", { literal: "198.51.100.7" }),
    ],
    [
      "accepts an IPv6 literal",
      "a@[IPV6:2001:DB8:0:0:0:0:0:1]",
      mbox("a", "[ipv6:2001:db8:0:0:0:0:0:1]", { literal: "2001:db8:0:0:0:0:0:1" }),
    ],
    [
      "converts an IDN to A-labels",
      "a@Bücher.Example",
      mbox("a", "xn--bcher-kva.example", { utf8: true }),
    ],
  ];
  for (const [name, text, want] of valid) {
    await t.step(`parseMailbox() ${name}`, () => {
      assert.deepEqual(parseMailbox(text), want);
    });
  }
  const invalid: [string, string, RegExp][] = [
    ["rejects a mailbox without @", "postmaster", /no domain/],
    ["rejects a second unquoted @", "a@b@example.test", /invalid domain label "b@example"/],
    ["rejects a backslash outside quotes", "a\\@example.test", /invalid local part/],
    ["rejects an unterminated quote", '"alice@example.test', /unterminated quoted local part/],
    ["rejects a quote in the middle of a Dot-string", 'a"b"@example.test', /invalid local part/],
    ["rejects text between the closing quote and @", '"a"b@example.test', /no domain/],
    ["rejects a quoted-pair of a control character", '"a\\\x07"@example.test', /quoted-pair/],
    ["rejects a backslash ending the input", '"a\\', /quoted-pair/],
    ["rejects a tab inside quotes", '"a\tb"@example.test', /invalid character/],
    ["rejects a closing quote escaped by a backslash", '"a\\"@example.test', /unterminated/],
    ["rejects a general-address-literal", "a@[IPv7:foo]", /invalid address literal/],
    ["rejects an empty address literal", "a@[]", /invalid address literal/],
    ["rejects a 65-octet local part", `${"x".repeat(65)}@example.test`, /longer than 64/],
  ];
  for (const [name, text, why] of invalid) {
    await t.step(`parseMailbox() ${name}`, () => {
      assertSyntaxError(() => parseMailbox(text), why);
    });
  }
});

Deno.test("canonicalDomain()", async (t) => {
  const valid: [string, string, string][] = [
    ["keeps a canonical name", "example.test", "example.test"],
    ["lower-cases", "MX.Example.TEST", "mx.example.test"],
    ["removes one trailing dot", "example.test.", "example.test"],
    ["accepts a single label", "localhost", "localhost"],
    ["accepts digits and inner hyphens", "a-1.0-9.example", "a-1.0-9.example"],
    ["converts a U-label to an A-label", "bücher.example", "xn--bcher-kva.example"],
    ["converts and lower-cases a U-label", "BÜCHER.Example.", "xn--bcher-kva.example"],
    ["keeps an A-label", "xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["accepts a 63-octet label", `${"a".repeat(63)}.test`, `${"a".repeat(63)}.test`],
    ["accepts a 255-octet name", domainOf(63, 63, 63, 63), domainOf(63, 63, 63, 63)],
  ];
  for (const [name, input, want] of valid) {
    await t.step(`canonicalDomain() ${name}`, () => {
      assert.equal(canonicalDomain(input), want);
    });
  }
  const invalid: [string, string, RegExp][] = [
    ["rejects an empty name", "", /empty domain/],
    ["rejects a lone dot", ".", /empty domain/],
    ["rejects an empty label", "a..b", /invalid domain label ""/],
    ["rejects two trailing dots", "example.test..", /invalid domain label ""/],
    ["rejects a label with a leading hyphen", "-a.test", /invalid domain label "-a"/],
    ["rejects a label with a trailing hyphen", "a-.test", /invalid domain label "a-"/],
    ["rejects a space", "a b.test", /invalid domain label/],
    ["rejects an @", "a@b.test", /invalid domain label/],
    ["rejects an address literal", "[192.0.2.1]", /invalid domain label/],
    ["rejects a 64-octet label", `${"a".repeat(64)}.test`, /label longer than 63/],
    ["rejects a 256-octet name", domainOf(1, 63, 63, 63, 62), /longer than 255/],
    ["rejects a U-label whose A-label is over 63 octets", `${"ü".repeat(60)}.test`, /63/],
  ];
  for (const [name, input, why] of invalid) {
    await t.step(`canonicalDomain() ${name}`, () => {
      assertSyntaxError(() => canonicalDomain(input), why);
    });
  }
});

// The RFC 5321 Domain grammar in canonical (lower-case ASCII) form: what canonicalDomain()
// promises to return.
const CANONICAL_DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

Deno.test({
  name: "canonicalDomain() output always matches the canonical Domain grammar after IDNA mapping",
  fn() {
    for (const input of ["example.test\u3002", "a\u3002\u3002b.example", "\u00ad-a.example"]) {
      let out: string;
      try {
        out = canonicalDomain(input);
      } catch (e) {
        assert.ok(e instanceof AddressSyntaxError);
        continue;
      }
      assert.match(out, CANONICAL_DOMAIN, `canonicalDomain(${JSON.stringify(input)})`);
    }
  },
});

Deno.test({
  name: "parseMailbox() rejects an IPv6 literal with a zone index",
  fn() {
    assertSyntaxError(() => parseMailbox("a@[IPv6:fe80::1%eth0]"), /invalid address literal/);
  },
});
