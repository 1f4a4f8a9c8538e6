import assert from "node:assert/strict";
import { headerSafe, quoteValue, rfc5322Date } from "./header_text.ts";

Deno.test("rfc5322Date() writes RFC 5322 §3.3 date-time with a +0000 zone", () => {
  assert.equal(
    rfc5322Date(new Date(Date.UTC(2026, 10, 29, 12, 0, 0))),
    "Sun, 29 Nov 2026 12:00:00 +0000",
  );
});

Deno.test("headerSafe() replaces what could end a comment or a value", () => {
  assert.equal(headerSafe('a (b) c;"d"\\é'), "a??b??c??d???");
  assert.equal(headerSafe("x".repeat(300)).length, 255);
});

Deno.test("quoteValue() leaves a dot-atom bare and quotes anything else (RFC 5322 §3.2.4)", () => {
  assert.equal(quoteValue("user@example.org"), "user@example.org");
  assert.equal(quoteValue(""), '""');
  assert.equal(quoteValue(".lead"), '".lead"');
  assert.equal(quoteValue('say "hi" \\ ü'), '"say \\"hi\\" \\\\ ?"');
});
