import assert from "node:assert/strict";
import { parse } from "yaml";
import { embeddedDefault, KNOWN_KEYS, validateConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import { SCHEMA } from "./schema.ts";
import { schemaKeys } from "./schema_reader.ts";

const exampleUrl = new URL("../../config.example.yaml", import.meta.url);

// Keys whose values are mappings with free keys (addresses, domains), not further config keys.
const FREE_KEY_MAPS = schemaKeys(SCHEMA).filter((k) => k.key.type.freeKeys).map((k) => k.path);

function keyPaths(doc: Record<string, unknown>, prefix = ""): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(doc)) {
    const path = prefix ? `${prefix}.${k}` : k;
    out.push(path);
    const isMap = FREE_KEY_MAPS.includes(path);
    if (!isMap && v && typeof v === "object" && !Array.isArray(v)) {
      out.push(...keyPaths(v as Record<string, unknown>, path));
    }
  }
  return out;
}

Deno.test("config.example.yaml documents exactly the known keys and is valid", async () => {
  const doc = parse(await Deno.readTextFile(exampleUrl)) as Record<string, unknown>;
  // The smarthost block is documented commented out (an active one would send all mail
  // through an example provider), and so are keys whose absence means something (no ACME
  // contact address, no EAB); every one of them must be there as a comment.
  const optional = schemaKeys(SCHEMA).filter(({ key }) => key.presence === "optional");
  const commented = KNOWN_KEYS.filter((k) =>
    k.startsWith("outbound.smarthost") ||
    (!keyPaths(doc).includes(k) && optional.some(({ path }) => path === k))
  );
  assert.deepEqual(
    keyPaths(doc).sort(),
    KNOWN_KEYS.filter((k) => !commented.includes(k)).sort(),
  );
  const text = await Deno.readTextFile(exampleUrl);
  for (const k of commented) {
    assert.match(text, new RegExp(`^\\s*#\\s*${k.split(".").at(-1)}:`, "m"), k);
  }
  const c = validateConfig(doc, "config.example.yaml", "/etc/postie");
  assert.equal(c.hostname, "mx.example.com");
  assert.deepEqual(c.domains, ["example.com"]);
  assert.deepEqual(c.aliases.get("postmaster@example.com"), ["alice@example.com"]);
  assert.deepEqual(c.listen.smtp, [{ host: "0.0.0.0", port: 25 }, { host: "::", port: 25 }]);
  assert.equal(c.limits.maxMessageBytes, 26214400);
});

Deno.test("the free-key mappings of the schema are the ones the example shows as maps", () => {
  assert.deepEqual(FREE_KEY_MAPS, [
    "aliases",
    "submission.allowed_senders",
    "outbound.routes",
    "dmarc.domains",
  ]);
});

Deno.test("KNOWN_KEYS are the schema's keys, their sections and the relay fields of smarthost", () => {
  for (const { path } of schemaKeys(SCHEMA)) assert.ok(KNOWN_KEYS.includes(path), path);
  for (const k of KNOWN_KEYS) {
    const isKey = schemaKeys(SCHEMA).some(({ path }) => path === k || k.startsWith(`${path}.`));
    const isSection = schemaKeys(SCHEMA).some(({ path }) => path.startsWith(`${k}.`));
    assert.ok(isKey || isSection, k);
  }
  assert.ok(KNOWN_KEYS.includes("outbound.smarthost.password_file"));
});

Deno.test("validateConfig() applies production defaults for omitted keys", () => {
  const c = validateConfig({ hostname: "mx.a.example", domains: ["A.Example."] }, "f", "/x");
  assert.deepEqual(c.domains, ["a.example"]);
  assert.equal(c.dataDir, "/var/lib/postie");
  assert.deepEqual(c.listen.submission, [{ host: "0.0.0.0", port: 587 }]);
  assert.deepEqual(c.listen.submissions, [{ host: "0.0.0.0", port: 465 }]);
  assert.equal(c.limits.maxConnectionsPerIp, 20);
  assert.equal(c.timeouts.commandSeconds, 300);
  assert.deepEqual(c.dns.nameservers, []);
});

Deno.test("validateConfig() resolves relative paths against the config directory", () => {
  const c = validateConfig(
    {
      hostname: "h.example",
      domains: ["a.example"],
      data_dir: "data",
      tls: { cert_file: "c.pem", key_file: "/k.pem" },
    },
    "f",
    "/etc/postie",
  );
  assert.equal(c.dataDir, "/etc/postie/data");
  assert.equal(c.tls.certFile, "/etc/postie/c.pem");
  assert.equal(c.tls.keyFile, "/k.pem");
});

Deno.test("validateConfig() takes external alias targets as forwards, mixed with local ones", () => {
  const c = validateConfig(
    {
      hostname: "mx.a.example",
      domains: ["a.example"],
      aliases: {
        "me@a.example": "Me.Here@Gmail.Example",
        "team@a.example": ["alice@a.example", "bob@elsewhere.example"],
        "@a.example": "catch@elsewhere.example",
      },
    },
    "f",
    "/",
  );
  // The external local part keeps its case (only its own domain may fold it), the domain not.
  assert.deepEqual(c.aliases.get("me@a.example"), ["Me.Here@gmail.example"]);
  assert.deepEqual(c.aliases.get("team@a.example"), ["alice@a.example", "bob@elsewhere.example"]);
  assert.deepEqual(c.aliases.get("@a.example"), ["catch@elsewhere.example"]);
  assert.deepEqual(c.forwarding, { srs: true, maxPerHour: 200 });
  assert.equal(c.alerts.to, "postmaster@a.example");
  assert.equal(c.reports.address, "dmarc-reports@a.example");
  assert.equal(c.reports.from, "dmarc-noreply@a.example");
  assert.equal(c.rateLimits.onLimit, "hold");
});

Deno.test("embeddedDefault() is a local instance on unprivileged loopback ports", () => {
  const c = embeddedDefault();
  assert.equal(c.hostname, "localhost");
  assert.deepEqual(c.domains, ["localhost"]);
  assert.deepEqual(c.listen.smtp, [{ host: "127.0.0.1", port: 2525 }]);
  assert.deepEqual(c.listen.submission, [{ host: "127.0.0.1", port: 5870 }]);
  assert.deepEqual(c.listen.submissions, [{ host: "127.0.0.1", port: 4650 }]);
  assert.ok(c.dataDir.endsWith("/data"));
});

Deno.test("the admin page listens on loopback only, by default 127.0.0.1:8080", () => {
  const base = { hostname: "mx.a.example", domains: ["a.example"] };
  const c = validateConfig(base, "f", "/x");
  assert.deepEqual(c.listen.admin, [{ host: "127.0.0.1", port: 8080 }]);
  assert.deepEqual(c.admin, { public: false, sessionHours: 12 });
  assert.deepEqual(embeddedDefault().listen.admin, [{ host: "127.0.0.1", port: 8080 }]);
  const loopback = [
    "127.0.0.1:0",
    "127.5.6.7:8080",
    "[::1]:8080",
    "[0:0:0:0:0:0:0:1]:1",
    "localhost:9",
  ];
  const d = validateConfig({ ...base, listen: { admin: loopback } }, "f", "/x");
  assert.deepEqual(d.listen.admin.map((a) => a.host), [
    "127.0.0.1",
    "127.5.6.7",
    "::1",
    "0:0:0:0:0:0:0:1",
    "localhost",
  ]);
  assert.deepEqual(validateConfig({ ...base, listen: { admin: [] } }, "f", "/x").listen.admin, []);
  const pub = validateConfig(
    { ...base, listen: { https: ["0.0.0.0:443"] }, admin: { public: true, session_hours: 720 } },
    "f",
    "/x",
  );
  assert.deepEqual(pub.admin, { public: true, sessionHours: 720 });
  assert.equal(
    validateConfig({ ...base, admin: { session_hours: 1 } }, "f", "/x").admin.sessionHours,
    1,
  );
});

Deno.test("validateConfig() names the key and the reason for each mistake", async (t) => {
  const base = { hostname: "mx.a.example", domains: ["a.example"] };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["missing hostname", { domains: ["a.example"] }, /"hostname" is required/],
    ["bad hostname", { ...base, hostname: "bad host" }, /"hostname" must be a domain name/],
    ["no domains", { ...base, domains: [] }, /"domains" must list at least one domain/],
    ["bad domain", { ...base, domains: ["a..b"] }, /"domains\[0\]" must be a domain name/],
    ["typo key", { ...base, hostnme: "x" }, /"hostnme" is not a known key/],
    [
      "nested typo",
      { ...base, limits: { max_mesage_bytes: 1 } },
      /"limits.max_mesage_bytes" is not a known key/,
    ],
    [
      "bad int",
      { ...base, limits: { max_recipients: "many" } },
      /"limits.max_recipients" must be an integer from 1 to 10000: current value is "many"/,
    ],
    ["zero", { ...base, limits: { max_connections: 0 } }, /"limits.max_connections" must be/],
    [
      "bad listen",
      { ...base, listen: { smtp: ["nope"] } },
      /"listen.smtp\[0\]" must be "host:port"/,
    ],
    ["bad port", { ...base, listen: { smtp: ["1.2.3.4:70000"] } }, /"listen.smtp\[0\]"/],
    ["half tls", { ...base, tls: { cert_file: "a.pem" } }, /"tls.key_file" is required/],
    ["bad level", { ...base, log: { level: "loud" } }, /"log.level" must be one of/],
    ["bad ns", { ...base, dns: { nameservers: ["x:y:z"] } }, /"dns.nameservers\[0\]"/],
    ["ns name", { ...base, dns: { nameservers: ["dns.example"] } }, /"dns.nameservers\[0\]"/],
    ["bad backend", { ...base, dns: { backend: "magic" } }, /"dns.backend" must be stub or deno/],
    [
      "bad bool",
      { ...base, spf: { reject_fail: "yes" } },
      /"spf.reject_fail" must be true or false/,
    ],
    [
      "alias outside domains",
      { ...base, aliases: { "a@b.example": "x@a.example" } },
      /"aliases.a@b.example" must be in one of the local domains/,
    ],
    [
      "forward to a percent hack",
      { ...base, aliases: { "a@a.example": "x%y@elsewhere.example" } },
      /"aliases.a@a.example" must have a plain local part/,
    ],
    [
      "forward to a bang path",
      { ...base, aliases: { "a@a.example": "host!x@elsewhere.example" } },
      /"aliases.a@a.example" must have a plain local part/,
    ],
    [
      "forward to a domain",
      { ...base, aliases: { "a@a.example": "@elsewhere.example" } },
      /targets must be full addresses/,
    ],
    [
      "forward to a bad domain",
      { ...base, aliases: { "a@a.example": "x@bad..example" } },
      /"aliases.a@a.example" must be a domain name/,
    ],
    [
      "forwarding limit",
      { ...base, forwarding: { max_per_hour: 0 } },
      /"forwarding.max_per_hour" must be an integer from 1/,
    ],
    ["forwarding srs", { ...base, forwarding: { srs: "yes" } }, /"forwarding.srs" must be true/],
    ["on_limit", { ...base, rate_limits: { on_limit: "drop" } }, /"rate_limits.on_limit" must be/],
    ["alerts.to", { ...base, alerts: { to: "postmaster" } }, /"alerts.to" must be an address/],
    ["alerts.repeat", { ...base, alerts: { repeat: "often" } }, /"alerts.repeat"/],
    ["bounce_share", { ...base, alerts: { bounce_share: 101 } }, /"alerts.bounce_share"/],
    ["reports.from", { ...base, reports: { from: "a%b@x.example" } }, /"reports.from"/],
    ["reports.interval", { ...base, reports: { interval: -1 } }, /"reports.interval"/],
    [
      "reports.address elsewhere",
      { ...base, reports: { address: "r@elsewhere.example" } },
      /"reports.address" must be in one of the local domains/,
    ],
    [
      "alias percent",
      { ...base, aliases: { "a%b@a.example": "x@a.example" } },
      /must have a plain local part/,
    ],
    ["not a mapping", { ...base, limits: [1] }, /"limits" must be a mapping/],
    [
      "admin on a public address",
      { ...base, listen: { admin: ["0.0.0.0:8080"] } },
      /"listen.admin" must list loopback addresses only .*SSH tunnel.*admin.public.*"0.0.0.0:8080"/,
    ],
    [
      "admin on a LAN address among loopback ones",
      { ...base, listen: { admin: ["127.0.0.1:8080", "[fe80::1]:8080"] } },
      /"listen.admin" must list loopback addresses only.*"\[fe80::1\]:8080"/,
    ],
    ["admin on ::", { ...base, listen: { admin: ["[::]:8080"] } }, /"listen.admin" must list/],
    [
      "admin.public without https",
      { ...base, admin: { public: true } },
      /"admin.public" needs listen.https/,
    ],
    [
      "session_hours 0",
      { ...base, admin: { session_hours: 0 } },
      /"admin.session_hours" must be an integer from 1 to 720/,
    ],
    [
      "session_hours 721",
      { ...base, admin: { session_hours: 721 } },
      /"admin.session_hours" must be an integer from 1 to 720/,
    ],
  ];
  for (const [name, doc, re] of cases) {
    await t.step(name, () => {
      assert.throws(() => validateConfig(doc, "bad.yaml", "/"), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /^Cannot load config "bad.yaml": /);
        assert.match(e.message, re);
        return true;
      });
    });
  }
});
