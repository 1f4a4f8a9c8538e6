/**
 * IMAP durability across a crash: postie runs as a separate process; APPENDs are acknowledged
 * with a tagged `OK [APPENDUID ...]` (RFC 4315 §3) and the process is killed with SIGKILL right
 * after the last one. After a restart every acknowledged message is there under the same
 * UIDVALIDITY and UID, with exactly the bytes appended, and with the flags given at APPEND.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { AccountStore } from "../../src/accounts/store.ts";
import { TestDnsServer } from "../support/dns_server.ts";
import { TEST_PASSWORD } from "../support/harness.ts";
import { Imap } from "../support/imap_client.ts";
import { servePostie } from "../support/postie_process.ts";
import { freePort, waitFor } from "../support/wait.ts";

async function listening(port: number): Promise<void> {
  await waitFor(`postie on ${port}`, async () => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      return undefined;
    }
  }, 30_000);
}

/** By UID: "flags|body" of each FETCH response (\Recent left out: it is per session). */
function bodiesByUid(fetch: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) BODY\[\] \{(\d+)\}\r\n/g;
  for (let m; (m = re.exec(fetch)) !== null;) {
    const start = m.index + m[0].length;
    const flags = m[2]!.split(" ").filter((f) => f !== "" && f !== "\\Recent").sort();
    out.set(m[1]!, `${flags.join(" ")}|${fetch.slice(start, start + Number(m[3]))}`);
  }
  return out;
}

Deno.test("IMAP: kill -9 right after the tagged OK to APPEND keeps every message, UID and byte", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-imap-crash-" });
  const dns = await TestDnsServer.start();
  const port = await freePort();
  const dataDir = join(dir, "data");
  const configPath = join(dir, "postie.yaml");
  await Deno.writeTextFile(
    configPath,
    `hostname: mx.example.test
data_dir: ${JSON.stringify(dataDir)}
domains: [example.test]
listen:
  smtp: []
  submission: []
  submissions: []
  imap: []
  imaps: ["127.0.0.1:${port}"]
  admin: []
dns: { nameservers: ["${dns.address}"] }
`,
  );
  const accounts = await AccountStore.open(dataDir);
  await accounts.add("alice", "example.test", TEST_PASSWORD);
  accounts.close();

  // Different shapes: short, no final CRLF, a long line, a bigger body, odd octets.
  const messages = [
    "Subject: one\r\n\r\nfirst\r\n",
    "Subject: two\r\n\r\nno final line break",
    `Subject: three\r\n\r\n${"x".repeat(5000)}\r\n`,
    `Subject: four\r\n\r\n${"line of a bigger body\r\n".repeat(4000)}`,
    "Subject: five\r\nX-Odd: tab\there ~!@#$%^&*()\r\n\r\n.\r\n..\r\nFrom me\r\n",
  ];
  const flags = ["\\Seen", "", "\\Flagged \\Draft", "$Forwarded", "\\Answered"];
  let p: Deno.ChildProcess | undefined = servePostie(configPath);
  const c: Imap[] = [];
  try {
    await listening(port);
    const ca = await Deno.readTextFile(join(dataDir, "tls", "selfsigned-cert.pem"));
    const a = await Imap.login(port, ca);
    c.push(a);
    const appended: { validity: string; uid: string; flags: string; body: string }[] = [];
    for (const [i, body] of messages.entries()) {
      const r = await a.cmd(`A${i}`, `APPEND INBOX (${flags[i]}) {${body.length}+}\r\n${body}`);
      const m = new RegExp(`^A${i} OK \\[APPENDUID (\\d+) (\\d+)\\]`, "m").exec(r);
      assert.ok(m, r);
      appended.push({ validity: m[1]!, uid: m[2]!, flags: flags[i]!, body });
    }
    // Straight after the last tagged OK: no clean shutdown, no chance to flush anything.
    p.kill("SIGKILL");
    await p.status;
    p = undefined;
    a.close();

    assert.equal(new Set(appended.map((x) => x.validity)).size, 1);
    assert.equal(new Set(appended.map((x) => x.uid)).size, messages.length);
    p = servePostie(configPath);
    await listening(port);
    const b = await Imap.login(port, ca);
    c.push(b);
    const sel = await b.cmd("S1", "SELECT INBOX");
    assert.match(sel, new RegExp(`\\[UIDVALIDITY ${appended[0]!.validity}\\]`));
    assert.match(sel, new RegExp(`^\\* ${messages.length} EXISTS\r$`, "m"));
    const got = bodiesByUid(await b.cmd("F1", "UID FETCH 1:* (UID FLAGS BODY.PEEK[])"));
    assert.equal(got.size, messages.length);
    for (const x of appended) {
      const [gotFlags, gotBody] = got.get(x.uid)?.split(/\|(.*)/s) ?? [];
      assert.ok(gotBody !== undefined, `UID ${x.uid} missing`);
      assert.ok(gotBody === x.body, `UID ${x.uid}: bytes differ`);
      const want = x.flags.split(" ").filter((f) => f !== "").sort();
      assert.equal(gotFlags, want.join(" "), `UID ${x.uid}: flags`);
    }
  } finally {
    for (const x of c) x.close();
    if (p) {
      p.kill("SIGKILL");
      await p.status;
    }
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
