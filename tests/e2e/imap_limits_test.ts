/**
 * IMAP limits over loopback sockets: the shared AuthGuard locks out an IP that keeps guessing
 * (the right password included, `NO [UNAVAILABLE]` and BYE, RFC 5530), at most
 * `imap.max_connections_per_account` sessions per account are logged in at once (`NO [LIMIT]`
 * beyond, also when the logins race), and a client that never reads its replies neither
 * blocks another session nor keeps its connection (writes that do not drain within
 * `timeouts.command_seconds` end it).
 *
 * @module
 */

import assert from "node:assert/strict";
import { serverCert, startTestServer, TEST_PASSWORD } from "../support/harness.ts";
import { Imap } from "../support/imap_client.ts";
import { waitFor } from "../support/wait.ts";

Deno.test("IMAP: a dozen wrong passwords lock the IP out, the right one included", async () => {
  const t = await startTestServer({
    config: { auth: { max_failures_per_ip: 3, failure_delay_ms: 1 } },
  });
  const ca = await serverCert(t);
  const answers: string[] = [];
  let c: Imap | null = null;
  let failuresHere = 0;
  try {
    for (let i = 0; i < 12; i++) {
      if (c === null) {
        c = await Imap.tls(t.port("imaps"), ca);
        await c.line();
        failuresHere = 0;
      }
      const r = await c.cmd(`w${i}`, `LOGIN alice@example.test "wrong ${i}"`);
      const code = /^w\d+ (NO \[[A-Z]+\])/m.exec(r)?.[1] ?? r;
      answers.push(code);
      // A lockout, or the third failure on one connection, is followed by BYE and the end.
      if (code === "NO [UNAVAILABLE]" || ++failuresHere === 3) {
        assert.match(await c.line(), /^\* BYE /);
        assert.ok(await c.closedByServer(), "BYE ends the connection");
        c.close();
        c = null;
      }
    }
    assert.deepEqual(answers, [
      ...Array(3).fill("NO [AUTHENTICATIONFAILED]"),
      ...Array(9).fill("NO [UNAVAILABLE]"),
    ]);
    c = await Imap.tls(t.port("imaps"), ca);
    await c.line();
    const right = await c.cmd("r1", `LOGIN alice@example.test "${TEST_PASSWORD}"`);
    assert.match(right, /^r1 NO \[UNAVAILABLE\]/m);
    assert.match(await c.line(), /^\* BYE /);
    assert.ok(await c.closedByServer());
  } finally {
    c?.close();
    await t.close();
  }
});

Deno.test("IMAP: imap.max_connections_per_account 2 refuses a third login with NO until one logs out", async () => {
  const t = await startTestServer({ config: { imap: { max_connections_per_account: 2 } } });
  const ca = await serverCert(t);
  const open: Imap[] = [];
  try {
    open.push(await Imap.login(t.port("imaps"), ca), await Imap.login(t.port("imaps"), ca));
    const third = await Imap.tls(t.port("imaps"), ca);
    open.push(third);
    await third.line();
    const r = await third.cmd("x1", `LOGIN alice@example.test "${TEST_PASSWORD}"`);
    assert.match(r, /^x1 NO \[LIMIT\]/m);
    // Still not logged in, and still connected.
    assert.match(await third.cmd("x2", "SELECT INBOX"), /^x2 BAD/m);
    // One of the two logs out: the third may log in now.
    assert.match(await open[0]!.cmd("o1", "LOGOUT"), /^\* BYE/m);
    assert.ok(await open[0]!.closedByServer());
    assert.match(
      await third.cmd("x3", `LOGIN alice@example.test "${TEST_PASSWORD}"`),
      /^x3 OK/m,
    );
    assert.match(await third.cmd("x4", "SELECT INBOX"), /^x4 OK/m);
  } finally {
    for (const c of open) c.close();
    await t.close();
  }
});

Deno.test("IMAP: of 6 logins racing with imap.max_connections_per_account 2, two get in", async () => {
  const t = await startTestServer({ config: { imap: { max_connections_per_account: 2 } } });
  const ca = await serverCert(t);
  const conns = await Promise.all(
    Array.from({ length: 6 }, () => Imap.tls(t.port("imaps"), ca)),
  );
  try {
    await Promise.all(conns.map((c) => c.line()));
    // Every LOGIN is on the wire before the first answer.
    await Promise.all(
      conns.map((c) => c.send(`r LOGIN alice@example.test "${TEST_PASSWORD}"\r\n`)),
    );
    const answers = await Promise.all(conns.map((c) => c.tagged("r")));
    const ok = answers.filter((a) => /^r OK/m.test(a)).length;
    const limited = answers.filter((a) => /^r NO \[LIMIT\]/m.test(a)).length;
    assert.deepEqual({ ok, limited }, { ok: 2, limited: 4 }, answers.join(""));
  } finally {
    for (const c of conns) c.close();
    await t.close();
  }
});

Deno.test("IMAP: a client that never reads its FETCH replies blocks no one and is disconnected", async () => {
  const t = await startTestServer({
    config: { timeouts: { command_seconds: 2 }, imap: { max_connections_per_ip: 2 } },
  });
  const ca = await serverCert(t);
  const port = t.port("imaps");
  const worker = await Imap.login(port, ca);
  let stuck: Imap | null = null;
  try {
    const big = `Subject: big\r\n\r\n${
      "0123456789abcdef0123456789abcdef012345678901234\r\n".repeat(20_000)
    }`;
    for (let i = 0; i < 4; i++) {
      assert.match(await worker.cmd(`p${i}`, `APPEND INBOX {${big.length}+}\r\n${big}`), /OK/);
    }
    stuck = await Imap.login(port, ca);
    assert.match(await stuck.cmd("s1", "SELECT INBOX"), /^\* 4 EXISTS\r$/m);
    // Both slots of this IP are taken: a third connection is refused (probed on the STARTTLS
    // port, where the refusal is readable before any handshake; the limit covers both).
    const third = await Imap.plain(t.port("imap"));
    assert.match(await third.line(), /^\* BYE /);
    third.close();

    // 30 times the whole mailbox (about 120 MB), never read.
    let cmds = "";
    for (let i = 0; i < 30; i++) cmds += `f${i} FETCH 1:* BODY[]\r\n`;
    await stuck.send(cmds);

    // Meanwhile the other session works as usual.
    assert.match(await worker.cmd("w1", "SELECT INBOX"), /^\* 4 EXISTS\r$/m);
    assert.match(await worker.cmd("w2", "FETCH 4 (RFC822.SIZE)"), /RFC822\.SIZE \d+/);
    const small = "Subject: small\r\n\r\nstill working\r\n";
    const w3 = await worker.cmd("w3", `APPEND INBOX {${small.length}+}\r\n${small}`);
    assert.match(w3, /^w3 OK \[APPENDUID/m);
    assert.match(w3 + await worker.cmd("w4", "NOOP"), /^\* 5 EXISTS\r$/m);

    // The stuck connection is closed by the server: its slot becomes free again.
    await waitFor("the stuck connection to be closed", async () => {
      const c = await Imap.plain(t.port("imap"));
      try {
        return /^\* OK /.test(await c.line()) ? true : undefined;
      } finally {
        c.close();
      }
    }, 30_000);
    assert.ok(await stuck.closedByServer(30_000), "the stuck client sees the end");
    assert.match(await worker.cmd("w5", "NOOP"), /^w5 OK/m);
  } finally {
    stuck?.close();
    worker.close();
    await t.close();
  }
});
