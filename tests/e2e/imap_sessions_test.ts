/**
 * IMAP sessions over loopback sockets, as RFC 3501 describes them between two clients and
 * around the connection: a STORE or EXPUNGE in one session reaches another on one mailbox at
 * its next NOOP, EXPUNGE never during FETCH (§7.4.1); MOVE answers COPYUID (RFC 6851 §4.3,
 * RFC 4315); IDLE sends its keepalive (RFC 2177); and input pipelined after STARTTLS is
 * discarded, not executed (§6.2.1).
 *
 * @module
 */

import assert from "node:assert/strict";
import { serverCert, startTestServer, TEST_PASSWORD } from "../support/harness.ts";
import { Imap } from "../support/imap_client.ts";

async function append(c: Imap, box: string, n: number): Promise<string[]> {
  const uids: string[] = [];
  for (let i = 1; i <= n; i++) {
    const body = `Subject: m${i}\r\n\r\nmessage ${i}\r\n`;
    const r = await c.cmd(`P${i}`, `APPEND ${box} {${body.length}+}\r\n${body}`);
    const m = /OK \[APPENDUID \d+ (\d+)\]/.exec(r);
    assert.ok(m, r);
    uids.push(m[1]!);
  }
  return uids;
}

Deno.test("IMAP: two sessions on one mailbox see each other's STORE and EXPUNGE at NOOP, not during FETCH", async () => {
  const t = await startTestServer();
  const ca = await serverCert(t);
  const a = await Imap.login(t.port("imaps"), ca);
  const b = await Imap.login(t.port("imaps"), ca);
  try {
    const uids = await append(a, "INBOX", 4);
    assert.match(await a.cmd("a1", "SELECT INBOX"), /^\* 4 EXISTS\r$/m);
    assert.match(await b.cmd("b1", "SELECT INBOX"), /^\* 4 EXISTS\r$/m);

    // STORE in A: B hears of it at its next NOOP, as an untagged FETCH with the new flags.
    assert.match(await a.cmd("a2", "STORE 2 +FLAGS (\\Flagged)"), /^a2 OK/m);
    const n1 = await b.cmd("b2", "NOOP");
    assert.match(n1, /^\* 2 FETCH \(FLAGS \(([^)]* )?\\Flagged( [^)]*)?\)( UID \d+)?\)\r$/m);
    assert.match(n1, /^b2 OK/m);

    // EXPUNGE in A: A sees it at once; B not while it FETCHes, only at its NOOP.
    assert.match(await a.cmd("a3", "STORE 3 +FLAGS.SILENT (\\Deleted)"), /^a3 OK/m);
    const ex = await a.cmd("a4", "EXPUNGE");
    assert.match(ex, /^\* 3 EXPUNGE\r$/m);
    const f = await b.cmd("b3", "FETCH 1:* (FLAGS)");
    // The expunged message 3 is left out (RFC 2180 §4.1.2: NO [EXPUNGEISSUED], RFC 5530).
    assert.doesNotMatch(f, /^\* \d+ EXPUNGE/m);
    assert.doesNotMatch(f, /^\* 3 FETCH/m);
    assert.match(f, /^\* 1 FETCH /m);
    assert.match(f, /^\* 4 FETCH /m, "B still has 4 messages until it is told");
    const s = await b.cmd("b4", "STORE 1 +FLAGS (\\Seen)");
    assert.doesNotMatch(s, /^\* \d+ EXPUNGE/m);
    const n2 = await b.cmd("b5", "NOOP");
    assert.match(n2, /^\* 3 EXPUNGE\r$/m);
    assert.match(n2, /^b5 OK/m);
    // B's view is now A's: 3 messages, message 3 is the one that was 4.
    const after = await b.cmd("b6", "FETCH 1:* (UID)");
    assert.deepEqual(
      [...after.matchAll(/^\* (\d+) FETCH \(UID (\d+)\)/gm)].map((m) => [m[1], m[2]]),
      [["1", uids[0]], ["2", uids[1]], ["3", uids[3]]],
    );
    // A hears of B's STORE.
    assert.match(await a.cmd("a5", "NOOP"), /^\* 1 FETCH \(FLAGS \([^)]*\\Seen[^)]*\)/m);

    // MOVE: COPYUID with the source and destination UIDs, the source expunged.
    const mv = await a.cmd("a6", `UID MOVE ${uids[1]} Trash`);
    const cu = /\[COPYUID (\d+) (\d+) (\d+)\]/.exec(mv);
    assert.ok(cu, mv);
    assert.equal(cu[2], uids[1]);
    assert.match(mv, /^\* 2 EXPUNGE\r$/m);
    assert.match(mv, /^a6 OK/m);
    assert.match(await b.cmd("b7", "NOOP"), /^\* 2 EXPUNGE\r$/m);
    const trash = await b.cmd("b8", "STATUS Trash (MESSAGES UIDNEXT UIDVALIDITY)");
    assert.match(trash, new RegExp(`MESSAGES 1 UIDNEXT ${Number(cu[3]) + 1} UIDVALIDITY ${cu[1]}`));
  } finally {
    a.close();
    b.close();
    await t.close();
  }
});

Deno.test("IMAP IDLE: with imap.idle_keepalive_seconds 1 the client gets `* OK Still here`", async () => {
  const t = await startTestServer({ config: { imap: { idle_keepalive_seconds: 1 } } });
  const c = await Imap.login(t.port("imaps"), await serverCert(t));
  try {
    await c.cmd("i1", "SELECT INBOX");
    await c.send("i2 IDLE\r\n");
    assert.match(await c.line(), /^\+ /);
    assert.equal(await c.line(5000), "* OK Still here\r\n");
    assert.equal(await c.line(5000), "* OK Still here\r\n");
    await c.send("DONE\r\n");
    assert.match(await c.tagged("i2"), /^i2 OK/m);
    assert.match(await c.cmd("i3", "NOOP"), /^i3 OK/m);
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("IMAP STARTTLS: a command pipelined after STARTTLS in the same packet is not executed", async () => {
  const t = await startTestServer();
  const c = await Imap.plain(t.port("imap"));
  try {
    await c.line();
    await c.send(
      `a STARTTLS\r\nb LOGIN alice@example.test "${TEST_PASSWORD}"\r\nc SELECT INBOX\r\n`,
    );
    assert.match(await c.tagged("a"), /^a OK/m);
    assert.equal(c.pending, "", "nothing after the tagged OK in the clear");
    await c.starttls(await serverCert(t));
    // Still not authenticated: the LOGIN was dropped, not run, and SELECT is refused.
    const sel = await c.cmd("d", "SELECT INBOX");
    assert.match(sel, /^d BAD/m);
    const done = await c.cmd("e", "NOOP");
    assert.doesNotMatch(sel + done, /^[bc] /m);
    assert.match(await c.cmd("f", `LOGIN alice@example.test "${TEST_PASSWORD}"`), /^f OK/m);
  } finally {
    c.close();
    await t.close();
  }
});
