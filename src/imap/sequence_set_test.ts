import assert from "node:assert/strict";
import { ParseError } from "./parse_error.ts";
import {
  contains,
  formatSequenceSet,
  largestNumber,
  numbers,
  parseSequenceSet,
  resolve,
} from "./sequence_set.ts";

const set = parseSequenceSet;

Deno.test("sequence set: parse forms of RFC 3501 §9", () => {
  assert.deepEqual(set("1"), { kind: "set", ranges: [{ start: 1, end: 1 }] });
  assert.deepEqual(set("2:4,*,7:*"), {
    kind: "set",
    ranges: [{ start: 2, end: 4 }, { start: "*", end: "*" }, { start: 7, end: "*" }],
  });
  assert.deepEqual(set("4294967295"), {
    kind: "set",
    ranges: [{ start: 4294967295, end: 4294967295 }],
  });
  assert.deepEqual(set("$"), { kind: "saved" });
});

Deno.test("sequence set: syntax errors are ParseErrors", () => {
  for (
    const bad of [
      "",
      "0",
      "1:",
      ":1",
      "1,,2",
      "1,",
      "a",
      "1:2:3",
      "4294967296",
      "01",
      "-1",
      "1 2",
      "$,1",
      "99999999999999999999",
    ]
  ) {
    assert.throws(() => set(bad), ParseError, bad);
  }
});

Deno.test("sequence set: resolve with * and reversed ranges (imaptest search-sets)", () => {
  // 5 messages: "4:2" is 2:4, "*:3" is 3:5, "1,4,*".
  assert.deepEqual(resolve(set("4:2"), 5), [[2, 4]]);
  assert.deepEqual(resolve(set("*:3"), 5), [[3, 5]]);
  assert.deepEqual(resolve(set("1,4,*"), 5), [[1, 1], [4, 5]]);
  assert.deepEqual(resolve(set("1:3,5"), 5), [[1, 3], [5, 5]]);
  assert.deepEqual(resolve(set("3,1,2,2:3"), 5), [[1, 3]]);
  assert.deepEqual(resolve(set("*"), 0), []);
  assert.deepEqual(resolve(set("1:4294967295"), 7), [[1, 7]]);
  assert.deepEqual([...numbers(resolve(set("5,1:2"), 9))], [1, 2, 5]);
});

Deno.test("sequence set: UID N:* with N above the highest UID contains the highest", () => {
  // RFC 3501 §6.4.8: "559:*" includes the last UID even when it is below 559.
  assert.deepEqual(resolve(set("559:*"), 100), [[100, 100]]);
  assert.ok(contains(set("559:*"), 100, 100));
  assert.ok(!contains(set("559:*"), 99, 100));
  assert.deepEqual(resolve(set("200:300"), 100), []);
});

Deno.test("sequence set: contains", () => {
  const s = set("2:4,9,*");
  assert.ok(contains(s, 3, 20));
  assert.ok(contains(s, 20, 20));
  assert.ok(!contains(s, 5, 20));
  assert.ok(!contains(s, 21, 20));
  assert.ok(!contains(s, 0, 20));
});

Deno.test("sequence set: largestNumber and $", () => {
  assert.equal(largestNumber(set("3:*,7")), 7);
  assert.equal(largestNumber(set("*")), 0);
  assert.throws(() => resolve(set("$"), 3), TypeError);
});

Deno.test("sequence set: formatSequenceSet compresses runs", () => {
  assert.equal(formatSequenceSet([1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
  assert.equal(formatSequenceSet([4, 4, 5]), "4:5");
  assert.equal(formatSequenceSet([]), "");
  assert.equal(formatSequenceSet([9]), "9");
});
