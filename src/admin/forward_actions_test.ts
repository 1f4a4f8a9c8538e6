import assert from "node:assert/strict";
import { addAccount, listAccounts } from "./account_actions.ts";
import { clearForward, listForwards, setForward } from "./forward_actions.ts";
import { refuses, withContext } from "./_testing.ts";

Deno.test("setForward(): an external target with a canonical domain; list and clear", async () => {
  await withContext(async (ctx) => {
    await addAccount(ctx, "alice@a.test", {});
    await addAccount(ctx, "bob@a.test", {});
    assert.deepEqual(setForward(ctx, "Alice@a.test", "Alice@Gmail.Example", true), {
      target: "Alice@gmail.example",
      keepCopy: true,
    });
    assert.deepEqual(listForwards(ctx), [
      { address: "alice@a.test", target: "Alice@gmail.example", keepCopy: true },
    ]);
    assert.deepEqual(listAccounts(ctx)[0]!.forward, {
      target: "Alice@gmail.example",
      keepCopy: true,
    });
    setForward(ctx, "alice@a.test", "a@elsewhere.example", false);
    assert.deepEqual(listForwards(ctx)[0], {
      address: "alice@a.test",
      target: "a@elsewhere.example",
      keepCopy: false,
    });
    assert.equal(clearForward(ctx, "alice@a.test"), true);
    assert.equal(clearForward(ctx, "alice@a.test"), false);
    assert.deepEqual(listForwards(ctx), []);
  });
});

Deno.test("setForward() refuses relay tricks, local targets and unknown accounts", async () => {
  await withContext(async (ctx) => {
    await addAccount(ctx, "alice@a.test", {});
    for (
      const bad of ["x%y@elsewhere.example", "h!x@elsewhere.example", '"a b"@elsewhere.example']
    ) {
      await refuses(() => setForward(ctx, "alice@a.test", bad, false), "invalid", /^target: /);
    }
    await refuses(
      () => setForward(ctx, "alice@a.test", "x@[127.0.0.1]", false),
      "invalid",
      /plain/,
    );
    await refuses(
      () => setForward(ctx, "alice@a.test", "bob@b.test", false),
      "invalid",
      /use an alias/,
    );
    await refuses(
      () => setForward(ctx, "alice@a.test", "nonsense", false),
      "invalid",
      /not an address/,
    );
    await refuses(
      () => setForward(ctx, "nobody@a.test", "x@elsewhere.example", false),
      "missing",
      /No account/,
    );
    await refuses(() => clearForward(ctx, "nobody@a.test"), "missing", /No account/);
    assert.deepEqual(listForwards(ctx), []);
  });
});
