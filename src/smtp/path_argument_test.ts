import assert from "node:assert/strict";
import { assertSyntaxError, domainOf, mbox } from "./_testing.ts";
import { parsePathArgument, type PathArgument } from "./path_argument.ts";

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
