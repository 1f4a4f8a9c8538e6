/**
 * Tests for address_list.ts: RFC 5322 address lists, groups, routes, comments and junk.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Address, addressListText, parseAddressList } from "./address_list.ts";

function a(name: string | null, mailbox: string | null, host: string | null, adl = null): Address {
  return { name, adl, mailbox, host };
}

Deno.test("address_list: name-addr, addr-spec, comment as name", () => {
  assert.deepEqual(parseAddressList(" From Real <fromuser@fromdomain.org>"), [
    a("From Real", "fromuser", "fromdomain.org"),
  ]);
  assert.deepEqual(parseAddressList("user@domain (Real Name)"), [a("Real Name", "user", "domain")]);
  assert.deepEqual(parseAddressList('"Doe, John" <j@x>, k@y'), [
    a("Doe, John", "j", "x"),
    a(null, "k", "y"),
  ]);
  assert.deepEqual(parseAddressList("<user-from (comment)@ (comment) domain.org>"), [
    a(null, "user-from", "domain.org"),
  ]);
  assert.deepEqual(parseAddressList("=?utf-8?q?J=C3=B6?= <j@x>"), [
    a("=?utf-8?q?J=C3=B6?=", "j", "x"),
  ]);
  assert.deepEqual(parseAddressList("John Q. Public <p@x>"), [a("John Q. Public", "p", "x")]);
});

Deno.test("address_list: groups become RFC 3501 start/end markers", () => {
  assert.deepEqual(parseAddressList("group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;"), [
    a(null, "group", null),
    a(null, "g1", "d1.org"),
    a(null, "g2", "d2.org"),
    a(null, null, null),
    a(null, "group2", null),
    a(null, "g3", "d3.org"),
    a(null, null, null),
  ]);
  assert.deepEqual(parseAddressList("group:;, group2: (foo) ;"), [
    a(null, "group", null),
    a(null, null, null),
    a(null, "group2", null),
    a(null, null, null),
  ]);
  // Unterminated group still ends.
  assert.deepEqual(parseAddressList("undisclosed: x@y"), [
    a(null, "undisclosed", null),
    a(null, "x", "y"),
    a(null, null, null),
  ]);
});

Deno.test("address_list: routes, quoted local parts, missing domain, junk", () => {
  assert.deepEqual(parseAddressList("<@route:user@domain>"), [
    { name: null, adl: "@route", mailbox: "user", host: "domain" },
  ]);
  assert.deepEqual(parseAddressList('"john doe"@x'), [a(null, '"john doe"', "x")]);
  assert.deepEqual(parseAddressList("undisclosed-recipients"), [
    a(null, "undisclosed-recipients", ""),
  ]);
  assert.deepEqual(parseAddressList(""), []);
  assert.deepEqual(parseAddressList(" , ,; <>"), []);
  assert.deepEqual(parseAddressList("a@[1.2.3.4]"), [a(null, "a", "[1.2.3.4]")]);
  for (const junk of ['"unterminated', "(((", "<<@@::>>", "a@b@c", "\x00\x01;;:,<"]) {
    parseAddressList(junk);
  }
});

Deno.test("address_list: text for SEARCH", () => {
  const list = parseAddressList(
    "groupname: groupuser1@domain.org, groupuser2@domain.org;,\r\n  groupname2: g3@d;, R <r@x>",
  );
  assert.equal(
    addressListText(list),
    "groupname: groupuser1@domain.org, groupuser2@domain.org;, groupname2: g3@d;, R <r@x>",
  );
  assert.equal(addressListText(parseAddressList("groupname:;")), "groupname: ;");
});
