/**
 * SMTP smuggling (SMUGGLING.md "How to test it") over real TCP: every end-of-data variant gets
 * exactly one 550 5.6.0 for the whole stream, nothing for the smuggled commands, and nothing is
 * stored; BDAT gets the same bare CR / LF policy.
 */

import assert from "node:assert/strict";
import { SmtpTestClient, startTestServer, type TestServer } from "../support/harness.ts";
import { smugglingVariants } from "../support/conformance.ts";

const VARIANTS = await smugglingVariants();

// The flaws the 550 text must name for each variant (after "body\r\n", before "MAIL FROM").
const EXPECTED_FLAWS: Record<number, string[]> = {
  1: ["bare LF"],
  2: ["bare CR"],
  3: ["bare CR", "bare LF"],
  4: ["bare CR", "bare LF"],
  5: ["bare LF"],
  6: ["bare LF"],
  7: ["bare CR"],
  8: ["bare CR"],
  9: ["NUL"],
  10: ["NUL"],
  11: ["bare CR"],
  12: ["bare CR"],
};

const enc = new TextEncoder();
const QUIET_MS = 300;

const SMUGGLED = "MAIL FROM:<smuggled@test.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" +
  "Subject: smuggled\r\n\r\nX\r\n";

/**
 * The probe body of SMUGGLING.md after the 354: head, variant, smuggled commands and message,
 * and the CR LF "." CR LF that ends the smuggled message on a vulnerable server and is the one
 * real terminator of the outer message on a correct one.
 */
function probe(name: string, variant: Uint8Array): Uint8Array {
  const head = enc.encode(`Subject: probe ${name}\r\n\r\nbody\r\n`);
  const tail = enc.encode(SMUGGLED + ".\r\n");
  const out = new Uint8Array(head.length + variant.length + tail.length);
  out.set(head, 0);
  out.set(variant, head.length);
  out.set(tail, head.length + variant.length);
  return out;
}

async function transaction(t: TestServer): Promise<SmtpTestClient> {
  const c = await SmtpTestClient.connect(t.port("smtp"));
  try {
    assert.equal((await c.reply()).code, 220);
    assert.equal((await c.cmd("EHLO test")).code, 250);
    assert.equal((await c.cmd("MAIL FROM:<a@test.example>")).raw, "250 2.1.0 Ok\r\n");
    assert.equal((await c.cmd("RCPT TO:<alice@example.test>")).raw, "250 2.1.5 Ok\r\n");
  } catch (e) {
    c.close();
    throw e;
  }
  return c;
}

/**
 * Nothing more arrives for QUIET_MS, and the session still answers: anything the server sent
 * in between (a reply to a smuggled command) would be read before the NOOP's reply.
 */
async function assertQuietThenUsable(c: SmtpTestClient): Promise<void> {
  assert.equal(c.pending, "", "nothing arrived together with the last reply");
  await new Promise((r) => setTimeout(r, QUIET_MS));
  const noop = await c.cmd("NOOP");
  assert.equal(noop.raw, "250 2.0.0 Ok\r\n", "the first reply after the wait is the NOOP's");
  assert.equal(c.pending, "");
}

/** Files stored under data_dir/mail while `fn` ran. */
async function storedDuring(t: TestServer, fn: () => Promise<void>): Promise<string[]> {
  const before = await t.allMail();
  await fn();
  return (await t.allMail()).filter((f) => !before.includes(f));
}

Deno.test("SMTP smuggling probes over TCP", async (t) => {
  assert.deepEqual(
    VARIANTS.map((v) => v.n),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    "SMUGGLING.md table",
  );
  const srv = await startTestServer();
  try {
    for (const v of VARIANTS) {
      await t.step(
        `#${v.n} ${v.name}: one 550 5.6.0, nothing smuggled, nothing stored`,
        async () => {
          const c = await transaction(srv);
          try {
            assert.equal((await c.cmd("DATA")).code, 354);
            await c.send(probe(String(v.n), v.bytes));
            const r = await c.reply();
            assert.equal(r.code, 550, r.raw);
            assert.match(r.raw, /^550 5\.6\.0 [^\r\n]*\r\n$/);
            for (const flaw of ["bare CR", "bare LF", "NUL"]) {
              assert.equal(r.raw.includes(flaw), EXPECTED_FLAWS[v.n]!.includes(flaw), r.raw);
            }
            await assertQuietThenUsable(c);
            assert.deepEqual(await srv.allMail(), []);
            assert.equal((await c.cmd("QUIT")).code, 221);
          } finally {
            c.close();
          }
        },
      );
    }

    await t.step(
      "a second CRLF.CRLF after the probe is read as two unknown commands, not as DATA",
      async () => {
        // SMUGGLING.md writes the outer terminator after the smuggled message's own; the
        // smuggled message's CRLF.CRLF already ends the outer message, so the extra bytes are
        // an empty command line and ".", each a 500, never a 250 or 354.
        const c = await transaction(srv);
        try {
          assert.equal((await c.cmd("DATA")).code, 354);
          const p = probe("doubled", VARIANTS[4]!.bytes);
          const extra = enc.encode("\r\n.\r\n");
          const all = new Uint8Array(p.length + extra.length);
          all.set(p, 0);
          all.set(extra, p.length);
          await c.send(all);
          assert.match((await c.reply()).raw, /^550 5\.6\.0 /);
          assert.match((await c.reply()).raw, /^500 5\.5\.2 /);
          assert.match((await c.reply()).raw, /^500 5\.5\.2 /);
          await assertQuietThenUsable(c);
          assert.deepEqual(await srv.allMail(), []);
        } finally {
          c.close();
        }
      },
    );

    await t.step("BDAT content with a bare LF is refused with 550 5.6.0", async () => {
      const c = await transaction(srv);
      try {
        const body = "Subject: bdat\r\n\r\nbare\nLF\r\n";
        await c.send(`BDAT ${body.length} LAST\r\n${body}`);
        const r = await c.reply();
        assert.match(r.raw, /^550 5\.6\.0 [^\r\n]*bare LF/);
        await assertQuietThenUsable(c);
        assert.deepEqual(await srv.allMail(), []);
      } finally {
        c.close();
      }
    });

    await t.step("BDAT with a bare LF at the start of the second chunk is refused", async () => {
      const c = await transaction(srv);
      try {
        const one = "Subject: bdat\r\n\r\nline\r\n";
        const two = "\n.\r\nMAIL FROM:<smuggled@test.example>\r\n";
        await c.send(`BDAT ${one.length}\r\n${one}`);
        assert.equal((await c.reply()).raw, `250 2.0.0 ${one.length} octets received\r\n`);
        await c.send(`BDAT ${two.length} LAST\r\n${two}`);
        const r = await c.reply();
        assert.match(r.raw, /^550 5\.6\.0 [^\r\n]*bare LF/);
        await assertQuietThenUsable(c);
        assert.deepEqual(await srv.allMail(), []);
      } finally {
        c.close();
      }
    });

    await t.step("BDAT content ending in a bare CR is refused", async () => {
      const c = await transaction(srv);
      try {
        const body = "Subject: bdat\r\n\r\nends in CR\r";
        await c.send(`BDAT ${body.length} LAST\r\n${body}`);
        assert.match((await c.reply()).raw, /^550 5\.6\.0 [^\r\n]*bare CR/);
        await assertQuietThenUsable(c);
        assert.deepEqual(await srv.allMail(), []);
      } finally {
        c.close();
      }
    });

    await t.step("the same probe without a variant is accepted and stored once", async () => {
      const c = await transaction(srv);
      try {
        const stored = await storedDuring(srv, async () => {
          assert.equal((await c.cmd("DATA")).code, 354);
          await c.send(probe("clean", new Uint8Array(0)));
          const r = await c.reply();
          assert.match(r.raw, /^250 2\.0\.0 Ok: queued as \S+\r\n$/);
          await assertQuietThenUsable(c);
        });
        assert.equal(stored.length, 1, JSON.stringify(stored));
        assert.deepEqual(await srv.newMail("alice@example.test"), stored);
        const text = await Deno.readTextFile(stored[0]!);
        assert.ok(text.endsWith(`\r\n\r\nbody\r\n${SMUGGLED}`), JSON.stringify(text));
        assert.equal(text.split("Subject: probe clean").length, 2);
      } finally {
        c.close();
      }
    });

    await t.step("a clean BDAT transfer with CRLF split across chunks is stored", async () => {
      const c = await transaction(srv);
      try {
        const one = "Subject: bdat clean\r\n\r\nhello\r";
        const two = "\nworld\r\n";
        const stored = await storedDuring(srv, async () => {
          await c.send(`BDAT ${one.length}\r\n${one}`);
          assert.equal((await c.reply()).raw, `250 2.0.0 ${one.length} octets received\r\n`);
          await c.send(`BDAT ${two.length} LAST\r\n${two}`);
          assert.match((await c.reply()).raw, /^250 2\.0\.0 Ok: queued as /);
          await assertQuietThenUsable(c);
        });
        assert.equal(stored.length, 1, JSON.stringify(stored));
        assert.ok((await srv.newMail("alice@example.test")).includes(stored[0]!), "in new/");
        const text = await Deno.readTextFile(stored[0]!);
        assert.ok(text.endsWith("\r\nSubject: bdat clean\r\n\r\nhello\r\nworld\r\n"), text);
      } finally {
        c.close();
      }
    });

    await t.step("a content line '..' is stored unstuffed as '.'", async () => {
      const c = await transaction(srv);
      try {
        const stored = await storedDuring(srv, async () => {
          assert.equal((await c.cmd("DATA")).code, 354);
          await c.send("Subject: dots\r\n\r\nbefore\r\n..\r\n...more\r\nafter\r\n.\r\n");
          assert.match((await c.reply()).raw, /^250 2\.0\.0 Ok: queued as /);
          await assertQuietThenUsable(c);
        });
        assert.equal(stored.length, 1, JSON.stringify(stored));
        const text = await Deno.readTextFile(stored[0]!);
        assert.ok(text.endsWith("\r\n\r\nbefore\r\n.\r\n..more\r\nafter\r\n"), text);
      } finally {
        c.close();
      }
    });
  } finally {
    await srv.close();
  }
});

Deno.test({
  name: "SmtpTestClient.reply() still returns the next reply after a timed-out reply()",
  async fn() {
    const srv = await startTestServer();
    const c = await SmtpTestClient.connect(srv.port("smtp"));
    try {
      assert.equal((await c.reply()).code, 220);
      await assert.rejects(c.reply(200), /timed out/);
      await c.send("NOOP\r\n");
      assert.equal((await c.reply(2000)).raw, "250 2.0.0 Ok\r\n");
    } finally {
      c.close();
      await srv.close();
    }
  },
});

Deno.test({
  name: "a client that pipelines a message and disconnects unread does not stall stop()",
  async fn() {
    const srv = await startTestServer({
      config: { timeouts: { shutdown_seconds: 1, command_seconds: 10 } },
    });
    let closing: Promise<void> | undefined;
    try {
      const c = await SmtpTestClient.connect(srv.port("smtp"));
      assert.equal((await c.reply()).code, 220);
      await c.send(
        "EHLO test\r\nMAIL FROM:<a@test.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" +
          "Subject: unread\r\n\r\nhi\r\n.\r\n",
      );
      c.close(); // the replies stay unread
      await new Promise((r) => setTimeout(r, 500));
      const started = Date.now();
      closing = srv.close();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        closing.then(() => "stopped"),
        new Promise<string>((r) => timer = setTimeout(() => r("stuck"), 3000)),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "stopped", `stop() still running after ${Date.now() - started} ms`);
    } finally {
      await (closing ?? srv.close());
    }
  },
});
