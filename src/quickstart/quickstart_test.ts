import assert from "node:assert/strict";
import { join } from "node:path";
import { parseQuickstartAddress, quickstart, QuickstartError } from "./quickstart.ts";

Deno.test("parseQuickstartAddress() canonicalizes a good address and names what is wrong", () => {
  assert.deepEqual(parseQuickstartAddress("Alice.B@Bücher.Example"), {
    address: "alice.b@xn--bcher-kva.example",
    local: "alice.b",
    domain: "xn--bcher-kva.example",
  });
  const bad: [string, RegExp][] = [
    ["alice", /expected local@domain/],
    ["@example.com", /expected local@domain/],
    ["a+b@example.com", /the local part may use a-z/],
    ['"a b"@example.com', /the local part may use a-z/],
    ["alice@-example.com", /invalid domain label "-example"/],
    ["alice@example..com", /invalid domain label ""/],
    ["alice@localhost", /"localhost" is not a public domain name/],
  ];
  for (const [address, why] of bad) {
    assert.throws(() => parseQuickstartAddress(address), (e: unknown) => {
      assert.ok(e instanceof QuickstartError, address);
      assert.match(
        e.message,
        new RegExp(`^Invalid address "${address.replace(/[.+"]/g, "\\$&")}"`),
      );
      assert.match(e.message, why);
      return true;
    });
  }
});

Deno.test("quickstart() keeps an existing config that does not serve the domain, and says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-quickstart-unit-" });
  try {
    const lines: string[] = [];
    const opts = { dir, dataDir: join(dir, "data"), print: (l: string) => lines.push(l) };
    const first = await quickstart("alice@example.com", opts);
    assert.deepEqual(first.leftAlone, []);
    assert.deepEqual(first.created, ["config", "account", "mailbox", "dkim", "certificate key"]);
    const yaml = await Deno.readTextFile(first.configPath);
    await assert.rejects(
      quickstart("bob@example.org", opts),
      /postie\.yaml exists and its domains \(example\.com\) do not include "example\.org"/,
    );
    assert.equal(await Deno.readTextFile(first.configPath), yaml);
    // Another address of the same domain: the config is kept, the new account created.
    const second = await quickstart("bob@example.com", opts);
    assert.deepEqual(second.leftAlone, ["config", "dkim", "certificate key"]);
    assert.deepEqual(second.created, ["account", "mailbox"]);
    assert.equal(await Deno.readTextFile(first.configPath), yaml);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
