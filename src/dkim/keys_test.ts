import assert from "node:assert/strict";
import { join } from "node:path";
import {
  activeSigningKeys,
  type DkimDomainKey,
  importSigningKey,
  keygenSelector,
  loadDomainKeys,
  loadOrCreateDomainKeys,
  rotateDomainKeys,
} from "./keys.ts";
import { signMessage } from "./sign.ts";
import { parseTagList } from "./tag_list.ts";
import { verifyMessage } from "./verify.ts";
import { CONFORMANCE, crlf, prepend, withDns } from "./_testing.ts";

const DOMAIN = "example.com";
const MESSAGE = crlf("From: a@example.com\nSubject: hi\n\nHello\n");

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-dkim-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function summary(keys: DkimDomainKey[]): string[] {
  return keys.map((k) => `${k.selector} ${k.algorithm} ${k.created.toISOString()}`);
}

async function signVerifies(keys: DkimDomainKey[]): Promise<string[]> {
  const zone: Record<string, string> = {};
  for (const k of keys) zone[`${k.selector}._domainkey.${DOMAIN}`] = k.dnsRecord;
  const fields = await signMessage(MESSAGE, keys, { domain: DOMAIN });
  return await withDns(zone, async (resolver) => {
    const results = await verifyMessage(prepend(fields, MESSAGE), { resolver });
    return results.map((r) => `${r.selector}:${r.result}`);
  });
}

Deno.test("loadOrCreateDomainKeys() creates one RSA and one Ed25519 key, then reloads them", async () => {
  await withTempDir(async (dataDir) => {
    const now = new Date("2026-03-01T12:00:00Z");
    const created = await loadOrCreateDomainKeys(dataDir, "Example.COM", now);
    assert.deepEqual(summary(created), [
      "ed2026a ed25519-sha256 2026-03-01T12:00:00.000Z",
      "rsa2026a rsa-sha256 2026-03-01T12:00:00.000Z",
    ]);
    const dir = join(dataDir, "dkim", "example.com");
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["ed2026a.ed25519.key", "rsa2026a.rsa.key"]);
    for (const name of names) {
      assert.equal((await Deno.stat(join(dir, name))).mode! & 0o777, 0o600, name);
      const text = await Deno.readTextFile(join(dir, name));
      assert.match(text, /^DKIM selector: \w+\nDomain: Example\.COM\nCreated: 2026-03-01T/);
      assert.match(
        text,
        /\n-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/,
      );
    }
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(join(dataDir, "dkim"))).mode! & 0o777, 0o700);

    const [ed, rsa] = created;
    assert.match(rsa!.dnsRecord, /^v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA/);
    // RFC 8463 §4.2: the raw 32-byte key, 44 base64 characters.
    assert.match(ed!.dnsRecord, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);

    // A second call, even a year later, loads the same keys.
    const again = await loadOrCreateDomainKeys(dataDir, "example.com", new Date("2027-06-01"));
    assert.deepEqual(summary(again), summary(created));
    assert.deepEqual(again.map((k) => k.dnsRecord), created.map((k) => k.dnsRecord));
    assert.deepEqual(await signVerifies(again), ["ed2026a:pass", "rsa2026a:pass"]);
    // Keys loaded from disk sign like the ones just created (same records).
    assert.deepEqual(await signVerifies(activeSigningKeys(created)), [
      "rsa2026a:pass",
      "ed2026a:pass",
    ]);
  });
});

Deno.test("loadOrCreateDomainKeys() called concurrently creates a single set", async () => {
  await withTempDir(async (dataDir) => {
    const now = new Date("2026-05-05T00:00:00Z");
    const all = await Promise.all(
      [1, 2, 3].map(() => loadOrCreateDomainKeys(dataDir, DOMAIN, now)),
    );
    for (const keys of all) {
      assert.deepEqual(
        keys.map((k) => k.dnsRecord),
        all[0]!.map((k) => k.dnsRecord),
      );
    }
    const names = [];
    for await (const e of Deno.readDir(join(dataDir, "dkim", DOMAIN))) names.push(e.name);
    assert.equal(names.length, 2, `no temporary files left: ${names}`);
  });
});

Deno.test("rotation adds selectors; the newest key of each algorithm signs", async () => {
  await withTempDir(async (dataDir) => {
    await loadOrCreateDomainKeys(dataDir, DOMAIN, new Date("2026-01-10T00:00:00Z"));
    const rotated = await rotateDomainKeys(dataDir, DOMAIN, new Date("2026-07-01T00:00:00Z"));
    assert.deepEqual(rotated.map((k) => k.selector), [
      "ed2026a",
      "rsa2026a",
      "ed2026b",
      "rsa2026b",
    ]);
    assert.deepEqual(activeSigningKeys(rotated).map((k) => k.selector), ["rsa2026b", "ed2026b"]);

    // One algorithm only, with a selector of our choosing.
    const [only] = await keygenSelector(
      dataDir,
      DOMAIN,
      "mail",
      "rsa-sha256",
      new Date("2027-02-01T00:00:00Z"),
    );
    assert.equal(only!.selector, "mail");
    assert.equal(only!.algorithm, "rsa-sha256");
    const all = await loadDomainKeys(dataDir, DOMAIN);
    assert.equal(all.length, 5);
    assert.deepEqual(activeSigningKeys(all).map((k) => k.selector), ["mail", "ed2026b"]);
    // The old keys still load and verify (their records stay published during rotation).
    assert.deepEqual(await signVerifies(all.filter((k) => k.selector.endsWith("a"))), [
      "ed2026a:pass",
      "rsa2026a:pass",
    ]);

    // A selector is never overwritten.
    await assert.rejects(
      keygenSelector(dataDir, DOMAIN, "mail", "rsa-sha256"),
      Deno.errors.AlreadyExists,
    );
    await assert.rejects(keygenSelector(dataDir, DOMAIN, "2026a"), Deno.errors.AlreadyExists);
    assert.equal((await loadDomainKeys(dataDir, DOMAIN)).length, 5);
  });
});

Deno.test("key storage refuses names that could escape the data directory", async () => {
  await withTempDir(async (dataDir) => {
    await assert.rejects(loadOrCreateDomainKeys(dataDir, "../etc"), TypeError);
    await assert.rejects(loadOrCreateDomainKeys(dataDir, "a/b.example"), TypeError);
    await assert.rejects(keygenSelector(dataDir, DOMAIN, "../x", "rsa-sha256"), TypeError);
    await assert.rejects(keygenSelector(dataDir, DOMAIN, "UPPER", "ed25519-sha256"), TypeError);
    assert.deepEqual(await loadDomainKeys(dataDir, "never.example"), []);
  });
});

Deno.test("importSigningKey() reads PKCS#1 PEM and Ed25519 seeds, and derives the records", async () => {
  const rsa = await importSigningKey(
    await Deno.readTextFile(new URL("dkimpy/test.private", CONFORMANCE)),
    { selector: "test", algorithm: "rsa-sha256" },
  );
  const published = await Deno.readTextFile(new URL("dkimpy/test.txt", CONFORMANCE));
  assert.equal(parseTagList(rsa.dnsRecord).get("p"), parseTagList(published).get("p"));

  const ed = await importSigningKey(
    await Deno.readTextFile(new URL("dkimpy/ed25519test.key", CONFORMANCE)),
    { selector: "test", algorithm: "ed25519-sha256" },
  );
  const edPublished = await Deno.readTextFile(new URL("dkimpy/ed25519test.dns", CONFORMANCE));
  assert.equal(parseTagList(ed.dnsRecord).get("p"), parseTagList(edPublished).get("p"));

  await assert.rejects(
    importSigningKey(await Deno.readTextFile(new URL("dkimpy/test.private", CONFORMANCE)), {
      selector: "x",
      algorithm: "ed25519-sha256",
    }),
    TypeError,
  );
  await assert.rejects(
    importSigningKey("not a key!", { selector: "x", algorithm: "rsa-sha256" }),
    TypeError,
  );
});
