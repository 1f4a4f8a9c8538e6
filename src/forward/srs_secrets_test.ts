import assert from "node:assert/strict";
import { join } from "node:path";
import { loadSrsSecrets, rotateSrsSecret, SrsSecretsError, srsSecretsPath } from "./srs_secrets.ts";
import { Srs } from "./srs.ts";

const DAY = 86_400_000;
const T0 = new Date(Date.UTC(2024, 0, 1, 12));
const at = (days: number) => new Date(T0.getTime() + days * DAY);

async function withDataDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-srs-" });
  try {
    await fn(join(dir, "data"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadSrsSecrets() makes one 32-byte secret once, in a 0600 file", async () => {
  await withDataDir(async (data) => {
    const first = await loadSrsSecrets(data, T0);
    assert.equal(first.length, 1);
    assert.match(first[0]!, /^[A-Za-z0-9_-]{43}$/); // 32 bytes in base64url
    const path = srsSecretsPath(data);
    assert.equal(path, join(data, "srs", "secrets.json"));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(join(data, "srs"))).mode! & 0o777, 0o700);
    assert.deepEqual(await loadSrsSecrets(data, at(400)), first);
    const doc = JSON.parse(await Deno.readTextFile(path));
    assert.deepEqual(doc, { secrets: [{ secret: first[0], created: T0.toISOString() }] });
    assert.deepEqual([...Deno.readDirSync(join(data, "srs"))].map((e) => e.name), ["secrets.json"]);
  });
});

Deno.test("loadSrsSecrets() run at once by several callers agrees on one secret", async () => {
  await withDataDir(async (data) => {
    const all = await Promise.all([1, 2, 3, 4].map(() => loadSrsSecrets(data, T0)));
    for (const s of all) assert.deepEqual(s, all[0]);
  });
});

Deno.test("rotateSrsSecret(): the old secret verifies for 30 days, then no more", async () => {
  await withDataDir(async (data) => {
    const [old] = await loadSrsSecrets(data, T0);
    const made = new Srs({ secrets: [old!], domain: "fwd.example", now: () => at(10) })
      .forward("alice@example.com");
    const local = made.slice(0, made.indexOf("@"));
    const rotated = await rotateSrsSecret(data, at(10));
    assert.equal(rotated.length, 2);
    assert.notEqual(rotated[0], old);
    assert.equal(rotated[1], old);
    assert.equal((await Deno.stat(srsSecretsPath(data))).mode! & 0o777, 0o600);
    const reverse = async (day: number) =>
      new Srs({
        secrets: await loadSrsSecrets(data, at(day)),
        domain: "fwd.example",
        now: () => at(day),
      })
        .reverse(local);
    assert.deepEqual(await reverse(11), { ok: true, address: "alice@example.com" });
    assert.deepEqual(await loadSrsSecrets(data, at(40)), rotated); // 30 days after
    assert.deepEqual(await loadSrsSecrets(data, at(41)), [rotated[0]]);
    // Past its grace period the old secret no longer verifies (the address is older too, but
    // the hash is checked first).
    assert.deepEqual(await reverse(41), { ok: false, reason: "hash" });
  });
});

Deno.test("rotateSrsSecret() keeps secrets in their grace period, newest first, drops older", async () => {
  await withDataDir(async (data) => {
    const [a] = await loadSrsSecrets(data, T0);
    const [b] = await rotateSrsSecret(data, at(1));
    const [c] = await rotateSrsSecret(data, at(20));
    assert.deepEqual(await loadSrsSecrets(data, at(25)), [c, b, a]);
    const [d] = await rotateSrsSecret(data, at(35)); // a was retired on day 1: gone
    assert.deepEqual(await loadSrsSecrets(data, at(35)), [d, c, b]);
    const doc = JSON.parse(await Deno.readTextFile(srsSecretsPath(data)));
    assert.deepEqual(doc.secrets.map((e: { secret: string }) => e.secret), [d, c, b]);
    assert.equal(doc.secrets[1].retired, at(35).toISOString());
  });
});

Deno.test("a damaged secrets file is an error naming it, and is left as it is", async () => {
  await withDataDir(async (data) => {
    await loadSrsSecrets(data, T0);
    const path = srsSecretsPath(data);
    const ok = JSON.parse(await Deno.readTextFile(path)).secrets[0];
    for (
      const text of [
        "{ not json",
        "",
        "[]",
        "null",
        JSON.stringify({ secrets: [] }),
        JSON.stringify({ secrets: [{ ...ok, secret: "short" }] }),
        JSON.stringify({ secrets: [{ ...ok, created: "yesterday" }] }),
        JSON.stringify({ secrets: [ok, { ...ok, secret: "x".repeat(20) }] }), // two current
        JSON.stringify({ secrets: [{ ...ok, retired: T0.toISOString() }] }), // none current
        JSON.stringify({ secrets: [ok, "string"] }),
      ]
    ) {
      await Deno.writeTextFile(path, text);
      for (const call of [loadSrsSecrets, rotateSrsSecret]) {
        await assert.rejects(call(data, T0), (e: Error) => {
          assert.ok(e instanceof SrsSecretsError, text);
          assert.ok(e.message.includes(path), e.message);
          return true;
        });
      }
      assert.equal(await Deno.readTextFile(path), text);
    }
  });
});
