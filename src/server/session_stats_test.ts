/**
 * What a session reports to its statistics hooks (`SessionOptions.stats`): each refusal of
 * MAIL, RCPT, DATA and AUTH with the reason set where it was made, accepted messages with the
 * local accounts they reached, and the TLS state at the session's first MAIL.
 */
import assert from "node:assert/strict";
import { data, setup, transcript } from "./_testing.ts";
import type { AcceptedMessage, Refusal, SessionStats } from "./session_options.ts";
import { refusal, refusalReason, reply } from "../smtp/reply.ts";

function collector() {
  const got = { accepted: [] as AcceptedMessage[], refused: [] as Refusal[], tls: [] as boolean[] };
  const stats: SessionStats = {
    accepted: (m) => got.accepted.push(m),
    refused: (r) => got.refused.push(r),
    mailSession: (tls) => got.tls.push(tls),
  };
  return { got, stats };
}

Deno.test("Session reports refusals with their reasons, sender and recipient", async () => {
  const { got, stats } = collector();
  const { session } = setup({ stats });
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: FOO
    S: 500 5.5.2
    C: MAIL FROM:<a@example.org> SIZE=999999
    S: 552 5.3.4
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: RCPT TO:<victim@elsewhere.test>
    S: 554 5.7.1
    C: RCPT TO:<nobody@example.test>
    S: 550 5.1.1
    C: RCPT TO:<bad address>
    S: 501 5.1.3
    C: RCPT TO:<alice@example.test> NOTIFY=NEVER
    S: 555 5.5.4
    C: RSET
    S: 250 2.0.0
    C: DATA
    S: 503 5.5.1
  `,
  );
  assert.deepEqual(got.refused.map((r) => [r.reason, r.from, r.to]), [
    ["too_big", "a@example.org", undefined],
    ["relay_denied", "a@example.org", "victim@elsewhere.test"],
    ["unknown_recipient", "a@example.org", "nobody@example.test"],
    ["bad_address", "a@example.org", "bad address"],
    ["protocol", "a@example.org", "alice@example.test"],
    ["protocol", undefined, undefined],
  ]);
  const relay = got.refused[1]!;
  assert.equal(relay.ip, "192.0.2.7");
  assert.equal(relay.detail, "554 5.7.1 <victim@elsewhere.test>: Relay access denied");
  assert.equal(relay.account, undefined);
  // FOO is not a mail command; the plain-text session was counted once, at its first MAIL.
  assert.deepEqual(got.tls, [false]);
  assert.deepEqual(got.accepted, []);
});

Deno.test("Session reports an accepted message with each local account it reached", async () => {
  const { got, stats } = collector();
  const { session } = setup({ stats, tls: { protocol: "TLSv1.3", cipher: "x" } });
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: RCPT TO:<team@example.test>
    S: 250 2.1.5
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5
    C: DATA
    S: 354
  `,
  );
  const r = await data(session, "From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n.\r\n");
  assert.equal(r.code, 250);
  assert.deepEqual(got.accepted, [{
    queueId: "test.1",
    from: "a@example.org",
    ip: "192.0.2.7",
    local: [
      { account: "alice@example.test", to: "team@example.test" },
      { account: "bob@example.test", to: "team@example.test" },
    ],
    remote: [],
  }]);
  assert.deepEqual(got.tls, [true]);
  // A message with bare LF is refused at the end of DATA, naming every recipient.
  await transcript(
    session,
    `
    C: MAIL FROM:<a@example.org>
    S: 250 2.1.0
    C: RCPT TO:<bob@example.test>
    S: 250 2.1.5
    C: DATA
    S: 354
  `,
  );
  const bad = await data(session, "Subject: x\nbare\r\n.\r\n");
  assert.equal(bad.code, 550);
  assert.deepEqual(got.refused.map((x) => [x.reason, x.from, x.to]), [
    ["bad_line_endings", "a@example.org", "bob@example.test"],
  ]);
  assert.deepEqual(got.tls, [true], "one count per session");
});

Deno.test("refusalReason: the tag where set, else from the enhanced status code", () => {
  assert.equal(refusalReason(refusal("spf_fail", 550, "5.7.23", "x")), "spf_fail");
  assert.equal(refusalReason(reply(550, "5.1.1", "x")), "unknown_recipient");
  assert.equal(refusalReason(reply(501, "5.1.3", "x")), "bad_address");
  assert.equal(refusalReason(reply(552, "5.3.4", "x")), "too_big");
  assert.equal(refusalReason(reply(503, "5.5.1", "x")), "protocol");
  assert.equal(refusalReason(reply(450, "4.2.0", "x")), "other");
  assert.equal(refusalReason(reply(554, undefined, "x")), "other");
});
