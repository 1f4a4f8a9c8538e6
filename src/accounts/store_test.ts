import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { AccountError, AccountStore } from "./store.ts";
import { verifyPassword } from "./password.ts";

async function withStore(fn: (s: AccountStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-accounts-" });
  const store = await AccountStore.open(dir);
  try {
    await fn(store, dir);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("add() makes a plain account unless asked for an admin; setAdmin() flips the flag", async () => {
  await withStore(async (s) => {
    const plain = await s.add("bob", "a.test", "password-1");
    assert.equal(plain.admin, false);
    assert.equal(plain.locked, false);
    const admin = await s.add("alice", "a.test", "password-2", { admin: true });
    assert.equal(admin.admin, true);
    assert.ok(await verifyPassword("password-2", admin.passwordHash));
    s.setAdmin("bob@a.test", true);
    assert.equal(s.get("bob@a.test")?.admin, true);
    s.setAdmin("alice@a.test", false);
    assert.equal(s.get("alice@a.test")?.admin, false);
    assert.deepEqual(s.list().map((a) => [a.address, a.admin]), [
      ["alice@a.test", false],
      ["bob@a.test", true],
    ]);
    assert.throws(() => s.setAdmin("nobody@a.test", true), AccountError);
    await assert.rejects(s.add("bob", "a.test", "password-3"), AccountError);
  });
});

Deno.test("open() adds the admin column to a database made before it (no one is admin)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-accounts-" });
  try {
    const db = new DatabaseSync(join(dir, "accounts.db"));
    db.exec(`CREATE TABLE accounts (address TEXT PRIMARY KEY, local TEXT NOT NULL,
      domain TEXT NOT NULL, password_hash TEXT NOT NULL, created TEXT NOT NULL)`);
    db.prepare("INSERT INTO accounts VALUES (?,?,?,?,?)")
      .run("old@a.test", "old", "a.test", "x", "2024-01-01T00:00:00.000Z");
    db.close();
    const s = await AccountStore.open(dir);
    try {
      assert.equal(s.get("old@a.test")?.admin, false);
      assert.equal(s.get("old@a.test")?.locked, false);
      s.setAdmin("old@a.test", true);
      assert.equal(s.get("old@a.test")?.admin, true);
    } finally {
      s.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stored aliases: set, read, replace, list in domain order, delete, kept on reopen", async () => {
  await withStore(async (s, dir) => {
    assert.equal(s.alias("team@a.test"), undefined);
    assert.deepEqual(s.aliases(), []);
    s.setAlias("team@a.test", ["alice@a.test", "Bob@elsewhere.example"]);
    s.setAlias("@b.test", ["alice@a.test"]);
    s.setAlias("info@a.test", ["alice@a.test"]);
    assert.deepEqual(s.alias("team@a.test"), ["alice@a.test", "Bob@elsewhere.example"]);
    const created = s.aliases().find((a) => a.address === "team@a.test")!.created;
    assert.match(created, /^\d{4}-\d\d-\d\dT/);
    s.setAlias("team@a.test", ["carol@a.test"]);
    assert.deepEqual(s.alias("team@a.test"), ["carol@a.test"]);
    assert.deepEqual(s.aliases().map((a) => a.address), ["info@a.test", "team@a.test", "@b.test"]);
    assert.equal(s.aliases().find((a) => a.address === "team@a.test")!.created, created);
    assert.equal(s.deleteAlias("team@a.test"), true);
    assert.equal(s.deleteAlias("team@a.test"), false);
    assert.equal(s.alias("team@a.test"), undefined);
    const again = await AccountStore.open(dir);
    try {
      assert.deepEqual(again.alias("info@a.test"), ["alice@a.test"]);
      assert.deepEqual(again.aliases().map((a) => a.address), ["info@a.test", "@b.test"]);
    } finally {
      again.close();
    }
  });
});
