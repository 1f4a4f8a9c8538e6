import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import { validateConfig } from "./config.ts";

const base = { hostname: "mx.a.example", domains: ["a.example"] };

Deno.test("acme: off by default, and no HTTP listener without it", () => {
  const c = validateConfig(base, "f", "/etc/postie");
  assert.equal(c.acme, undefined);
  assert.deepEqual(c.listen.http, []);
  assert.deepEqual(c.listen.https, []);
});

Deno.test("acme: enabled takes Let's Encrypt, http-01 and port 80 by default", () => {
  const c = validateConfig({ ...base, acme: { enabled: true } }, "f", "/etc/postie");
  assert.deepEqual(c.acme, {
    directory: "https://acme-v02.api.letsencrypt.org/directory",
    challenge: "http-01",
    names: [],
    rotateKey: false,
  });
  assert.deepEqual(c.listen.http, [{ host: "0.0.0.0", port: 80 }]);
});

Deno.test("acme: every key read, paths relative to the config file", () => {
  const c = validateConfig(
    {
      ...base,
      listen: { https: ["0.0.0.0:443"] },
      acme: {
        enabled: true,
        directory: "https://127.0.0.1:14000/dir",
        email: "Alice@A.Example",
        challenge: "tls-alpn-01",
        names: ["Www.A.Example"],
        ca_file: "ca.pem",
        eab: { kid: "kid-1", hmac_key_file: "eab.key" },
        rotate_key: true,
      },
    },
    "f",
    "/etc/postie",
  );
  assert.deepEqual(c.acme, {
    directory: "https://127.0.0.1:14000/dir",
    email: "alice@a.example",
    challenge: "tls-alpn-01",
    names: ["www.a.example"],
    caFile: "/etc/postie/ca.pem",
    eab: { kid: "kid-1", hmacKeyFile: "/etc/postie/eab.key" },
    rotateKey: true,
  });
  // tls-alpn-01 comes to 443: no port 80 listener is opened for it.
  assert.deepEqual(c.listen.http, []);
});

Deno.test("acme: an explicit listen.http wins over the port 80 default", () => {
  const c = validateConfig(
    { ...base, listen: { http: ["127.0.0.1:8081"] }, acme: { enabled: true } },
    "f",
    "/",
  );
  assert.deepEqual(c.listen.http, [{ host: "127.0.0.1", port: 8081 }]);
});

Deno.test("acme: each bad value names its key", async (t) => {
  const on = (acme: Record<string, unknown>, more: Record<string, unknown> = {}) => ({
    ...base,
    ...more,
    acme: { enabled: true, ...acme },
  });
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["enabled not bool", on({ enabled: "yes" }), /"acme.enabled" must be true or false/],
    ["directory not URL", on({ directory: "letsencrypt" }), /"acme.directory" must be a URL/],
    [
      "directory plain http",
      on({ directory: "http://ca.example/dir" }),
      /"acme.directory" must be an https:\/\/ URL/,
    ],
    ["email not address", on({ email: "alice" }), /"acme.email" must be an address/],
    ["email with percent", on({ email: "a%b@x.example" }), /"acme.email" must have a plain/],
    ["challenge", on({ challenge: "dns-01" }), /"acme.challenge" must be http-01 or tls-alpn-01/],
    ["names", on({ names: ["bad name"] }), /"acme.names\[0\]" must be a domain name/],
    ["ca_file empty", on({ ca_file: "" }), /"acme.ca_file" must be a non-empty string/],
    ["eab kid alone", on({ eab: { kid: "k" } }), /"acme.eab.hmac_key_file" is required/],
    ["eab key alone", on({ eab: { hmac_key_file: "k" } }), /"acme.eab.kid" is required/],
    ["eab typo", on({ eab: { key: "k" } }), /"acme.eab.key" is not a known key/],
    ["rotate_key", on({ rotate_key: 1 }), /"acme.rotate_key" must be true or false/],
    ["unknown key", on({ staging: true }), /"acme.staging" is not a known key/],
    [
      "with cert files",
      on({}, { tls: { cert_file: "c.pem", key_file: "k.pem" } }),
      /"acme.enabled" cannot be true while tls.cert_file is set/,
    ],
    [
      "http-01 without http",
      on({}, { listen: { http: [] } }),
      /"listen.http" must not be empty when acme.challenge is http-01/,
    ],
    [
      "tls-alpn-01 without https",
      on({ challenge: "tls-alpn-01" }),
      /"listen.https" must not be empty when acme.challenge is tls-alpn-01/,
    ],
    ["bad http listen", { ...base, listen: { http: ["x:y"] } }, /"listen.http\[0\]" must be/],
  ];
  for (const [name, doc, re] of cases) {
    await t.step(name, () => {
      assert.throws(() => validateConfig(doc, "bad.yaml", "/"), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, re);
        return true;
      });
    });
  }
});
