/**
 * postie gets its certificate from Debian's pebble (RFC 8555) by itself: the server answers the
 * challenges on its own HTTP/HTTPS listeners (http-01 on listen.http, tls-alpn-01 on
 * listen.https), pebble refuses a share of nonces, and the issued certificate is then served,
 * verified up to pebble's root, on every TLS listener (SMTP STARTTLS, 465, IMAP STARTTLS, 993,
 * HTTPS). A restart serves the stored certificate without a new order; a forced renewal swaps
 * the certificate under live IMAP and SMTP sessions that keep working; with the CA down the
 * server still starts and serves STARTTLS, and the failure is in the log and in `postie check`.
 *
 * @module
 */

import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import { TestDnsServer } from "../support/dns_server.ts";
import { startTestServer, type TestServer } from "../support/harness.ts";
import { Imap } from "../support/imap_client.ts";
import { SmtpTestClient, TEST_PASSWORD } from "../support/harness.ts";
import { type Pebble, startPebble } from "../support/pebble.ts";
import { freePort } from "../support/wait.ts";
import { DENO_RUN_FLAGS, MAIN } from "../support/postie_process.ts";
import { readAcmeState } from "../../src/acme/acme_state.ts";
import { requestAndAwaitRenewal } from "../../src/tls/cert_renew_command.ts";

const HOST = "mx.example.test";

/** Poll `cond` until it holds; the message says what was seen when it never does. */
async function waitFor(
  cond: () => boolean | Promise<boolean>,
  ms: number,
  seen: () => string = () => "",
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out; ${seen()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface World {
  pebble: Pebble;
  dns: TestDnsServer;
  t: TestServer;
  root: string;
  close(): Promise<void>;
}

/**
 * The CA, the DNS and postie. The listener ports must be known before pebble starts, so they
 * are picked free first; another process may take one in between (EADDRINUSE): then again.
 */
async function world(
  challenge: "http-01" | "tls-alpn-01",
  opts: { nonceRejectPercent?: number; dataDir?: string } = {},
): Promise<World> {
  for (let attempt = 1;; attempt++) {
    try {
      return await worldOnce(challenge, opts);
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(e))) throw e;
    }
  }
}

async function worldOnce(
  challenge: "http-01" | "tls-alpn-01",
  opts: { nonceRejectPercent?: number; dataDir?: string },
): Promise<World> {
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const dns = await TestDnsServer.start({
    records: [
      { name: HOST, type: "A", data: "127.0.0.1" },
      { name: "autoconfig.example.test", type: "A", data: "127.0.0.1" },
    ],
  });
  const pebble = await startPebble({
    httpPort,
    tlsPort: httpsPort,
    dnsServer: dns.address,
    nonceRejectPercent: opts.nonceRejectPercent ?? 0,
  });
  const dataDir = opts.dataDir ?? await Deno.makeTempDir({ prefix: "postie-acme-" });
  const caFile = join(dataDir, "pebble-https-ca.pem");
  await Deno.writeTextFile(caFile, pebble.caPem);
  let t: TestServer;
  try {
    t = await startTestServer({
      dns,
      dataDir,
      config: {
        listen: { http: [`127.0.0.1:${httpPort}`], https: [`127.0.0.1:${httpsPort}`] },
        acme: {
          enabled: true,
          directory: pebble.directoryUrl,
          ca_file: caFile,
          challenge,
          email: "alice@example.test",
        },
      },
    });
  } catch (e) {
    await pebble.stop();
    await dns.close();
    throw e;
  }
  const root = await pebble.rootPem();
  return {
    pebble,
    dns,
    t,
    root,
    async close() {
      await t.close();
      await pebble.stop();
      await dns.close();
      if (!opts.dataDir) await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** The certificate a TLS handshake on `port` presents, verified against `ca` when given. */
async function peerCertificate(
  port: number,
  mode: "implicit" | "smtp" | "imap",
  ca?: string,
): Promise<{ fingerprint: string; issuer: string; authorized: boolean; error?: string }> {
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((ok, bad) => socket.once("connect", ok).once("error", bad));
  let buf = "";
  const until = (re: RegExp) =>
    new Promise<void>((ok, bad) => {
      const onData = (d: Uint8Array) => {
        buf += new TextDecoder().decode(d);
        if (re.test(buf)) {
          socket.off("data", onData);
          ok();
        }
      };
      socket.on("data", onData);
      socket.once("error", bad);
    });
  if (mode === "smtp") {
    await until(/^220 .*\r\n/m);
    socket.write("EHLO test.example\r\n");
    await until(/^250 .*\r\n/m);
    socket.write("STARTTLS\r\n");
    await until(/^220 .*\r\n/m);
  } else if (mode === "imap") {
    await until(/^\* OK.*\r\n/);
    socket.write("a STARTTLS\r\n");
    await until(/^a OK.*\r\n/m);
  }
  const s = tls.connect({
    socket,
    servername: HOST,
    ...(ca ? { ca } : {}),
    rejectUnauthorized: false,
  });
  await new Promise<void>((ok, bad) => s.once("secureConnect", ok).once("error", bad));
  const cert = s.getPeerCertificate();
  const out = {
    fingerprint: cert.fingerprint256,
    issuer: String(cert.issuer?.CN ?? ""),
    authorized: s.authorized,
    ...(s.authorizationError ? { error: String(s.authorizationError) } : {}),
  };
  s.destroy();
  return out;
}

const LISTENERS = [
  ["smtp", "smtp"],
  ["submission", "smtp"],
  ["submissions", "implicit"],
  ["imap", "imap"],
  ["imaps", "implicit"],
  ["https", "implicit"],
] as const;

async function issued(w: World): Promise<void> {
  await waitFor(
    () => w.t.server.certificates.served?.kind === "acme",
    60_000,
    () => `no certificate: ${JSON.stringify(w.t.server.certificates.state)}\n${w.pebble.output()}`,
  );
}

for (const challenge of ["http-01", "tls-alpn-01"] as const) {
  Deno.test(`ACME ${challenge} against pebble (30% nonces refused): the certificate is served on every TLS listener`, async () => {
    const w = await world(challenge, { nonceRejectPercent: 30 });
    try {
      // Served at once, before any CA answer: the self-signed certificate.
      const before = await peerCertificate(w.t.port("submission"), "smtp");
      assert.equal(before.issuer, HOST);
      await issued(w);
      const served = w.t.server.certificates.served!;
      assert.deepEqual(served.names, [HOST, "autoconfig.example.test"]);
      assert.match(served.issuer, /Pebble/);
      const prints = new Set<string>();
      for (const [kind, mode] of LISTENERS) {
        const c = await peerCertificate(w.t.port(kind), mode, w.root);
        assert.ok(c.authorized, `${kind}: ${c.error}`);
        prints.add(c.fingerprint);
      }
      assert.equal(prints.size, 1, "one certificate on every listener");
      assert.notEqual([...prints][0], before.fingerprint);
      const st = (await readAcmeState(w.t.dataDir))!;
      assert.equal(st.failures, 0);
    } finally {
      await w.close();
    }
  });
}

Deno.test("ACME: a restart serves the stored certificate without a new order", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "postie-acme-" });
  try {
    const w1 = await world("http-01", { dataDir });
    let first: string;
    let success: string | undefined;
    try {
      await issued(w1);
      first = (await peerCertificate(w1.t.port("imaps"), "implicit", w1.root)).fingerprint;
      success = (await readAcmeState(dataDir))!.lastSuccess;
    } finally {
      await w1.close();
    }
    // A new pebble (a new CA): the stored certificate is still served at once, and no order
    // is placed (the new CA could not have issued it, and the state says no new success).
    const w2 = await world("http-01", { dataDir });
    try {
      assert.equal(w2.t.server.certificates.served?.kind, "acme");
      const again = await peerCertificate(w2.t.port("imaps"), "implicit");
      assert.equal(again.fingerprint, first);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await readAcmeState(dataDir))!.lastSuccess, success);
    } finally {
      await w2.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("ACME: `cert renew` swaps the certificate under live IMAP and SMTP sessions", async () => {
  const w = await world("http-01");
  try {
    await issued(w);
    const old = await peerCertificate(w.t.port("imaps"), "implicit", w.root);
    const keyBefore = await Deno.readTextFile(join(w.t.dataDir, "acme", "cert-key.pem"));
    // Live sessions on the old certificate.
    const imap = await Imap.login(w.t.port("imaps"), w.root);
    assert.match(await imap.cmd("S1", "SELECT INBOX"), /^S1 OK/m);
    const smtp = await SmtpTestClient.connectTls(w.t.port("submissions"), w.root);
    assert.equal((await smtp.reply()).code, 220);
    assert.equal((await smtp.cmd("EHLO client.example")).code, 250);
    const plain = btoa(`\0alice@example.test\0${TEST_PASSWORD}`);
    assert.equal((await smtp.cmd(`AUTH PLAIN ${plain}`)).code, 235);

    const r = await requestAndAwaitRenewal(w.t.config, 60_000, 100);
    assert.ok(r.ok, JSON.stringify(r));

    const fresh = await peerCertificate(w.t.port("imaps"), "implicit", w.root);
    assert.ok(fresh.authorized);
    assert.notEqual(fresh.fingerprint, old.fingerprint);
    // The key stays (TLSA 3 1 1 stays valid).
    assert.equal(await Deno.readTextFile(join(w.t.dataDir, "acme", "cert-key.pem")), keyBefore);
    // The old sessions go on.
    assert.match(await imap.cmd("N1", "NOOP"), /^N1 OK/m);
    assert.equal((await smtp.cmd("MAIL FROM:<alice@example.test>")).code, 250);
    assert.equal((await smtp.cmd("RCPT TO:<alice@example.test>")).code, 250);
    assert.equal((await smtp.cmd("DATA")).code, 354);
    const done = await smtp.cmd(
      "From: alice@example.test\r\nSubject: after renewal\r\n\r\nhi\r\n.",
    );
    assert.equal(done.code, 250);
    await waitFor(async () => (await w.t.newMail("alice@example.test")).length === 1, 10_000);
    // The old IMAP session sees the new message (the registry looks at least every second).
    let seen = "";
    await waitFor(async () => /\* 1 EXISTS/.test(seen += await imap.cmd("N2", "NOOP")), 5000);
    imap.close();
    smtp.close();
  } finally {
    await w.close();
  }
});

Deno.test("ACME: with the CA down the server starts, STARTTLS works, and the failure is logged and in `postie check`", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-acme-down-" });
  const dns = await TestDnsServer.start({
    records: [{ name: HOST, type: "A", data: "127.0.0.1" }],
  });
  try {
    const [smtp, http, dead] = [await freePort(), await freePort(), await freePort()];
    const configPath = join(dir, "postie.yaml");
    await Deno.writeTextFile(
      configPath,
      [
        `hostname: ${HOST}`,
        `data_dir: ${join(dir, "data")}`,
        "domains: [example.test]",
        `dns: { nameservers: ["${dns.address}"] }`,
        "listen:",
        `  smtp: ["127.0.0.1:${smtp}"]`,
        "  submission: []",
        "  submissions: []",
        "  imap: []",
        "  imaps: []",
        "  admin: []",
        `  http: ["127.0.0.1:${http}"]`,
        "acme:",
        "  enabled: true",
        `  directory: https://127.0.0.1:${dead}/dir`,
        "",
      ].join("\n"),
    );
    const child = new Deno.Command(Deno.execPath(), {
      env: { DENO_NO_UPDATE_CHECK: "1" },
      args: [...DENO_RUN_FLAGS, MAIN, "serve", "--config", configPath],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let output = "";
    const dec = new TextDecoder();
    const drain = (s: ReadableStream<Uint8Array>) =>
      s.pipeTo(new WritableStream({ write: (c) => void (output += dec.decode(c)) }));
    const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
    try {
      await waitFor(() => /event=acme_failed/.test(output), 30_000, () => output);
      assert.match(output, new RegExp(`127\\.0\\.0\\.1:${dead}`));
      const c = await peerCertificate(smtp, "smtp");
      assert.equal(c.issuer, HOST); // self-signed meanwhile
      const check = await new Deno.Command(Deno.execPath(), {
        env: { DENO_NO_UPDATE_CHECK: "1" },
        args: [...DENO_RUN_FLAGS, MAIN, "check", "--config", configPath],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = dec.decode(check.stdout) + dec.decode(check.stderr);
      assert.match(text, /ACME\s+last error/);
      assert.match(text, new RegExp(`127\\.0\\.0\\.1:${dead}`));
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await drained;
    }
  } finally {
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
