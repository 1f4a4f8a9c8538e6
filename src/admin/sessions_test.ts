import assert from "node:assert/strict";
import { AdminSessions, MAX_SESSIONS, sameToken } from "./sessions.ts";

Deno.test("AdminSessions: a session lives session_hours, then is gone", () => {
  let now = 1_000_000;
  const s = new AdminSessions(2, () => now);
  const a = s.create("boss@example.test");
  assert.match(a.id, /^[A-Za-z0-9_-]{43}$/);
  assert.match(a.csrf, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a.id, a.csrf);
  assert.equal(s.lifetimeSeconds, 7200);
  now += 2 * 3_600_000 - 1;
  assert.equal(s.get(a.id)?.address, "boss@example.test");
  now += 1;
  assert.equal(s.get(a.id), undefined);
  assert.equal(s.size, 0);
  assert.equal(s.get(undefined), undefined);
});

Deno.test("AdminSessions: deleteAccount ends every session of that account only", () => {
  const s = new AdminSessions(1);
  const a = s.create("a@example.test");
  const b = s.create("a@example.test");
  const c = s.create("c@example.test");
  assert.equal(s.deleteAccount("a@example.test"), 2);
  assert.equal(s.get(a.id), undefined);
  assert.equal(s.get(b.id), undefined);
  assert.equal(s.get(c.id)?.address, "c@example.test");
});

Deno.test("AdminSessions: beyond MAX_SESSIONS the oldest is dropped", () => {
  const s = new AdminSessions(1);
  const first = s.create("x@example.test");
  for (let i = 0; i < MAX_SESSIONS; i++) s.create(`u${i}@example.test`);
  assert.equal(s.size, MAX_SESSIONS);
  assert.equal(s.get(first.id), undefined);
});

Deno.test("sameToken compares whole strings", () => {
  assert.equal(sameToken("abc", "abc"), true);
  assert.equal(sameToken("abc", "abd"), false);
  assert.equal(sameToken("abc", "ab"), false);
  assert.equal(sameToken("", ""), true);
});
