import assert from "node:assert/strict";
import { forwardTarget } from "./forward_target.ts";

Deno.test("forwardTarget: a plain external address, domain canonical", () => {
  assert.equal(forwardTarget("Me.Here@Gmail.Example", ["a.example"]), "Me.Here@gmail.example");
});

Deno.test("forwardTarget: relay tricks and local targets are refused", () => {
  for (
    const bad of [
      "x%y@elsewhere.example",
      "host!x@elsewhere.example",
      '"x@y"@elsewhere.example',
      "x@[192.0.2.1]",
      "@relay.example:x@elsewhere.example",
      "no-at-sign",
      "x@bad..example",
    ]
  ) {
    assert.throws(() => forwardTarget(bad, ["a.example"]), Error, bad);
  }
  assert.throws(() => forwardTarget("bob@a.example", ["a.example"]), /use an alias/);
});
