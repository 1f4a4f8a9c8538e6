import assert from "node:assert/strict";
import { validateConfig } from "../config/config.ts";
import type { Resolver } from "../dns/resolver.ts";
import { certificateNames } from "./certificate_names.ts";

const resolver: Resolver = {
  lookup(name, type) {
    const zone: Record<string, string> = {
      "autoconfig.a.example/A": "192.0.2.1",
      "autoconfig.c.example/AAAA": "2001:db8::1",
    };
    const v = zone[`${name}/${type}`];
    // deno-lint-ignore no-explicit-any
    return Promise.resolve(v ? { kind: "ok", records: [v as any], ttl: 60 } : { kind: "nxdomain" });
  },
};

Deno.test("certificateNames: hostname, acme.names, and the autoconfig names that resolve", async () => {
  const config = validateConfig(
    {
      hostname: "mx.a.example",
      domains: ["a.example", "b.example", "c.example"],
      acme: { enabled: true, names: ["www.a.example", "mx.a.example"] },
    },
    "t",
    "/",
  );
  assert.deepEqual(await certificateNames(config, resolver), [
    "mx.a.example",
    "www.a.example",
    "autoconfig.a.example",
    "autoconfig.c.example",
  ]);
});

Deno.test("certificateNames: no autoconfig names without an HTTP listener to serve them", async () => {
  const config = validateConfig(
    {
      hostname: "mx.a.example",
      domains: ["a.example"],
      listen: { https: ["127.0.0.1:8443"] },
      acme: { enabled: true, challenge: "tls-alpn-01" },
    },
    "t",
    "/",
  );
  assert.deepEqual(await certificateNames(config, resolver), [
    "mx.a.example",
    "autoconfig.a.example",
  ]);
  const none = { ...config, listen: { ...config.listen, https: [] } };
  assert.deepEqual(await certificateNames(none, resolver), ["mx.a.example"]);
});
