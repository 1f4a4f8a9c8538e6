import assert from "node:assert/strict";
import { renewalTime, retryTime } from "./renewal_schedule.ts";

const DAY = 86400_000;

Deno.test("renewalTime: two thirds into a 90-day certificate is day 60", () => {
  const from = new Date("2026-01-01T00:00:00Z");
  const to = new Date(from.getTime() + 90 * DAY);
  assert.equal(renewalTime(from, to).toISOString(), "2026-03-02T00:00:00.000Z");
});

Deno.test("renewalTime: inside the ARI window when the CA gives one (RFC 9773 §4.2)", () => {
  const from = new Date("2026-01-01T00:00:00Z");
  const to = new Date(from.getTime() + 90 * DAY);
  const start = new Date("2026-02-10T00:00:00Z");
  const end = new Date("2026-02-12T00:00:00Z");
  assert.equal(renewalTime(from, to, { start, end }, () => 0).toISOString(), start.toISOString());
  assert.equal(
    renewalTime(from, to, { start, end }, () => 0.5).toISOString(),
    "2026-02-11T00:00:00.000Z",
  );
  // An empty or inverted window is ignored.
  assert.equal(
    renewalTime(from, to, { start: end, end: start }).getTime(),
    from.getTime() + 60 * DAY,
  );
});

Deno.test("retryTime: growing pauses, capped at 12 hours", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const after = (n: number) =>
    (retryTime(now, n, { rateLimited: false }).getTime() - now.getTime()) / 60_000;
  assert.deepEqual([1, 2, 3, 4, 5, 9].map(after), [5, 20, 80, 320, 720, 720]);
});

Deno.test("retryTime: a rate limit waits hours, and Retry-After when longer", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  assert.equal(retryTime(now, 1, { rateLimited: true }).getTime() - now.getTime(), 3 * 3600_000);
  const later = new Date(now.getTime() + 7 * 3600_000);
  assert.equal(
    retryTime(now, 1, { rateLimited: true, retryAfter: later }).getTime(),
    later.getTime(),
  );
  // A short Retry-After on an ordinary failure does not shorten the pause.
  const soon = new Date(now.getTime() + 1000);
  assert.equal(
    retryTime(now, 2, { rateLimited: false, retryAfter: soon }).getTime() - now.getTime(),
    20 * 60_000,
  );
});
