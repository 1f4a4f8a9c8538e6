/**
 * `postie quickstart` as a user runs it: a separate process writing real files into a temp
 * directory, then `postie config check` on what it wrote, the account store, the keys on disk,
 * and a second run that must change nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AccountStore } from "../../src/accounts/store.ts";
import { verifyPassword } from "../../src/accounts/password.ts";
import { loadDomainKeys } from "../../src/dkim/mod.ts";
import { keySpkiSha256 } from "../../src/tls/served_certificate.ts";
import { parseZone } from "../support/zone.ts";
import { runPostie as postie } from "../support/postie_process.ts";

/**
 * Every file under `dir`: its content (base64) and mtime; directories by name only (opening
 * accounts.db makes SQLite's -wal and -shm files come and go, which touches the directory).
 */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) {
        out.set(p + "/", "dir");
        await walk(p);
      } else {
        const st = await Deno.lstat(p);
        const bytes = await Deno.readFile(p);
        out.set(p, `mtime=${st.mtime?.getTime()} ${btoa(String.fromCharCode(...bytes))}`);
      }
    }
  };
  await walk(dir);
  return out;
}

/** The zone-file lines of the output, as records. */
function zoneOf(stdout: string) {
  return parseZone(stdout.split("\n").filter((l) => /^\S+\. 3600 IN /.test(l)).join("\n"));
}

Deno.test("postie quickstart sets up a server once; a second run changes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-quickstart-" });
  try {
    const etc = join(dir, "etc"), data = join(dir, "data");
    const args = ["quickstart", "Alice@Example.TEST", "--dir", etc, "--data-dir", data];
    const first = await postie(args);
    assert.equal(first.code, 0, first.stderr);
    const configPath = join(etc, "postie.yaml");
    assert.match(
      first.stdout,
      new RegExp(`^Config: +wrote ${configPath} \\(hostname mail\\.example\\.test`, "m"),
    );

    // The written config passes config check.
    const check = await postie(["config", "check", "--config", configPath]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /OK \(hostname mail\.example\.test, domains example\.test\)/);
    const yaml = await Deno.readTextFile(configPath);
    assert.match(yaml, /^ {2}postmaster@example\.test: alice@example\.test$/m);
    assert.match(yaml, /^ {2}abuse@example\.test: alice@example\.test$/m);
    assert.match(yaml, /^ {2}email: alice@example\.test$/m);

    // The password printed once verifies against the account store.
    const pw = /^Account: +created alice@example\.test with the password: (\S+)$/m.exec(
      first.stdout,
    )
      ?.[1];
    assert.ok(pw, first.stdout);
    const accounts = await AccountStore.open(data);
    try {
      const acct = accounts.get("alice@example.test");
      assert.ok(acct);
      assert.equal(acct.admin, true, "the owner's account is an admin");
      assert.equal(await verifyPassword(pw, acct.passwordHash), true);
      assert.equal(await verifyPassword(pw + "x", acct.passwordHash), false);
    } finally {
      accounts.close();
    }
    for (const sub of ["cur", "new", "tmp"]) {
      assert.ok((await Deno.stat(join(data, "mail", "example.test", "alice", sub))).isDirectory);
    }

    // The DKIM records printed are the keys on disk; the TLSA record is the certificate key.
    const zone = zoneOf(first.stdout);
    const keys = await loadDomainKeys(data, "example.test");
    assert.equal(keys.length, 2);
    for (const k of keys) {
      const r = zone.find((z) => z.name === `${k.selector}._domainkey.example.test`);
      assert.ok(r && r.type === "TXT", `no record for ${k.selector}`);
      assert.equal([r.data].flat().join(""), k.dnsRecord);
    }
    const certKey = await Deno.readTextFile(join(data, "acme", "cert-key.pem"));
    assert.equal((await Deno.stat(join(data, "acme", "cert-key.pem"))).mode! & 0o777, 0o600);
    const tlsa = zone.find((z) => (z.type as string) === "TLSA");
    assert.equal(tlsa?.name, "_25._tcp.mail.example.test");
    assert.equal(tlsa?.data, `3 1 1 ${await keySpkiSha256(certKey)}`);
    assert.ok(zone.some((z) => z.name === "mail.example.test" && (z.type as string) === "CAA"));
    assert.ok(!zone.some((z) => z.name === "example.test" && (z.type as string) === "CAA"));
    assert.ok(zone.some((z) => z.name === "_imaps._tcp.example.test"));
    assert.ok(zone.some((z) => z.name === "example.test" && z.type === "MX"));
    // The reminders and the client settings.
    assert.match(first.stdout, /A and AAAA records of mail\.example\.test/);
    assert.match(
      first.stdout,
      /PTR \(reverse DNS\) of each of those addresses: mail\.example\.test/,
    );
    assert.match(first.stdout, /^ {2}IMAP: +mail\.example\.test port 993, TLS/m);
    assert.match(first.stdout, /port 465, TLS \(SSL\/TLS\); or port 587, STARTTLS/);
    assert.match(first.stdout, /^ {2}Username: +alice@example\.test$/m);
    assert.match(first.stdout, new RegExp(`postie check --config ${configPath}`));
    assert.match(first.stdout, /systemctl enable --now postie/);

    // Second run: every file as it was (content and mtime), and the output says so.
    const before = await snapshot(dir);
    const second = await postie(args);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(await snapshot(dir), before);
    for (const what of ["Config", "Account", "Mailbox", "DKIM", "TLS key"]) {
      assert.match(second.stdout, new RegExp(`^${what}: +left alone`, "m"));
    }
    assert.match(second.stdout, /^Nothing was changed/m);
    assert.doesNotMatch(second.stdout, /password: /);
    // The same records again, from the same keys.
    assert.deepEqual(zoneOf(second.stdout), zone);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("postie quickstart refuses a bad address with a clear message and writes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-quickstart-bad-" });
  try {
    const cases: [string, RegExp][] = [
      ["alice+tag@example.test", /Invalid address "alice\+tag@example\.test": the local part/],
      ["al ice@example.test", /Invalid address "al ice@example\.test": the local part/],
      ["alice@exa_mple.test", /Invalid address "alice@exa_mple\.test": invalid domain label/],
      ["alice@localhost", /"localhost" is not a public domain name/],
      ["example.test", /Invalid address "example\.test": expected local@domain/],
    ];
    for (const [address, message] of cases) {
      const r = await postie(["quickstart", address, "--dir", dir, "--data-dir", join(dir, "d")]);
      assert.equal(r.code, 1, address);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, "no stack trace");
    }
    const bad = await postie([
      "quickstart",
      "a@example.test",
      "--hostname",
      "bad_host.test",
      "--dir",
      dir,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Invalid --hostname "bad_host\.test": invalid domain label/);
    assert.equal((await postie(["quickstart"])).code, 2);
    assert.deepEqual(await snapshot(dir), new Map());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
