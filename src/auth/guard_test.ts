import assert from "node:assert/strict";
import { AuthGuard, guardedLogin } from "./guard.ts";

const CONFIG = {
  maxFailuresPerIp: 2,
  maxFailuresPerAccount: 10,
  failureWindowSeconds: 60,
  failureDelayMs: 100,
};

Deno.test("guardedLogin: failures are delayed and counted, then blocked unchecked; success clears", async () => {
  const guard = new AuthGuard(CONFIG, () => 1000);
  const slept: number[] = [];
  const sleep = (ms: number) => (slept.push(ms), Promise.resolve());
  let checks = 0;
  const wrong = () => (checks++, Promise.resolve(undefined));
  assert.deepEqual(await guardedLogin(guard, "192.0.2.1", "a@x.test", wrong, sleep), {
    kind: "failed",
    delayMs: 100,
  });
  assert.deepEqual(await guardedLogin(guard, "192.0.2.1", "a@x.test", wrong, sleep), {
    kind: "failed",
    delayMs: 200,
  });
  assert.deepEqual(slept, [100, 200]);
  const right = () => (checks++, Promise.resolve("a@x.test"));
  assert.deepEqual(await guardedLogin(guard, "192.0.2.1", "a@x.test", right, sleep), {
    kind: "blocked",
  });
  assert.equal(checks, 2, "a blocked attempt is not checked");
  assert.deepEqual(await guardedLogin(guard, "192.0.2.9", "a@x.test", right, sleep), {
    kind: "ok",
    account: "a@x.test",
  });
  assert.equal(guard.blocked("192.0.2.9"), false);
});

Deno.test("guardedLogin without a guard checks every attempt and never sleeps", async () => {
  const sleep = () => Promise.reject(new Error("no sleep expected"));
  for (let i = 0; i < 5; i++) {
    const r = await guardedLogin(
      undefined,
      "192.0.2.1",
      "a",
      () => Promise.resolve(undefined),
      sleep,
    );
    assert.deepEqual(r, { kind: "failed", delayMs: 0 });
  }
});
