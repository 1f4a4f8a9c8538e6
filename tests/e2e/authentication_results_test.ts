/**
 * DKIM, SPF and DMARC between two postie instances: A (a.test) signs what its users send, B
 * (b.test) verifies and records three passes; forged From: domains meet their DMARC policy.
 */
import assert from "node:assert/strict";
import { loadDomainKeys } from "../../src/dkim/mod.ts";
import {
  sendMail,
  serverCert,
  SmtpTestClient,
  startTestServer,
  TEST_PASSWORD,
  type TestServer,
  withServerPair,
} from "../support/harness.ts";
import type { ZoneRecord } from "../support/dns_server.ts";
import { waitFor } from "../support/wait.ts";

async function find(t: TestServer, who: string, needle: string, folder = "new") {
  await t.server.spool.idle();
  const [local, domain] = who.split("@") as [string, string];
  const dir = folder === "new"
    ? `${t.dataDir}/mail/${domain}/${local}/new`
    : `${t.dataDir}/mail/${domain}/${local}/.${folder}/new`;
  try {
    for await (const e of Deno.readDir(dir)) {
      const text = await Deno.readTextFile(`${dir}/${e.name}`);
      if (text.includes(needle)) return text;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return undefined;
}

function pair(fn: (a: TestServer, b: TestServer) => Promise<void>): Promise<void> {
  return withServerPair(async (a, b) => {
    // What a.test publishes, as seen by B: SPF, its DKIM keys, DMARC p=reject.
    const keys = await loadDomainKeys(a.dataDir, "a.test");
    const zone: ZoneRecord[] = [
      { name: "a.test", type: "TXT", data: "v=spf1 ip4:127.0.0.1 -all" },
      { name: "mx.a.test", type: "A", data: "127.0.0.1" },
      { name: "_dmarc.a.test", type: "TXT", data: "v=DMARC1; p=reject" },
      { name: "_dmarc.q.test", type: "TXT", data: "v=DMARC1; p=quarantine" },
      ...keys.map((k) => ({
        name: `${k.selector}._domainkey.a.test`,
        type: "TXT" as const,
        data: k.dnsRecord,
      })),
    ];
    b.dns.setRecords(zone);
    await fn(a, b);
  });
}

Deno.test("mail from A to B carries spf=pass, two dkim=pass and dmarc=pass", async () => {
  await pair(async (a, b) => {
    const c = await SmtpTestClient.connect(a.port("submission"));
    await c.reply();
    await c.cmd("EHLO laptop.a.test");
    await c.starttls(await serverCert(a), "mx.a.test");
    await c.cmd("EHLO laptop.a.test");
    assert.equal((await c.cmd(`AUTH PLAIN ${btoa(`\0alice@a.test\0${TEST_PASSWORD}`)}`)).code, 235);
    await c.cmd("MAIL FROM:<alice@a.test>");
    await c.cmd("RCPT TO:<bob@b.test>");
    await c.cmd("DATA");
    await c.send(
      "From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: three passes\r\n\r\nHi Bob.\r\n.\r\n",
    );
    assert.equal((await c.reply()).code, 250);
    c.close();
    const text = await waitFor("delivery to B", () => find(b, "bob@b.test", "three passes"));
    const ar = /\r\nAuthentication-Results: mx\.b\.test;\r\n((?:\t[^\r]*\r\n)+)/.exec(text)?.[1] ??
      "";
    assert.match(ar, /\tspf=pass smtp\.mailfrom=alice@a\.test;/);
    assert.match(
      ar,
      /\tdkim=pass header\.d=a\.test header\.s=rsa\d{4}a header\.a=rsa-sha256 header\.b=/,
    );
    assert.match(
      ar,
      /\tdkim=pass header\.d=a\.test header\.s=ed\d{4}a header\.a=ed25519-sha256 header\.b=/,
    );
    assert.match(ar, /\tdmarc=pass \(p=reject dis=none\) header\.from=a\.test/);
    assert.equal((text.match(/\r\nDKIM-Signature: /g) ?? []).length, 2, "dual signature");
  });
});

Deno.test("a forged From: with p=reject is refused; with p=quarantine it lands in Junk", async () => {
  await pair(async (_a, b) => {
    const c = await SmtpTestClient.connect(b.port("smtp"));
    await c.reply();
    const forged = await sendMail(
      c,
      "x@evil.test",
      ["bob@b.test"],
      "From: CEO <ceo@a.test>\r\nSubject: pay now\r\n\r\nx",
    );
    assert.equal(forged.code, 550);
    assert.match(forged.lines[0]!, /^5\.7\.1 .*DMARC policy of a\.test/);
    await c.cmd("RSET");
    const q = await sendMail(
      c,
      "x@evil.test",
      ["bob@b.test"],
      "From: Boss <boss@q.test>\r\nSubject: quarantined\r\n\r\nx",
    );
    assert.equal(q.code, 250, q.raw);
    c.close();
    assert.equal(await find(b, "bob@b.test", "pay now"), undefined);
    assert.equal(await find(b, "bob@b.test", "quarantined"), undefined, "not in the INBOX");
    const junk = await find(b, "bob@b.test", "quarantined", "Junk");
    assert.ok(junk, "in .Junk/new");
    assert.match(junk, /dmarc=fail \(p=quarantine dis=quarantine\) header\.from=q\.test/);
  });
});

Deno.test("dmarc.mode monitor only records the failure", async () => {
  const b = await startTestServer({
    config: { hostname: "mx.b.test", domains: ["b.test"], dmarc: { mode: "monitor" } },
    accounts: ["bob@b.test"],
  });
  try {
    b.dns.setRecords([{ name: "_dmarc.a.test", type: "TXT", data: "v=DMARC1; p=reject" }]);
    const c = await SmtpTestClient.connect(b.port("smtp"));
    await c.reply();
    const r = await sendMail(
      c,
      "x@evil.test",
      ["bob@b.test"],
      "From: ceo@a.test\r\nSubject: monitored\r\n\r\nx",
    );
    assert.equal(r.code, 250);
    c.close();
    const text = await find(b, "bob@b.test", "monitored");
    assert.match(text ?? "", /dmarc=fail \(p=reject dis=reject\) header\.from=a\.test/);
  } finally {
    await b.close();
  }
});
