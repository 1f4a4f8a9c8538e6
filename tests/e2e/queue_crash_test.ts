/**
 * kill -9 of a server holding queued mail: after a restart every message is delivered, and
 * (no delivery was in flight at the kill) none twice.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TestDnsServer } from "../support/dns_server.ts";
import { sendMail, SmtpTestClient, startTestServer, type TestServer } from "../support/harness.ts";
import { servePostie } from "../support/postie_process.ts";
import { freePort, waitFor } from "../support/wait.ts";

Deno.test("kill -9 with 20 queued messages: all delivered after restart, none twice", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-crash-" });
  const dns = await TestDnsServer.start();
  dns.setRecords([
    { name: "b.test", type: "MX", data: { preference: 10, exchange: "mx.b.test" } },
    { name: "mx.b.test", type: "A", data: "127.0.0.1" },
  ]);
  const [aPort, bPort] = [await freePort(), await freePort()];
  const configPath = join(dir, "a.yaml");
  await Deno.writeTextFile(
    configPath,
    `hostname: mx.a.test
data_dir: data
domains: [a.test]
listen:
  smtp: ["127.0.0.1:${aPort}"]
  submission: []
  submissions: []
  imap: []
  imaps: []
  admin: []
dns: { nameservers: ["${dns.address}"] }
relay: { trusted_networks: [127.0.0.1] }
outbound: { port: ${bPort} }
queue: { retry_initial: 1s, retry_max: 1s }
`,
  );
  let a: Deno.ChildProcess | undefined = servePostie(configPath);
  let b: TestServer | undefined;
  try {
    await waitFor("A to listen", async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: aPort })).close();
        return true;
      } catch {
        return undefined;
      }
    });
    const c = await SmtpTestClient.connect(aPort);
    await c.reply();
    for (let i = 0; i < 20; i++) {
      const r = await sendMail(c, "app@a.test", ["bob@b.test"], `Subject: crash ${i}\r\n\r\nx`);
      assert.equal(r.code, 250, r.raw);
      await c.cmd("RSET");
    }
    c.close();
    // B is not running: every message is queued. Kill A without warning.
    a.kill("SIGKILL");
    await a.status;
    a = undefined;
    b = await startTestServer({
      config: {
        hostname: "mx.b.test",
        domains: ["b.test"],
        listen: {
          smtp: [`127.0.0.1:${bPort}`],
          submission: [],
          submissions: [],
          imap: [],
          imaps: [],
        },
      },
      accounts: ["bob@b.test"],
    });
    a = servePostie(configPath);
    const texts = await waitFor("all 20 at B", async () => {
      const files = await b!.newMail("bob@b.test");
      if (files.length < 20) return undefined;
      return await Promise.all(files.map((f) => Deno.readTextFile(f)));
    }, 30_000);
    await new Promise((r) => setTimeout(r, 1500)); // a duplicate would arrive meanwhile
    const subjects = (await Promise.all((await b.newMail("bob@b.test")).map((f) =>
      Deno.readTextFile(f)
    )))
      .map((t) => /\r\nSubject: (crash \d+)\r\n/.exec(t)?.[1]);
    assert.equal(texts.length, 20);
    assert.equal(subjects.length, 20, "none twice");
    assert.deepEqual(new Set(subjects).size, 20, "every message once");
  } finally {
    if (a) {
      a.kill("SIGKILL");
      await a.status;
    }
    await b?.close();
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
