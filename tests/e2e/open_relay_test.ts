/**
 * The open-relay battery of ../shared/conformance/smtp/OPEN-RELAY.md, run over real TCP on
 * every listener. "L" is our domain, "IP" our address literal, "X" the victim.
 */
import assert from "node:assert/strict";
import { sendMail, serverCert, SmtpTestClient, startTestServer } from "../support/harness.ts";

const L = "our.example";
const IP = "[127.0.0.1]";
const X = "victim.example";

const MAIL_FORMS: [string, string][] = [
  ["F1", "<>"],
  ["F2", `<antispam@${L}>`],
  ["F3", `<antispam@mx.${L}>`],
  ["F4", `<antispam@${IP}>`],
  ["F5", `<antispam@${X}>`],
];

const RELAY = /^(554|550) 5\.7\.1 /;
const SYNTAX = /^(501|553) 5\.1\.3 /;
const UNKNOWN = /^550 5\.1\.1 /;
const UNSUPPORTED = /^555 5\.5\.4 /;

// [id, RCPT TO argument, acceptable replies]
const RCPT_FORMS: [string, string, RegExp[]][] = [
  ["R1", `<v@${X}>`, [RELAY]],
  ["R2", `<v%${X}@${L}>`, [UNKNOWN, RELAY]],
  ["R3", `<v%${X}@${IP}>`, [UNKNOWN, RELAY, SYNTAX]],
  ["R4", `<"v@${X}">`, [SYNTAX]],
  ["R5", `<"v%${X}">`, [SYNTAX]],
  ["R6", `<v@${X}@${L}>`, [SYNTAX]],
  ["R7", `<"v@${X}"@${L}>`, [UNKNOWN]],
  ["R8", `<v@${X}@${IP}>`, [SYNTAX]],
  ["R9", `<"v@${X}"@${IP}>`, [UNKNOWN, RELAY, SYNTAX]],
  ["R10", `<@${L}:v@${X}>`, [RELAY, SYNTAX]],
  ["R11", `<@${IP}:v@${X}>`, [RELAY, SYNTAX]],
  ["R12", `<@${L},@${X}:v@${X}>`, [RELAY, SYNTAX]],
  ["R13", `<${X}!v>`, [SYNTAX]],
  ["R14", `<${X}!v@${L}>`, [UNKNOWN]],
  ["R15", `<${X}!v@${IP}>`, [UNKNOWN, RELAY, SYNTAX]],
  ["R16", "<v@[203.0.113.50]>", [RELAY, SYNTAX]],
  ["R17", "<v@[IPv6:2001:db8::50]>", [RELAY, SYNTAX]],
  ["R18", `<v@${X}.>`, [RELAY]],
  ["R19", `<v@${X.toUpperCase()}>`, [RELAY]],
  ["R20", `<v@${L}.${X}>`, [RELAY]],
  ["R21a", `<v@evil-${L}>`, [RELAY]],
  ["R21b", `<v@not${L}>`, [RELAY]],
  ["R22", `<v\\@${X}@${L}>`, [SYNTAX]],
  ["R26a", ` v@${X}`, [/^501 5\.5\.4 /, SYNTAX]],
  ["R26b", `<v@${X}> `, [RELAY]],
  ["R26c", `<v@${X}> NOTIFY=NEVER`, [RELAY, UNSUPPORTED]],
];

function firstLine(raw: string): string {
  return raw.split("\r\n")[0]!;
}

Deno.test("open-relay battery on the smtp listener: every probe refused, nothing stored", async (t) => {
  const srv = await startTestServer({
    config: {
      hostname: `mx.${L}`,
      domains: [L],
      aliases: { [`postmaster@${L}`]: `user@${L}` },
      limits: { max_errors: 1000 },
    },
    accounts: [`user@${L}`],
  });
  try {
    const c = await SmtpTestClient.connect(srv.port("smtp"));
    await c.reply();
    // HELO/EHLO claiming to be us must not matter.
    assert.equal((await c.cmd(`EHLO ${L}`)).code, 250);
    for (const [fid, from] of MAIL_FORMS) {
      for (const [rid, rcpt, ok] of RCPT_FORMS) {
        await t.step(`${fid} x ${rid}: MAIL FROM:${from} RCPT TO:${rcpt}`, async () => {
          const m = await c.cmd(`MAIL FROM:${from}`);
          assert.equal(m.code, 250, m.raw);
          const r = await c.cmd(`RCPT TO:${rcpt}`);
          const line = firstLine(r.raw);
          assert.ok(r.code >= 500, `expected refusal, got ${line}`);
          assert.ok(ok.some((re) => re.test(line)), `unexpected reply ${line}`);
          assert.equal((await c.cmd("RSET")).code, 250);
        });
      }
    }
    for (const ehlo of ["localhost", IP, `mx.${L}`]) {
      await t.step(`EHLO ${ehlo} does not grant relay`, async () => {
        await c.cmd(`EHLO ${ehlo}`);
        await c.cmd(`MAIL FROM:<antispam@${L}>`);
        assert.match(firstLine((await c.cmd(`RCPT TO:<v@${X}>`)).raw), RELAY);
        await c.cmd("RSET");
      });
    }
    await t.step("R23: a failed AUTH does not grant relay", async () => {
      await c.cmd(`EHLO client.${X}`);
      const a = await c.cmd("AUTH PLAIN AGFudGlzcGFtAHdyb25n");
      assert.ok(a.code >= 500);
      await c.cmd(`MAIL FROM:<antispam@${X}>`);
      assert.match(firstLine((await c.cmd(`RCPT TO:<v@${X}>`)).raw), RELAY);
      await c.cmd("RSET");
    });
    await t.step("R24: XCLIENT / XFORWARD are refused and do not grant relay", async () => {
      assert.equal((await c.cmd("XCLIENT ADDR=127.0.0.1 LOGIN=user")).code, 500);
      assert.equal((await c.cmd("XFORWARD ADDR=127.0.0.1")).code, 500);
      await c.cmd(`MAIL FROM:<antispam@${X}>`);
      assert.match(firstLine((await c.cmd(`RCPT TO:<v@${X}>`)).raw), RELAY);
      await c.cmd("RSET");
    });
    await t.step("R25: an accepted local recipient does not open relaying", async () => {
      await c.cmd(`MAIL FROM:<antispam@${X}>`);
      assert.equal((await c.cmd(`RCPT TO:<user@${L}>`)).code, 250);
      assert.match(firstLine((await c.cmd(`RCPT TO:<v@${X}>`)).raw), RELAY);
      await c.cmd("RSET");
    });
    assert.deepEqual(await srv.allMail(), [], "nothing may be stored by the probes");
    await t.step("R27: <postmaster> is delivered locally", async () => {
      const r = await sendMail(c, `antispam@${X}`, ["postmaster"], "Subject: R27\r\n\r\nx");
      assert.equal(r.code, 250, r.raw);
    });
    await t.step("R28: null sender to postmaster@L accepted, v@X refused", async () => {
      await c.cmd("MAIL FROM:<>");
      assert.equal((await c.cmd(`RCPT TO:<postmaster@${L}>`)).code, 250);
      assert.match(firstLine((await c.cmd(`RCPT TO:<v@${X}>`)).raw), RELAY);
      assert.equal((await c.cmd("DATA")).code, 354);
      await c.send("Subject: R28\r\n\r\nx\r\n.\r\n");
      assert.equal((await c.reply()).code, 250);
    });
    await t.step(
      "spool: only the two postmaster messages exist, in the local mailbox",
      async () => {
        const all = await srv.allMail();
        assert.equal(all.length, 2);
        assert.ok(all.every((f) => f.includes(`/mail/${L}/user/new/`)), all.join("\n"));
      },
    );
    c.close();
  } finally {
    await srv.close();
  }
});

Deno.test("submission listeners without AUTH refuse MAIL with 530 and never a recipient", async (t) => {
  const srv = await startTestServer({ config: { limits: { max_errors: 1000 } } });
  try {
    const ca = await serverCert(srv);
    for (const kind of ["submission", "submissions"] as const) {
      await t.step(kind, async () => {
        const c = kind === "submission"
          ? await SmtpTestClient.connect(srv.port(kind))
          : await SmtpTestClient.connectTls(srv.port(kind), ca);
        assert.equal((await c.reply()).code, 220);
        await c.cmd("EHLO client.example.org");
        for (const [, from] of MAIL_FORMS) {
          const m = await c.cmd(`MAIL FROM:${from}`);
          assert.match(firstLine(m.raw), /^530 5\.7\.0 /);
          for (const rcpt of [`<v@${X}>`, "<alice@example.test>"]) {
            const r = await c.cmd(`RCPT TO:${rcpt}`);
            assert.equal(r.code, 503, r.raw);
          }
          assert.equal((await c.cmd("DATA")).code, 503);
        }
        c.close();
      });
    }
    assert.deepEqual(await srv.allMail(), []);
  } finally {
    await srv.close();
  }
});
