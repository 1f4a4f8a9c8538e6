import assert from "node:assert/strict";
import { join } from "node:path";
import { verifyPassword } from "../accounts/password.ts";
import {
  addAccount,
  changeOwnPassword,
  deleteAccount,
  listAccounts,
  resetPassword,
  setAccountAdmin,
  setAccountLocked,
} from "./account_actions.ts";
import { refuses, withContext } from "./_testing.ts";

Deno.test("addAccount(): canonical address, Maildir, generated password returned only then", async () => {
  await withContext(async (ctx, dataDir) => {
    const r = await addAccount(ctx, " Alice@A.Test ", {});
    assert.equal(r.account.address, "alice@a.test");
    assert.equal(r.account.admin, false);
    assert.equal(r.account.locked, false);
    assert.equal(r.account.forward, null);
    assert.match(r.password ?? "", /^\S{20}$/);
    assert.ok(await verifyPassword(r.password!, ctx.accounts.get("alice@a.test")!.passwordHash));
    for (const d of ["tmp", "new", "cur"]) {
      assert.ok((await Deno.stat(join(dataDir, "mail", "a.test", "alice", d))).isDirectory);
    }
    const given = await addAccount(ctx, "bob@b.test", { password: "long enough", admin: true });
    assert.equal(given.password, undefined);
    assert.equal(given.account.admin, true);
    assert.ok(await verifyPassword("long enough", ctx.accounts.get("bob@b.test")!.passwordHash));
    assert.deepEqual(listAccounts(ctx).map((a) => [a.address, a.admin]), [
      ["alice@a.test", false],
      ["bob@b.test", true],
    ]);
  });
});

Deno.test("addAccount() refuses bad addresses, short passwords, duplicates and aliases", async () => {
  await withContext(async (ctx) => {
    await addAccount(ctx, "alice@a.test", {});
    await refuses(() => addAccount(ctx, "alice@a.test", {}), "exists", /already exists/);
    await refuses(() => addAccount(ctx, "x@elsewhere.test", {}), "invalid", /not a local domain/);
    await refuses(() => addAccount(ctx, "x+y@a.test", {}), "invalid", /subaddress/);
    await refuses(() => addAccount(ctx, "nope", {}), "invalid", /expected local@domain/);
    await refuses(
      () => addAccount(ctx, "carol@a.test", { password: "short" }),
      "invalid",
      /password: must be at least 8 characters/,
    );
    assert.equal(ctx.accounts.get("carol@a.test"), undefined);
    await refuses(
      () => addAccount(ctx, "postmaster@a.test", {}),
      "exists",
      /alias in \/etc\/postie\/postie\.yaml/,
    );
    ctx.accounts.setAlias("team@a.test", ["alice@a.test"]);
    await refuses(() => addAccount(ctx, "team@a.test", {}), "exists", /is an alias/);
  });
});

Deno.test("delete, lock, admin and reset act on existing accounts only", async () => {
  await withContext(async (ctx) => {
    await addAccount(ctx, "alice@a.test", { password: "first password" });
    setAccountLocked(ctx, "ALICE@a.test", true);
    assert.equal(listAccounts(ctx)[0]!.locked, true);
    setAccountLocked(ctx, "alice@a.test", false);
    assert.equal(listAccounts(ctx)[0]!.locked, false);
    setAccountAdmin(ctx, "alice@a.test", true);
    assert.equal(listAccounts(ctx)[0]!.admin, true);
    setAccountAdmin(ctx, "alice@a.test", false);
    assert.equal(listAccounts(ctx)[0]!.admin, false);
    const generated = await resetPassword(ctx, "alice@a.test");
    assert.match(generated.password ?? "", /^\S{20}$/);
    assert.deepEqual(await resetPassword(ctx, "alice@a.test", "second password"), {});
    assert.ok(
      await verifyPassword("second password", ctx.accounts.get("alice@a.test")!.passwordHash),
    );
    await refuses(() => resetPassword(ctx, "alice@a.test", "1234567"), "invalid", /at least 8/);
    for (
      const act of [
        () => setAccountLocked(ctx, "nobody@a.test", true),
        () => setAccountAdmin(ctx, "nobody@a.test", true),
        () => resetPassword(ctx, "nobody@a.test"),
        () => deleteAccount(ctx, "nobody@a.test"),
      ]
    ) {
      await refuses(act, "missing", /No account "nobody@a\.test"/);
    }
    deleteAccount(ctx, "alice@a.test");
    assert.deepEqual(listAccounts(ctx), []);
  });
});

Deno.test("changeOwnPassword(): the current password must be right, the new one long enough", async () => {
  await withContext(async (ctx) => {
    await addAccount(ctx, "alice@a.test", { password: "old password" });
    await refuses(
      () => changeOwnPassword(ctx, "alice@a.test", "wrong password", "new password"),
      "forbidden",
      /current password/,
    );
    await refuses(
      () => changeOwnPassword(ctx, "alice@a.test", "old password", "short"),
      "invalid",
      /at least 8/,
    );
    const hash = () => ctx.accounts.get("alice@a.test")!.passwordHash;
    assert.ok(await verifyPassword("old password", hash()));
    await changeOwnPassword(ctx, "alice@a.test", "old password", "new password");
    assert.ok(await verifyPassword("new password", hash()));
    await refuses(
      () => changeOwnPassword(ctx, "nobody@a.test", "x", "new password"),
      "missing",
      /No account/,
    );
  });
});
