/**
 * Session transcripts for the envelope rules: MAIL parameters, recipient lookup (aliases,
 * catch-all, postmaster), the recipient limit and AUTH-before-MAIL on submission.
 */
import assert from "node:assert/strict";
import { data, openTransaction, setup, transcript } from "./_testing.ts";

Deno.test("Session validates MAIL parameters (RFC 1870, 6152, 6531)", async () => {
  const { session } = setup();
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<a@example.org> SIZE=2048
    S: 552 5.3.4
    C: MAIL FROM:<a@example.org> SIZE=abc
    S: 501 5.5.4
    C: MAIL FROM:<a@example.org> BODY=BINARYMIME
    S: 501 5.5.4
    C: MAIL FROM:<a@example.org> RET=HDRS
    S: 555 5.5.4
    C: MAIL FROM:<ü@example.org>
    S: 553 5.6.7
    C: MAIL FROM:<ü@example.org> SMTPUTF8 BODY=8BITMIME SIZE=100
    S: 250 2.1.0
    C: RCPT TO:<alice@example.test> NOTIFY=NEVER
    S: 555 5.5.4
    C: RCPT TO:<>
    S: 501 5.1.3
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5
  `,
  );
});

Deno.test("Session resolves aliases, catch-all and subaddresses, one copy per mailbox", async () => {
  const { session, delivered } = setup({}, { limits: { max_recipients: 10 } });
  await openTransaction(session, { upTo: "MAIL" });
  await transcript(
    session,
    `
    C: RCPT TO:<Alice@Example.TEST>
    S: 250 2.1.5
    C: RCPT TO:<alice+lists@example.test>
    S: 250 2.1.5
    C: RCPT TO:<team@example.test>
    S: 250 2.1.5
    C: RCPT TO:<info@example.test>
    S: 250 2.1.5
    C: RCPT TO:<anything@other.test>
    S: 250 2.1.5
    C: RCPT TO:<nobody@example.test>
    S: 550 5.1.1
    C: RCPT TO:<ghost@example.test>
    S: 550 5.1.1
    C: RCPT TO:<"alice"@example.test>
    S: 250 2.1.5
    C: RCPT TO:<"al ice"@example.test>
    S: 550 5.1.1
    C: RCPT TO:<alice%x@example.test>
    S: 550 5.1.1
  `,
  );
  const r = await data(session, "Subject: t\r\n\r\nhi\r\n.\r\n");
  assert.equal(r.code, 250);
  assert.equal(delivered.length, 1);
  assert.deepEqual(delivered[0]!.boxes, ["alice@example.test", "bob@example.test"]);
});

Deno.test("Session limits recipients with 452 4.5.3 (RFC 5321 §4.5.3.1.10)", async () => {
  const { session } = setup();
  await openTransaction(session, { upTo: "RCPT" });
  await transcript(
    session,
    `
    C: RCPT TO:<bob@example.test>
    S: 250 2.1.5
    C: RCPT TO:<team@example.test>
    S: 250 2.1.5
    C: RCPT TO:<alice@example.test>
    S: 452 4.5.3
  `,
  );
});

Deno.test("Session on the submission listener requires AUTH: 530 5.7.0", async () => {
  const { session } = setup({ listener: "submission" });
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<alice@example.test>
    S: 530 5.7.0
  `,
  );
});

Deno.test("Session accepts postmaster of every local domain (RFC 5321 §4.5.1)", async () => {
  const { session, delivered } = setup({}, {
    aliases: { "postmaster@example.test": "bob@example.test" },
  });
  await openTransaction(session, { from: "", upTo: "MAIL" });
  await transcript(
    session,
    `
    C: RCPT TO:<postmaster@other.test>
    S: 250 2.1.5
    C: RCPT TO:<PostMaster>
    S: 250 2.1.5
    C: DATA
    S: 354
  `,
  );
  const r = await data(session, "Subject: pm\r\n\r\nx\r\n.\r\n");
  assert.equal(r.code, 250);
  assert.deepEqual(delivered[0]!.boxes, ["bob@example.test"]);
});
