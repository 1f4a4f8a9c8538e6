import assert from "node:assert/strict";
import { addAccount } from "./account_actions.ts";
import { addAlias, deleteAlias, listAliases } from "./alias_actions.ts";
import { refuses, withContext } from "./_testing.ts";
import { Router } from "../delivery/router.ts";

Deno.test("addAlias(): canonical address and targets, listed after the config's, then deleted", async () => {
  await withContext(async (ctx) => {
    const team = addAlias(ctx, "Team@A.Test", [
      "alice@a.test",
      " Bob@Elsewhere.Example ",
      "alice@a.test",
    ]);
    assert.deepEqual(team, {
      address: "team@a.test",
      targets: ["alice@a.test", "Bob@elsewhere.example"],
      source: "admin",
    });
    addAlias(ctx, "@b.test", ["alice@a.test"]);
    assert.deepEqual(listAliases(ctx), [
      { address: "postmaster@a.test", targets: ["alice@a.test"], source: "config" },
      {
        address: "team@a.test",
        targets: ["alice@a.test", "Bob@elsewhere.example"],
        source: "admin",
      },
      { address: "@b.test", targets: ["alice@a.test"], source: "admin" },
    ]);
    deleteAlias(ctx, "TEAM@a.test");
    deleteAlias(ctx, "@b.test");
    assert.deepEqual(listAliases(ctx).map((a) => a.source), ["config"]);
    await refuses(() => deleteAlias(ctx, "team@a.test"), "missing", /No alias "team@a\.test"/);
  });
});

Deno.test("an added alias reaches its targets through the router", async () => {
  await withContext(async (ctx) => {
    await addAccount(ctx, "alice@a.test", {});
    addAlias(ctx, "info@b.test", ["alice@a.test", "out@elsewhere.example"]);
    const r = new Router(ctx.config, ctx.accounts).resolve({
      local: "Info",
      domain: "b.test",
      quoted: false,
    });
    assert.equal(r.kind, "local");
    if (r.kind !== "local") return;
    assert.deepEqual(r.mailboxes.map((b) => b.address), ["alice@a.test"]);
    assert.deepEqual(r.forwards?.map((f) => [f.target, f.via]), [[
      "out@elsewhere.example",
      "info@b.test",
    ]]);
  });
});

Deno.test("addAlias() refuses what the config would, and what exists already", async () => {
  await withContext(async (ctx) => {
    await addAccount(ctx, "alice@a.test", {});
    const cases: [string, unknown, string, RegExp][] = [
      ["x@elsewhere.example", ["alice@a.test"], "invalid", /must be in one of the local domains/],
      ["x%y@a.test", ["alice@a.test"], "invalid", /plain local part/],
      ["x@a.test", ["y%z@elsewhere.example"], "invalid", /plain local part/],
      ["x@a.test", ["h!y@elsewhere.example"], "invalid", /plain local part/],
      ["x@a.test", ["@elsewhere.example"], "invalid", /targets must be full addresses/],
      ["x@a.test", ["y@bad..example"], "invalid", /must be a domain name/],
      ["x@a.test", ["nobody"], "invalid", /must be an address/],
      ["x@a.test", [], "invalid", /at least one/],
      ["x@a.test", ["  "], "invalid", /at least one/],
      ["x@a.test", "alice@a.test", "invalid", /list of addresses/],
      ["x@a.test", [1], "invalid", /list of addresses/],
      ["x@a.test", Array.from({ length: 51 }, (_, i) => `u${i}@a.test`), "invalid", /at most 50/],
      ["", ["alice@a.test"], "invalid", /address/],
      ["postmaster@a.test", ["alice@a.test"], "exists", /alias in \/etc\/postie\/postie\.yaml/],
      ["alice@a.test", ["bob@a.test"], "exists", /is an account/],
    ];
    for (const [address, targets, kind, message] of cases) {
      await refuses(() => addAlias(ctx, address, targets as string[]), kind, message);
    }
    addAlias(ctx, "x@a.test", Array.from({ length: 50 }, (_, i) => `u${i}@a.test`));
    await refuses(() => addAlias(ctx, "X@a.test", ["alice@a.test"]), "exists", /already an alias/);
    assert.equal(listAliases(ctx).length, 2);
  });
});

Deno.test("deleteAlias() leaves the config's aliases alone, naming the config file", async () => {
  await withContext(async (ctx) => {
    await refuses(
      () => deleteAlias(ctx, "Postmaster@a.test"),
      "invalid",
      /"postmaster@a\.test" is an alias in \/etc\/postie\/postie\.yaml/,
    );
    await refuses(() => deleteAlias(ctx, "not an address"), "invalid", /must be an address/);
    assert.equal(listAliases(ctx).length, 1);
  });
});
