import assert from "node:assert/strict";
import { startTestServer } from "../../tests/support/harness.ts";
import { startFake } from "./_testing.ts";
import { formatReport } from "./format_report.ts";
import { domainFromHostName, type ProbeResult, runRelayCheck } from "./relay_check.ts";

const TO = "victim@victim.example";

function byId(probes: ProbeResult[], id: string): ProbeResult {
  const p = probes.find((x) => x.id === id);
  assert.ok(p, `no probe ${id}`);
  return p;
}

// ---------------------------------------------------------------------------------------------

Deno.test("domainFromHostName: the banner host name minus its first label", () => {
  assert.deepEqual(domainFromHostName("mx.our.example"), "our.example");
  assert.deepEqual(domainFromHostName("our.example."), "our.example");
  assert.deepEqual(domainFromHostName("MX.A.B.Example"), "a.b.example");
});

Deno.test("options: a target in the server's own domain is refused", async () => {
  await assert.rejects(
    () => runRelayCheck({ host: "127.0.0.1", port: 1, to: "a@our.example", domain: "our.example" }),
    /outside the server's own domain/,
  );
  await assert.rejects(
    () => runRelayCheck({ host: "127.0.0.1", port: 1, to: "not-an-address" }),
    /--to must be/,
  );
});

Deno.test("an open relay is reported, and DATA is never sent", async () => {
  const fake = startFake();
  try {
    const r = await runRelayCheck({
      host: "127.0.0.1",
      port: fake.port,
      to: TO,
      local: "user@relay.example",
      timeoutMs: 5000,
    });
    assert.deepEqual(r.ok, false);
    assert.deepEqual(r.errors, 0);
    assert.deepEqual(r.accepted, r.probes.length);
    assert.ok(r.probes.length >= 5 * 26 + 7, `${r.probes.length} probes`);
    assert.ok(r.probes.every((p) => p.verdict === "ACCEPTED"));
    assert.deepEqual(r.server.domain, "relay.example");
    assert.deepEqual(r.server.literal, "[127.0.0.1]");
    assert.deepEqual(r.reconnects, 0);
    assert.deepEqual(fake.sawData, false);
    const cmds = fake.sessions.flat();
    assert.ok(!cmds.some((c) => /^(DATA|BDAT)\b/i.test(c)), "DATA sent");
    // Every run of RCPTs (all accepted here) is followed by RSET.
    for (let i = 0; i < cmds.length; i++) {
      if (/^RCPT /.test(cmds[i]!) && !/^RCPT /.test(cmds[i + 1] ?? "")) {
        assert.deepEqual(cmds[i + 1], "RSET", `after ${cmds[i]}`);
      }
    }
    assert.deepEqual(cmds.filter((c) => c.startsWith("RCPT ")).length, r.probes.length + 2);
    assert.ok(cmds.includes("RCPT TO:<victim@victim.example@relay.example>"));
    assert.ok(cmds.includes("RCPT TO: victim@victim.example"));
    assert.ok(cmds.includes("HELO relay.example"));
    assert.deepEqual(cmds.at(-1), "QUIT");
    const text = formatReport(r);
    assert.match(
      text,
      /^ACCEPTED F1xR1 {5}MAIL FROM:<> RCPT TO:<victim@victim\.example> {2}-> 250/m,
    );
    assert.match(text, /RCPT TO:" victim@victim\.example"/);
    assert.match(text, /^FAIL: .* OPEN RELAY/m);
  } finally {
    await fake.close();
  }
});

Deno.test("postie refuses every relay probe and stores nothing", async () => {
  const t = await startTestServer({
    config: { hostname: "mx.our.example", domains: ["our.example"], limits: { max_errors: 1000 } },
    accounts: ["user@our.example"],
  });
  try {
    const r = await runRelayCheck({
      host: "127.0.0.1",
      port: t.port("smtp"),
      to: TO,
      local: "user@our.example",
      timeoutMs: 10_000,
    });
    const text = formatReport(r);
    assert.deepEqual(r.ok, true, text);
    assert.ok(r.probes.every((p) => p.verdict === "refused"), text);
    assert.ok(r.probes.every((p) => /^5\d\d /.test(p.reply)), text);
    assert.deepEqual(r.server.domain, "our.example");
    // The controls were accepted, so R25 and R28 are conclusive.
    assert.deepEqual(byId(r.probes, "R25").note, undefined, text);
    // postie has no built-in postmaster: without an alias, the R28 control is refused (550
    // 5.1.1), which makes R28 inconclusive but still refused. The next test adds the alias.
    assert.deepEqual(byId(r.probes, "R28").verdict, "refused", text);
    assert.match(byId(r.probes, "F1xR1").reply, /^554 5\.7\.1 /);
    // postie's certificate is self-signed here: the check falls back to plain text.
    assert.deepEqual(r.tls, "failed, plain text");
    assert.deepEqual(r.reconnects, 1);
    assert.match(text, /^PASS: /m);
    assert.deepEqual(await t.allMail(), []);
  } finally {
    await t.close();
  }
});

Deno.test("postie with its default error limit: the check reconnects and completes", async () => {
  const t = await startTestServer({
    config: {
      hostname: "mx.our.example",
      domains: ["our.example"],
      aliases: { "postmaster@our.example": "user@our.example" },
    },
    accounts: ["user@our.example"],
  });
  try {
    const r = await runRelayCheck({
      host: "127.0.0.1",
      port: t.port("smtp"),
      to: TO,
      local: "user@our.example",
      starttls: false,
      timeoutMs: 10_000,
    });
    const text = formatReport(r);
    assert.deepEqual(r.ok, true, text);
    assert.deepEqual(r.tls, "disabled");
    assert.ok(r.reconnects > 5, text);
    assert.deepEqual(byId(r.probes, "R25").note, undefined, text);
    assert.deepEqual(byId(r.probes, "R28").note, undefined, text);
    assert.ok(
      r.probes.some((p) => /retried on a new connection after: .*421 4\.7\.0/.test(p.note ?? "")),
      text,
    );
    assert.ok(r.probes.every((p) => /^5\d\d /.test(p.reply)), text);
    assert.deepEqual(await t.allMail(), []);
  } finally {
    await t.close();
  }
});

Deno.test("a server that closes with 421 after a few commands: reconnect, retry, finish", async () => {
  // Each connection allows EHLO, MAIL, RCPT, RSET; the next command gets 421 and the close.
  const fake = startFake({
    closeAfter: 4,
    offerTls: true,
    rcpt: (a) => `554 5.7.1 <${a.replace(/[<>]/g, "").trim()}>: Relay access denied`,
  });
  try {
    const r = await runRelayCheck({ host: "127.0.0.1", port: fake.port, to: TO, timeoutMs: 5000 });
    const text = formatReport(r);
    assert.deepEqual(r.ok, true, text);
    assert.deepEqual(r.errors, 0);
    assert.ok(r.probes.every((p) => p.verdict === "refused"), text);
    // The first probe runs on the first connection; every later one needs a new connection.
    assert.deepEqual(r.reconnects, r.probes.length - 1);
    // Connection 1: EHLO, STARTTLS (454), MAIL, RCPT; its RSET gets the 421. Connection 2 has
    // room for F1xR2; from F1xR3 on, a probe meets the 421 at MAIL and is retried. The identity
    // probes need one command more (their own EHLO), so their RSET gets the 421 and each of them
    // starts on a new connection without a retry.
    const notRetried = r.probes.filter((p) =>
      !/retried on a new connection after: .*421/.test(p.note ?? "")
    );
    assert.deepEqual(notRetried.map((p) => p.id), [
      "F1xR1",
      "F1xR2",
      "H1xR1",
      "H2xR1",
      "H3xR1",
      "H4xR1",
      "H5xR1",
    ]);
    assert.deepEqual(r.tls, "refused, plain text");
    assert.deepEqual(fake.sawData, false);
  } finally {
    await fake.close();
  }
});

Deno.test("a server that always answers 421: errors, and the check stops early", async () => {
  const fake = startFake({ banner: "421 4.3.2 fake.relay.example Service not available" });
  try {
    const r = await runRelayCheck({ host: "127.0.0.1", port: fake.port, to: TO, timeoutMs: 5000 });
    assert.deepEqual(r.ok, false);
    assert.deepEqual(r.probes.length, 1);
    assert.deepEqual(r.probes[0]!.verdict, "error");
    assert.match(r.probes[0]!.reply, /greeting refused: 421 4\.3\.2/);
    assert.match(formatReport(r), /^FAIL: 1 probes, 0 refused, 0 ACCEPTED, 1 errors/m);
  } finally {
    await fake.close();
  }
  // A server that greets but then answers 421 to every MAIL: three probes fail (twice each),
  // the rest are not attempted.
  const fake2 = startFake({ mail: () => "421 4.3.2 Service shutting down" });
  try {
    const r = await runRelayCheck({ host: "127.0.0.1", port: fake2.port, to: TO, timeoutMs: 5000 });
    assert.deepEqual(r.ok, false);
    assert.deepEqual(r.errors, r.probes.length);
    // The first connection serves the first attempt of the first probe; each of the three
    // failing probes makes two attempts.
    assert.deepEqual(fake2.sessions.length, 3 * 2);
    assert.match(r.probes[0]!.reply, /421 4\.3\.2/);
    assert.deepEqual(r.probes[3]!.reply, "not attempted");
  } finally {
    await fake2.close();
  }
});

Deno.test("4xx refusals count as refused but are flagged; a refused MAIL is a refusal", async () => {
  const fake = startFake({
    mail: (a) => a.includes("@[") ? "550 5.7.1 no literals" : "250 2.1.0 Ok",
    rcpt: () => "451 4.7.1 Try again later",
  });
  try {
    const r = await runRelayCheck({ host: "127.0.0.1", port: fake.port, to: TO, timeoutMs: 5000 });
    const text = formatReport(r);
    assert.deepEqual(r.ok, true, text);
    const f4 = byId(r.probes, "F4xR1");
    assert.deepEqual(f4.step, "MAIL");
    assert.deepEqual(f4.reply, "550 5.7.1 no literals");
    const f1 = byId(r.probes, "F1xR1");
    assert.deepEqual(f1.verdict, "refused");
    assert.match(f1.note ?? "", /4xx: temporary, a server should say 5xx/);
    assert.match(text, /^refused {2}F4xR1 .* -> MAIL: 550 5\.7\.1 no literals$/m);
    assert.match(text, /^PASS: \d+ probes, \d+ refused \(\d+ only with 4xx\)/m);
  } finally {
    await fake.close();
  }
});

Deno.test("nothing listening: one connect error", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const r = await runRelayCheck({ host: "127.0.0.1", port, to: TO, timeoutMs: 5000 });
  assert.deepEqual(r.ok, false);
  assert.deepEqual(r.probes.map((p) => [p.id, p.verdict]), [["connect", "error"]]);
  assert.match(r.probes[0]!.reply, /cannot connect/);
});

Deno.test("a server that stops answering: the per-reply timeout ends the check", async () => {
  const fake = startFake({ silent: true });
  try {
    const started = Date.now();
    const r = await runRelayCheck({ host: "127.0.0.1", port: fake.port, to: TO, timeoutMs: 200 });
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(r.ok, false);
    assert.deepEqual(r.probes.map((p) => p.verdict), ["error"]);
    assert.match(r.probes[0]!.reply, /timed out after 200 ms waiting for a reply/);
    assert.deepEqual(fake.sessions[0], ["EHLO relay-check.invalid"]);
  } finally {
    await fake.close();
  }
});
