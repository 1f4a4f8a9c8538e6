import assert from "node:assert/strict";
import { inCidr, sameIp } from "./cidr.ts";

Deno.test("inCidr() compares IPv4 and IPv6 prefixes, never across families", () => {
  assert.ok(inCidr("192.0.2.130", "192.0.2.128", 25));
  assert.ok(!inCidr("192.0.2.127", "192.0.2.128", 25));
  assert.ok(inCidr("2001:db8::1", "2001:db8::", 32));
  assert.ok(!inCidr("2001:db9::1", "2001:db8::", 32));
  assert.ok(inCidr("10.0.0.1", "192.0.2.1", 0));
  assert.ok(!inCidr("192.0.2.1", "::", 0));
});

Deno.test("sameIp() compares addresses, not their spelling", () => {
  assert.ok(sameIp("2001:DB8::1", "2001:db8:0:0:0:0:0:1"));
  assert.ok(sameIp("192.0.2.1", "192.0.2.1"));
  assert.ok(!sameIp("192.0.2.1", "192.0.2.2"));
  assert.ok(!sameIp("192.0.2.1", "::ffff:c000:201"));
});
