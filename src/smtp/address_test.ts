import assert from "node:assert/strict";
import {
  AddressSyntaxError,
  canonicalDomain,
  type Mailbox,
  parseMailbox,
  parsePathArgument,
  type PathArgument,
} from "./address.ts";

/** A domain made of labels of the given lengths ("aaa.bbb..."), for length limits. */
function domainOf(...lengths: number[]): string {
  return lengths.map((n, i) => String.fromCharCode(0x61 + (i % 26)).repeat(n)).join(".");
}

function mbox(local: string, domain: string, extra: Partial<Mailbox> = {}): Mailbox {
  return { local, quoted: false, domain, utf8: false, ...extra };
}

/** Assert that `fn` throws an AddressSyntaxError whose message matches `why`. */
function assertSyntaxError(fn: () => unknown, why: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AddressSyntaxError, `expected AddressSyntaxError, got ${e}`);
    assert.match(e.message, why);
    return true;
  });
}

interface ValidPath {
  name: string;
  arg: string;
  reverse: boolean;
  mailbox: PathArgument["mailbox"];
  params?: [string, string | true][];
}

const LOCAL_64 = "l".repeat(64);
const DOMAIN_189 = domainOf(63, 63, 61);
const DOMAIN_190 = domainOf(63, 63, 62);

const VALID_PATHS: ValidPath[] = [
  {
    name: "accepts a plain mailbox in RCPT",
    arg: "<alice@example.test>",
    reverse: false,
    mailbox: mbox("alice", "example.test"),
  },
  {
    name: "accepts a plain mailbox in MAIL",
    arg: "<bob.smith+tag@example.org>",
    reverse: true,
    mailbox: mbox("bob.smith+tag", "example.org"),
  },
  {
    name: "accepts every atext character in a Dot-string",
    arg: "<!#$%&'*+-/=?^_`{|}~.0Az@example.test>",
    reverse: false,
    mailbox: mbox("!#$%&'*+-/=?^_`{|}~.0Az", "example.test"),
  },
  { name: "accepts the null path <> in MAIL", arg: "<>", reverse: true, mailbox: null },
  {
    name: "accepts the null path <> with parameters in MAIL",
    arg: "<> SIZE=100 BODY=8BITMIME",
    reverse: true,
    mailbox: null,
    params: [["SIZE", "100"], ["BODY", "8BITMIME"]],
  },
  {
    name: "accepts <Postmaster> in RCPT",
    arg: "<Postmaster>",
    reverse: false,
    mailbox: "postmaster",
  },
  {
    name: "accepts <POSTMASTER> in any case in RCPT",
    arg: "<pOsTmAsTeR>",
    reverse: false,
    mailbox: "postmaster",
  },
  {
    name: "accepts a quoted local part with a space",
    arg: '<"john doe"@example.test>',
    reverse: false,
    mailbox: mbox("john doe", "example.test", { quoted: true }),
  },
  {
    name: "accepts quoted-pairs and undoes them",
    arg: '<"a\\"b\\\\c\\d"@example.test>',
    reverse: false,
    mailbox: mbox('a"b\\cd', "example.test", { quoted: true }),
  },
  {
    name: "accepts a quoted local part containing > and @",
    arg: '<"a>b@c"@example.test>',
    reverse: false,
    mailbox: mbox("a>b@c", "example.test", { quoted: true }),
  },
  {
    name: "treats a quoted Dot-string as the unquoted mailbox (quoted=false)",
    arg: '<"john.doe"@example.test>',
    reverse: false,
    mailbox: mbox("john.doe", "example.test"),
  },
  {
    name: "accepts an empty quoted local part",
    arg: '<""@example.test>',
    reverse: false,
    mailbox: mbox("", "example.test", { quoted: true }),
  },
  {
    name: "drops a one-hop source route",
    arg: "<@relay.example:alice@example.test>",
    reverse: false,
    mailbox: mbox("alice", "example.test"),
  },
  {
    name: "drops a multi-hop source route",
    arg: "<@one.example,@TWO.example.:alice@example.test>",
    reverse: true,
    mailbox: mbox("alice", "example.test"),
  },
  {
    name: "accepts an IPv4 address literal",
    arg: "<a@[192.0.2.1]>",
    reverse: false,
    mailbox: mbox("a", "[192.0.2.1]", { literal: "192.0.2.1" }),
  },
  {
    name: "accepts an IPv6 address literal and lower-cases it",
    arg: "<a@[IPv6:2001:DB8::1]>",
    reverse: false,
    mailbox: mbox("a", "[ipv6:2001:db8::1]", { literal: "2001:db8::1" }),
  },
  {
    name: "accepts an IPv6 address literal with an embedded IPv4 address",
    arg: "<a@[ipv6:::ffff:192.0.2.1]>",
    reverse: false,
    mailbox: mbox("a", "[ipv6:::ffff:192.0.2.1]", { literal: "::ffff:192.0.2.1" }),
  },
  {
    name: "converts an IDN U-label to its A-label",
    arg: "<a@bücher.example>",
    reverse: false,
    mailbox: mbox("a", "xn--bcher-kva.example", { utf8: true }),
  },
  {
    name: "accepts a UTF-8 local part (RFC 6531)",
    arg: "<jürgen@example.test>",
    reverse: false,
    mailbox: mbox("jürgen", "example.test", { utf8: true }),
  },
  {
    name: "removes a trailing dot from the domain",
    arg: "<alice@example.test.>",
    reverse: false,
    mailbox: mbox("alice", "example.test"),
  },
  {
    name: "lower-cases an upper-case domain and keeps the local part's case",
    arg: "<Alice@EXAMPLE.Test>",
    reverse: false,
    mailbox: mbox("Alice", "example.test"),
  },
  {
    name: "parses ESMTP parameters and upper-cases their keywords only",
    arg: "<a@example.test> size=1000 Body=8bitmime smtputf8",
    reverse: true,
    mailbox: mbox("a", "example.test"),
    params: [["SIZE", "1000"], ["BODY", "8bitmime"], ["SMTPUTF8", true]],
  },
  {
    name: "accepts a UTF-8 ESMTP parameter value",
    arg: "<a@example.test> X-NOTE=grüße",
    reverse: true,
    mailbox: mbox("a", "example.test"),
    params: [["X-NOTE", "grüße"]],
  },
  {
    name: "tolerates spaces after the colon",
    arg: "   <alice@example.test>",
    reverse: false,
    mailbox: mbox("alice", "example.test"),
  },
  {
    name: "tolerates trailing spaces and repeated spaces between parameters",
    arg: "<a@example.test>  SIZE=1  ",
    reverse: true,
    mailbox: mbox("a", "example.test"),
    params: [["SIZE", "1"]],
  },
  {
    name: "accepts a 64-octet local part",
    arg: `<${LOCAL_64}@example.test>`,
    reverse: false,
    mailbox: mbox(LOCAL_64, "example.test"),
  },
  {
    name: "accepts a path of exactly 256 octets",
    arg: `<${LOCAL_64}@${DOMAIN_189}>`,
    reverse: false,
    mailbox: mbox(LOCAL_64, DOMAIN_189),
  },
];

interface InvalidPath {
  name: string;
  arg: string;
  reverse: boolean;
  why: RegExp;
}

const INVALID_PATHS: InvalidPath[] = [
  {
    name: "rejects a path without angle brackets",
    arg: "alice@example.test",
    reverse: false,
    why: /enclosed in <>/,
  },
  {
    name: "rejects a path without the closing bracket",
    arg: "<alice@example.test",
    reverse: false,
    why: /unterminated <address>/,
  },
  {
    name: "rejects a path with text before the bracket",
    arg: "Alice <alice@example.test>",
    reverse: false,
    why: /enclosed in <>/,
  },
  {
    name: "rejects a second unquoted @",
    arg: "<victim@relay.example@example.test>",
    reverse: false,
    why: /invalid domain label "example@example"/,
  },
  {
    name: "rejects a backslash outside quotes",
    arg: "<a\\b@example.test>",
    reverse: false,
    why: /invalid local part/,
  },
  {
    name: "rejects a backslash after a closing quote",
    arg: '<"a"\\@example.test>',
    reverse: false,
    why: /no domain/,
  },
  {
    name: "rejects an unterminated quoted local part",
    arg: '<"alice@example.test>',
    reverse: false,
    why: /unterminated/,
  },
  {
    name: "rejects a space in an unquoted local part",
    arg: "<a b@example.test>",
    reverse: false,
    why: /invalid local part/,
  },
  {
    name: "rejects a leading dot in the local part",
    arg: "<.a@x.test>",
    reverse: false,
    why: /invalid local part/,
  },
  {
    name: "rejects a trailing dot in the local part",
    arg: "<a.@x.test>",
    reverse: false,
    why: /invalid local part/,
  },
  {
    name: "rejects two dots in the local part",
    arg: "<a..b@x.test>",
    reverse: false,
    why: /invalid local part/,
  },
  {
    name: "rejects an empty domain label",
    arg: "<a@example..test>",
    reverse: false,
    why: /invalid domain label ""/,
  },
  {
    name: "rejects a domain with a leading dot",
    arg: "<a@.example.test>",
    reverse: false,
    why: /invalid domain label ""/,
  },
  {
    name: "rejects a domain with two trailing dots",
    arg: "<a@example.test..>",
    reverse: false,
    why: /invalid domain label ""/,
  },
  {
    name: "rejects a label with a leading hyphen",
    arg: "<a@-example.test>",
    reverse: false,
    why: /invalid domain label "-example"/,
  },
  {
    name: "rejects a label with a trailing hyphen",
    arg: "<a@example-.test>",
    reverse: false,
    why: /invalid domain label "example-"/,
  },
  {
    name: "rejects an underscore in a domain",
    arg: "<a@ex_ample.test>",
    reverse: false,
    why: /invalid domain label/,
  },
  { name: "rejects an empty domain", arg: "<a@>", reverse: false, why: /empty domain/ },
  {
    name: "rejects an IPv4 literal with an octet over 255",
    arg: "<a@[192.0.2.256]>",
    reverse: false,
    why: /invalid address literal/,
  },
  {
    name: "rejects an IPv4 literal with three octets",
    arg: "<a@[192.0.2]>",
    reverse: false,
    why: /invalid address literal/,
  },
  {
    name: "rejects an IPv6 literal without the IPv6: tag",
    arg: "<a@[2001:db8::1]>",
    reverse: false,
    why: /invalid address literal/,
  },
  {
    name: "rejects an IPv6 literal with a bad address",
    arg: "<a@[IPv6:2001:db8::g]>",
    reverse: false,
    why: /invalid address literal/,
  },
  {
    name: "rejects an IPv4 address under the IPv6: tag",
    arg: "<a@[IPv6:192.0.2.1]>",
    reverse: false,
    why: /invalid address literal/,
  },
  {
    name: "rejects an unterminated address literal",
    arg: "<a@[192.0.2.1>",
    reverse: false,
    why: /unterminated address literal/,
  },
  {
    name: "rejects a general-address-literal",
    arg: "<a@[x-tag:some-content]>",
    reverse: false,
    why: /invalid address literal/,
  },
  {
    name: "rejects a local part over 64 octets",
    arg: `<${"l".repeat(65)}@example.test>`,
    reverse: false,
    why: /local part longer than 64/,
  },
  {
    name: "rejects a local part over 64 octets counted in UTF-8",
    arg: `<${"ü".repeat(33)}@example.test>`,
    reverse: false,
    why: /local part longer than 64/,
  },
  {
    name: "rejects a quoted local part over 64 octets",
    arg: `<"${"l ".repeat(33)}"@example.test>`,
    reverse: false,
    why: /local part longer than 64/,
  },
  {
    name: "rejects a path over 256 octets",
    arg: `<${LOCAL_64}@${DOMAIN_190}>`,
    reverse: false,
    why: /path longer than 256/,
  },
  {
    name: "rejects garbage right after >",
    arg: "<alice@example.test>x",
    reverse: false,
    why: /garbage after/,
  },
  {
    name: "rejects a parameter glued to >",
    arg: "<alice@example.test>SIZE=1",
    reverse: true,
    why: /garbage after/,
  },
  {
    name: "rejects a tab before a parameter",
    arg: "<alice@example.test>\tSIZE=1",
    reverse: true,
    why: /garbage after/,
  },
  {
    name: "rejects a duplicate parameter (in any case)",
    arg: "<a@example.test> SIZE=1 size=2",
    reverse: true,
    why: /duplicate ESMTP parameter SIZE/,
  },
  {
    name: "rejects a parameter keyword starting with a hyphen",
    arg: "<a@example.test> -SIZE=1",
    reverse: true,
    why: /invalid ESMTP parameter/,
  },
  {
    name: "rejects a parameter keyword with an underscore",
    arg: "<a@example.test> X_Y=1",
    reverse: true,
    why: /invalid ESMTP parameter/,
  },
  {
    name: "rejects a parameter with an empty keyword",
    arg: "<a@example.test> =1",
    reverse: true,
    why: /invalid ESMTP parameter/,
  },
  {
    name: "rejects a parameter with an empty value",
    arg: "<a@example.test> SIZE=",
    reverse: true,
    why: /invalid value for ESMTP parameter SIZE/,
  },
  {
    name: "rejects a parameter value containing =",
    arg: "<a@example.test> X-A=b=c",
    reverse: true,
    why: /invalid value for ESMTP parameter X-A/,
  },
  {
    name: "rejects a parameter value containing a control character",
    arg: "<a@example.test> X-A=b\x01c",
    reverse: true,
    why: /invalid value for ESMTP parameter X-A/,
  },
  {
    name: "rejects a domain-less address in RCPT",
    arg: "<alice>",
    reverse: false,
    why: /no domain/,
  },
  {
    name: "rejects <Postmaster> in MAIL",
    arg: "<Postmaster>",
    reverse: true,
    why: /no domain/,
  },
  {
    name: "rejects <postmaster> with a trailing space inside the brackets",
    arg: "<postmaster >",
    reverse: false,
    why: /no domain/,
  },
  {
    name: "rejects the null path <> in RCPT",
    arg: "<>",
    reverse: false,
    why: /empty forward-path/,
  },
  {
    name: "rejects an empty local part",
    arg: "<@example.test>",
    reverse: false,
    why: /invalid source route/,
  },
  {
    name: "rejects a source route hop without @",
    arg: "<@one.example,two.example:a@example.test>",
    reverse: false,
    why: /invalid source route/,
  },
  {
    name: "rejects a source route with an invalid domain",
    arg: "<@bad_host.example:a@example.test>",
    reverse: false,
    why: /invalid domain label/,
  },
  {
    name: "rejects a source route with an empty hop",
    arg: "<@:a@example.test>",
    reverse: false,
    why: /empty domain/,
  },
];

Deno.test("parsePathArgument() valid forms", async (t) => {
  for (const c of VALID_PATHS) {
    await t.step(`parsePathArgument() ${c.name}`, () => {
      const got = parsePathArgument(c.arg, { reverse: c.reverse });
      assert.deepEqual(got, { mailbox: c.mailbox, params: new Map(c.params ?? []) });
    });
  }
});

Deno.test("parsePathArgument() invalid forms", async (t) => {
  for (const c of INVALID_PATHS) {
    await t.step(`parsePathArgument() ${c.name}`, () => {
      assertSyntaxError(() => parsePathArgument(c.arg, { reverse: c.reverse }), c.why);
    });
  }
});

Deno.test("parsePathArgument() gives MAIL and RCPT the same mailbox for the same path", () => {
  for (const arg of ["<a@example.test>", '<"x y"@[192.0.2.1]>', "<@r.example:a@b.example>"]) {
    assert.deepEqual(
      parsePathArgument(arg, { reverse: true }),
      parsePathArgument(arg, { reverse: false }),
    );
  }
});

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
