import assert from "node:assert/strict";
import { parse } from "yaml";
import { validateConfig } from "../config/config.ts";
import { quickstartConfig } from "./quickstart_config.ts";

const SETTINGS = {
  address: "alice@example.com",
  domain: "example.com",
  hostname: "mail.example.com",
  dataDir: "/srv/postie data #1",
  configPath: "/etc/postie/postie.yaml",
};

Deno.test("quickstartConfig() is a valid config: acme on, role aliases, dual-stack listeners", () => {
  const c = validateConfig(parse(quickstartConfig(SETTINGS)), "(test)", "/");
  assert.equal(c.hostname, "mail.example.com");
  assert.equal(c.dataDir, "/srv/postie data #1", "a path with a space and # survives");
  assert.deepEqual(c.domains, ["example.com"]);
  assert.deepEqual([...c.aliases], [
    ["postmaster@example.com", ["alice@example.com"]],
    ["abuse@example.com", ["alice@example.com"]],
  ]);
  assert.equal(c.acme?.email, "alice@example.com");
  assert.equal(c.acme?.challenge, "http-01");
  assert.equal(c.acme?.directory, "https://acme-v02.api.letsencrypt.org/directory");
  assert.deepEqual(c.tls, {});
  for (const kind of ["smtp", "submission", "submissions", "imap", "imaps", "http"] as const) {
    assert.deepEqual(c.listen[kind].map((a) => a.host), ["0.0.0.0", "::"], kind);
  }
  assert.deepEqual(c.listen.smtp.map((a) => a.port), [25, 25]);
  assert.deepEqual(c.listen.http.map((a) => a.port), [80, 80]);
  assert.deepEqual(c.listen.https, []);
});

Deno.test("quickstartConfig() gives no alias to the owner's own address", () => {
  const c = validateConfig(
    parse(quickstartConfig({ ...SETTINGS, address: "postmaster@example.com" })),
    "(test)",
    "/",
  );
  assert.deepEqual([...c.aliases], [["abuse@example.com", ["postmaster@example.com"]]]);
});
