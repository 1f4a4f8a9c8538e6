import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditLog } from "./audit_log.ts";

Deno.test("AuditLog: entries are appended as JSON lines; recent() gives the newest first", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let t = 0;
    const log = new AuditLog(dir, () => new Date(Date.UTC(2026, 0, 1, 0, 0, t++)));
    assert.deepEqual(await log.recent(5), [], "no file yet");
    await Promise.all([
      log.write({
        actor: "a@x.test",
        ip: "127.0.0.1",
        action: "accounts/add",
        target: "b@x.test",
        ok: true,
      }),
      log.write({
        actor: "a@x.test",
        ip: "127.0.0.1",
        action: "accounts/lock",
        target: "b@x.test",
        ok: false,
        detail: "no",
      }),
    ]);
    assert.equal((await Deno.stat(log.path)).mode! & 0o777, 0o600);
    const all = await log.read();
    assert.deepEqual(all.map((e) => e.action), ["accounts/add", "accounts/lock"]);
    assert.equal(all[0]!.time, "2026-01-01T00:00:00.000Z");
    const recent = await log.recent(1);
    assert.deepEqual(recent.map((e) => [e.action, e.ok, e.detail]), [[
      "accounts/lock",
      false,
      "no",
    ]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AuditLog.recent reads only the end of a long log and skips a cut line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = new AuditLog(dir);
    const line = JSON.stringify({ time: "t", actor: "a", ip: "i", action: "x", ok: true });
    // ~600 KiB of old entries, then one cut by a crash, then a good one.
    await Deno.writeTextFile(
      join(dir, "audit.log"),
      `${line}\n`.repeat(10_000) + '{"time":"t","act\n' + '{"cut before its newline',
    );
    await log.write({ actor: "a", ip: "i", action: "last", ok: true });
    const recent = await log.recent(3);
    assert.deepEqual(recent.map((e) => e.action), ["last", "x", "x"], "whole after a cut line");
    assert.ok((await log.recent(100_000)).length < 10_000, "only the file's end was read");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
