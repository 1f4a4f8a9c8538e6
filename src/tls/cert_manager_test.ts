import assert from "node:assert/strict";
import { join } from "node:path";
import { validateConfig } from "../config/config.ts";
import type { Config } from "../config/config.ts";
import { TlsContext } from "../listen/tls_context.ts";
import { acmePaths, readAcmeState, requestRenewal } from "../acme/acme_state.ts";
import { CertManager, type IssueFailure, type Issuer } from "./cert_manager.ts";
import { importCertKey } from "./cert_key.ts";
import { generateSelfSigned } from "./certificate.ts";
import { testCa } from "./_testing.ts";

const DAY = 86400_000;

function acmeConfig(dataDir: string, more: Record<string, unknown> = {}): Config {
  return validateConfig(
    {
      hostname: "mx.a.example",
      domains: ["a.example"],
      data_dir: dataDir,
      listen: { http: ["127.0.0.1:0"] },
      acme: { enabled: true, directory: "https://127.0.0.1:1/dir", ...more },
    },
    "test",
    dataDir,
  );
}

/** An issuer backed by a test CA, failing while `fail` holds a failure. */
async function fakeIssuer(opts: { validityDays?: number } = {}) {
  const ca = await testCa();
  const calls: { names: string[]; key: CryptoKeyPair }[] = [];
  const state: { fail: IssueFailure | null } = { fail: null };
  const issuer: Issuer = {
    async issue(names, key) {
      calls.push({ names, key });
      if (state.fail) throw state.fail;
      const certPem = await ca.issue(names, key.publicKey, {
        notAfter: new Date(Date.now() + (opts.validityDays ?? 90) * DAY),
      });
      return { certPem };
    },
    renewalWindow: () => Promise.resolve(null),
    describe: (e) => e as IssueFailure,
  };
  return { issuer, calls, state };
}

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function start(
  config: Config,
  issuer: Issuer,
  extra: { notices?: string[]; now?: () => Date; tls?: TlsContext } = {},
) {
  return CertManager.start({
    config,
    tls: extra.tls ?? new TlsContext(),
    issuer: () => issuer,
    names: (c) => Promise.resolve([c.hostname, "autoconfig.a.example"]),
    notify: (subject, body) => {
      extra.notices?.push(`${subject}\n${body}`);
      return Promise.resolve();
    },
    pollMs: 20,
    ...(extra.now ? { now: extra.now } : {}),
  });
}

Deno.test("CertManager: self-signed at once, the ACME certificate swapped in when issued", async () => {
  await withDir(async (dir) => {
    const { issuer, calls } = await fakeIssuer();
    const tls = new TlsContext();
    const m = await start(acmeConfig(dir), issuer, { tls });
    try {
      // The listeners never wait for the CA: something is served from the first moment.
      const first = tls.current;
      assert.ok(first);
      await until(() => m.served?.kind === "acme");
      assert.notEqual(tls.current, first);
      assert.deepEqual(m.served?.names, ["mx.a.example", "autoconfig.a.example"]);
      assert.equal(m.served?.issuer, "CN=postie test CA");
      assert.equal(calls.length, 1);
      const st = (await readAcmeState(dir))!;
      assert.equal(st.failures, 0);
      assert.ok(st.lastSuccess);
      const mode = (await Deno.stat(acmePaths(dir).certKey)).mode! & 0o777;
      assert.equal(mode, 0o600);
    } finally {
      await m.stop();
    }
  });
});

Deno.test("CertManager: a restart serves the stored certificate without a new order", async () => {
  await withDir(async (dir) => {
    const { issuer, calls } = await fakeIssuer();
    const m1 = await start(acmeConfig(dir), issuer);
    await until(() => m1.served?.kind === "acme");
    const notAfter = m1.served!.notAfter;
    await m1.stop();
    const m2 = await start(acmeConfig(dir), issuer);
    try {
      assert.equal(m2.served?.kind, "acme");
      assert.equal(m2.served?.notAfter.getTime(), notAfter.getTime());
      await new Promise((r) => setTimeout(r, 100)); // several ticks
      assert.equal(calls.length, 1);
    } finally {
      await m2.stop();
    }
  });
});

Deno.test("CertManager: renewal at two thirds keeps the key; rotate_key makes a new one", async () => {
  await withDir(async (dir) => {
    const { issuer, calls } = await fakeIssuer();
    let now = new Date();
    const m = await start(acmeConfig(dir), issuer, { now: () => now });
    try {
      await until(() => m.served?.kind === "acme");
      const key1 = await Deno.readTextFile(acmePaths(dir).certKey);
      now = new Date(Date.now() + 61 * DAY); // past two thirds of 90 days
      await until(() => calls.length === 2);
      await until(() => m.state.lastSuccess === now.toISOString());
      assert.equal(await Deno.readTextFile(acmePaths(dir).certKey), key1);
    } finally {
      await m.stop();
    }
    const m2 = await start(acmeConfig(dir, { rotate_key: true }), issuer);
    try {
      const key1 = await Deno.readTextFile(acmePaths(dir).certKey);
      await m2.renewNow();
      const key2 = await Deno.readTextFile(acmePaths(dir).certKey);
      assert.notEqual(key2, key1);
      await importCertKey(key2);
    } finally {
      await m2.stop();
    }
  });
});

Deno.test("CertManager: failures are recorded, paused, and the postmaster told after three", async () => {
  await withDir(async (dir) => {
    const { issuer, calls, state } = await fakeIssuer();
    state.fail = {
      type: "urn:ietf:params:acme:error:connection",
      detail: "Connection refused to 203.0.113.1:80",
      status: 400,
      rateLimited: false,
    };
    let now = new Date("2026-12-01T00:00:00Z");
    const notices: string[] = [];
    const m = await start(acmeConfig(dir), issuer, { now: () => now, notices });
    try {
      await until(() => m.state.failures === 1);
      assert.equal(m.served?.kind, "self_signed");
      // Inside the pause nothing is retried.
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(calls.length, 1);
      const st = (await readAcmeState(dir))!;
      assert.equal(st.lastError?.detail, "Connection refused to 203.0.113.1:80");
      assert.equal(st.nextAttempt, "2026-12-01T00:05:00.000Z");
      assert.equal(notices.length, 0);
      now = new Date("2026-12-01T00:06:00Z");
      await until(() => m.state.failures === 2);
      now = new Date("2026-12-01T00:30:00Z");
      await until(() => m.state.failures === 3);
      await until(() => notices.length === 1);
      assert.match(notices[0]!, /^Certificate for mx\.a\.example not renewed/);
      assert.match(notices[0]!, /Connection refused to 203\.0\.113\.1:80/);
      assert.match(notices[0]!, /postie cert renew/);
      // A fourth failure the same day does not repeat the notice.
      now = new Date("2026-12-01T03:00:00Z");
      await until(() => m.state.failures === 4);
      assert.equal(notices.length, 1);
      // Then it works.
      state.fail = null;
      now = new Date("2026-12-01T20:00:00Z");
      await until(() => m.served?.kind === "acme");
      await until(() => m.state.failures === 0);
    } finally {
      await m.stop();
    }
  });
});

Deno.test("CertManager: a rate limit waits for hours (and for Retry-After)", async () => {
  await withDir(async (dir) => {
    const { issuer, state } = await fakeIssuer();
    const retryAfter = new Date("2026-12-01T09:00:00Z");
    state.fail = {
      type: "urn:ietf:params:acme:error:rateLimited",
      detail: "too many certificates already issued",
      status: 429,
      rateLimited: true,
      retryAfter,
    };
    const now = new Date("2026-12-01T00:00:00Z");
    const m = await start(acmeConfig(dir), issuer, { now: () => now });
    try {
      await until(() => m.state.failures === 1);
      assert.equal(m.state.nextAttempt, retryAfter.toISOString());
    } finally {
      await m.stop();
    }
  });
});

Deno.test("CertManager: `postie cert renew` (a request file) orders at once", async () => {
  await withDir(async (dir) => {
    const { issuer, calls } = await fakeIssuer();
    const m = await start(acmeConfig(dir), issuer);
    try {
      await until(() => m.served?.kind === "acme");
      const before = m.state.lastSuccess;
      await requestRenewal(dir);
      await until(() => calls.length === 2);
      await until(() => m.state.lastSuccess !== before);
      // The request is taken once.
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(calls.length, 2);
    } finally {
      await m.stop();
    }
  });
});

Deno.test("CertManager: tls.cert_file is read again when it changes on disk", async () => {
  await withDir(async (dir) => {
    const certFile = join(dir, "fullchain.pem");
    const keyFile = join(dir, "privkey.pem");
    const a = await generateSelfSigned("one.a.example");
    await Deno.writeTextFile(certFile, a.certPem);
    await Deno.writeTextFile(keyFile, a.keyPem);
    const config = validateConfig(
      {
        hostname: "mx.a.example",
        domains: ["a.example"],
        data_dir: dir,
        tls: { cert_file: certFile, key_file: keyFile },
      },
      "test",
      dir,
    );
    const tls = new TlsContext();
    const { issuer, calls } = await fakeIssuer();
    const m = await start(config, issuer, { tls });
    try {
      assert.deepEqual(m.served?.names, ["one.a.example"]);
      const first = tls.current;
      // certbot renews: first the key, then the chain. The half pair is not taken.
      const b = await generateSelfSigned("two.a.example");
      await Deno.writeTextFile(keyFile, b.keyPem);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(m.served?.names, ["one.a.example"]);
      assert.equal(tls.current, first);
      await Deno.writeTextFile(certFile, b.certPem);
      await until(() => m.served?.names[0] === "two.a.example");
      assert.notEqual(tls.current, first);
      assert.equal(calls.length, 0);
    } finally {
      await m.stop();
    }
  });
});
