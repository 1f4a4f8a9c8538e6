/**
 * SPF on inbound mail, end to end: a real DNS server on loopback publishes the policies, the
 * client sends from 127.0.0.1, and the stored message carries the verdict.
 */
import assert from "node:assert/strict";
import { sendMail, SmtpTestClient, startTestServer, type TestServer } from "../support/harness.ts";
import type { ZoneRecord } from "../support/dns_server.ts";

const ZONE: ZoneRecord[] = [
  { name: "pass.example", type: "TXT", data: "v=spf1 ip4:127.0.0.0/8 -all" },
  {
    name: "fail.example",
    type: "TXT",
    data: "v=spf1 ip4:192.0.2.1 -all exp=why.fail.example",
  },
  { name: "why.fail.example", type: "TXT", data: "%{i} may not send for %{d}" },
  { name: "soft.example", type: "TXT", data: "v=spf1 ip4:192.0.2.1 ~all" },
  { name: "client.example.org", type: "TXT", data: "v=spf1 a -all" },
  { name: "client.example.org", type: "A", data: "127.0.0.1" },
  { name: "down.example", type: "A", data: "192.0.2.9" },
];

async function withServer(
  config: Record<string, unknown>,
  fn: (t: TestServer) => Promise<void>,
): Promise<void> {
  const t = await startTestServer({ config });
  t.dns.setRecords(ZONE);
  t.dns.setFault("down.example", "TXT", "servfail");
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

let counter = 0;

// Sends one message and returns the text of the file it produced in alice's new/.
async function deliver(t: TestServer, from: string, body?: string) {
  const before = new Set(await t.newMail("alice@example.test"));
  const c = await SmtpTestClient.connect(t.port("smtp"));
  await c.reply();
  const r = await sendMail(
    c,
    from,
    ["alice@example.test"],
    body ?? `Subject: spf ${++counter}\r\n\r\nx`,
  );
  c.close();
  const added = (await t.newMail("alice@example.test")).filter((f) => !before.has(f));
  lastText = added.length === 1 ? await Deno.readTextFile(added[0]!) : "";
  return r;
}

let lastText = "";

function lastMessage(_t: TestServer): Promise<string> {
  return Promise.resolve(lastText);
}

Deno.test("SPF verdicts of inbound mail are recorded in Received-SPF and Authentication-Results", async (tt) => {
  await withServer({}, async (t) => {
    const cases: [string, string][] = [
      ["someone@pass.example", "pass"],
      ["forged@fail.example", "fail"],
      ["someone@soft.example", "softfail"],
      ["someone@nospf.example", "none"],
      ["someone@down.example", "temperror"],
    ];
    for (const [from, result] of cases) {
      await tt.step(`${from} -> ${result}`, async () => {
        const r = await deliver(t, from);
        assert.equal(r.code, 250, r.raw);
        const text = await lastMessage(t);
        assert.match(
          text,
          new RegExp(
            `\\r\\nAuthentication-Results: mx\\.example\\.test;\\r\\n\\tspf=${result} ` +
              `smtp\\.mailfrom=${from.replaceAll(".", "\\.")};\\r\\n`,
          ),
        );
        assert.match(text, new RegExp(`\\r\\nReceived-SPF: ${result} \\(mx\\.example\\.test: `));
        assert.match(text, /client-ip=127\.0\.0\.1; envelope-from=/);
        assert.match(
          text,
          /helo=client\.example\.org; receiver=mx\.example\.test; identity=mailfrom/,
        );
      });
    }
    await tt.step("temperror names the problem", async () => {
      await deliver(t, "again@down.example");
      assert.match(await lastMessage(t), /\r\n\tproblem="DNS error for down\.example/);
    });
    await tt.step("a null sender is checked as postmaster@<helo> (RFC 7208 §2.4)", async () => {
      const r = await deliver(t, "");
      assert.equal(r.code, 250);
      const text = await lastMessage(t);
      assert.match(text, /\tspf=pass smtp\.helo=client\.example\.org;\r\n/);
      assert.match(text, /Received-SPF: pass .* identity=helo/s);
    });
  });
});

Deno.test("incoming Authentication-Results claiming our authserv-id are removed", async () => {
  await withServer({}, async (t) => {
    const body =
      "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=forged@fail.example\r\n" +
      "Authentication-Results: other.example; dkim=pass\r\n" +
      "Subject: forged verdict\r\n\r\nbody";
    assert.equal((await deliver(t, "forged@fail.example", body)).code, 250);
    const text = await lastMessage(t);
    const ours = text.split("\r\n").filter((l) =>
      l.startsWith("Authentication-Results: mx.example.test")
    );
    assert.equal(ours.length, 1, "only the field we wrote");
    assert.match(text, /\tspf=fail smtp\.mailfrom=forged@fail\.example;\r\n/);
    assert.match(text, /\r\nAuthentication-Results: other\.example; dkim=pass\r\n/);
  });
});

Deno.test("spf.reject_fail refuses a forged sender with 550 5.7.23 and stores nothing", async () => {
  await withServer({ spf: { reject_fail: true } }, async (t) => {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    await c.cmd("EHLO client.example.org");
    const m = await c.cmd("MAIL FROM:<forged@fail.example>");
    assert.equal(m.code, 550);
    assert.match(
      m.lines[0]!,
      /^5\.7\.23 SPF fail for fail\.example: 127\.0\.0\.1 may not send for fail\.example/,
    );
    assert.equal((await c.cmd("MAIL FROM:<someone@soft.example>")).code, 250, "softfail passes");
    c.close();
    assert.equal((await deliver(t, "someone@pass.example")).code, 250);
    assert.equal((await t.newMail("alice@example.test")).length, 1);
  });
});

Deno.test("spf.temperror_defer answers 451 4.4.3 on DNS trouble; off by default", async () => {
  await withServer({ spf: { temperror_defer: true } }, async (t) => {
    const c = await SmtpTestClient.connect(t.port("smtp"));
    await c.reply();
    await c.cmd("EHLO client.example.org");
    const m = await c.cmd("MAIL FROM:<someone@down.example>");
    assert.equal(m.code, 451);
    assert.match(m.lines[0]!, /^4\.4\.3 /);
    c.close();
    assert.deepEqual(await t.allMail(), []);
  });
});
