import assert from "node:assert/strict";
import { concat } from "./bytes.ts";

Deno.test("concat joins the parts in order", () => {
  const out = concat([new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])]);
  assert.deepEqual(out, new Uint8Array([1, 2, 3]));
});

Deno.test("concat of nothing is empty, of one part a copy", () => {
  assert.deepEqual(concat([]), new Uint8Array(0));
  const one = new Uint8Array([7]);
  const out = concat([one]);
  assert.deepEqual(out, one);
  assert.notEqual(out, one);
});
