import assert from "node:assert/strict";
import { parseTagList, splitColonList } from "./tag_list.ts";

Deno.test("parseTagList() allows FWS around names, '=' and ';', and keeps the order", () => {
  const tags = parseTagList(" v=1;\r\n a = rsa-sha256 ;h=from\r\n\t: to;  b=ab\r\n cd;");
  assert.deepEqual([...tags], [["v", "1"], ["a", "rsa-sha256"], ["h", "from\r\n\t: to"], [
    "b",
    "ab\r\n cd",
  ]]);
  assert.deepEqual(splitColonList(tags.get("h")!), ["from", "to"]);
  // Values may contain "=" and ":"; an empty list is empty.
  assert.deepEqual([...parseTagList("v=DKIM1: g=*; p=a==")], [["v", "DKIM1: g=*"], ["p", "a=="]]);
  assert.equal(parseTagList("").size, 0);
});

Deno.test("parseTagList() rejects duplicate tags, bad names and elements without '='", () => {
  assert.throws(() => parseTagList("a=1; a=2"), SyntaxError);
  assert.throws(() => parseTagList("1a=1"), SyntaxError);
  assert.throws(() => parseTagList("a=1; junk"), SyntaxError);
  // Names are case-sensitive (RFC 6376 §3.2): "A" and "a" are different tags.
  assert.equal(parseTagList("a=1; A=2").size, 2);
});
