import assert from "node:assert/strict";
import { AcmeProblem, isRateLimited, parseRetryAfter } from "./acme_problem.ts";

Deno.test("AcmeProblem.from() keeps type, detail, status and subproblems and names them in the message", () => {
  const p = AcmeProblem.from({
    type: "urn:ietf:params:acme:error:rejectedIdentifier",
    detail: "some names were rejected",
    subproblems: [
      {
        type: "urn:ietf:params:acme:error:malformed",
        detail: "bad name",
        identifier: { type: "dns", value: "a..b" },
      },
      "junk",
    ],
  }, 400);
  assert.equal(p.type, "urn:ietf:params:acme:error:rejectedIdentifier");
  assert.equal(p.detail, "some names were rejected");
  assert.equal(p.status, 400);
  assert.equal(p.subproblems.length, 1);
  assert.ok(p.is("rejectedIdentifier"));
  assert.equal(p.message, "rejectedIdentifier: some names were rejected (a..b: bad name)");
  assert.ok(p instanceof Error);
});

Deno.test("AcmeProblem.from() of something that is not a problem is about:blank with the status", () => {
  const p = AcmeProblem.from("<html>", 502, undefined, "POST https://ca/x");
  assert.equal(p.type, "about:blank");
  assert.equal(p.status, 502);
  assert.equal(p.message, "POST https://ca/x: about:blank");
});

Deno.test("isRateLimited() is true for type rateLimited or HTTP 429, false otherwise", () => {
  assert.ok(isRateLimited(AcmeProblem.from({ type: "urn:ietf:params:acme:error:rateLimited" }, 0)));
  assert.ok(isRateLimited(AcmeProblem.from({ type: "about:blank" }, 429)));
  assert.ok(!isRateLimited(AcmeProblem.from({ type: "urn:ietf:params:acme:error:badNonce" }, 400)));
  assert.ok(!isRateLimited(new Error("rateLimited")));
});

Deno.test("parseRetryAfter() reads delay-seconds and HTTP dates and ignores junk", () => {
  const now = Date.UTC(2025, 0, 1);
  assert.deepEqual(parseRetryAfter("120", now), new Date(now + 120_000));
  assert.deepEqual(
    parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now),
    new Date(Date.UTC(2015, 9, 21, 7, 28)),
  );
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});
