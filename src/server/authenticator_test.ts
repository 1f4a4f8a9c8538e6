/** AUTH (RFC 4954) driven through session transcripts: where it is offered and its exchange. */
import assert from "node:assert/strict";
import { run, setup, transcript } from "./_testing.ts";

const tls = { protocol: "TLSv1.3", cipher: "X" };
const credentials = { get: () => undefined };

Deno.test("AUTH is not offered on the smtp listener (502) nor before TLS (538)", async () => {
  await transcript(
    setup({ credentials, tls }).session,
    "C: EHLO c.example.org\nS: 250\nC: AUTH PLAIN\nS: 502 5.5.1",
  );
  const plain = setup({ listener: "submission", credentials }).session;
  const ehlo = await run(plain, "EHLO c.example.org");
  assert.ok(ehlo.kind === "reply" && !ehlo.reply.lines.some((l) => l.startsWith("AUTH")));
  await transcript(plain, "C: AUTH PLAIN\nS: 538 5.7.11");
  const secure = setup({ listener: "submission", credentials, tls }).session;
  await transcript(secure, "C: AUTH PLAIN\nS: 503 5.5.1");
  const a = await run(secure, "EHLO c.example.org");
  assert.ok(a.kind === "reply" && a.reply.lines.includes("AUTH PLAIN LOGIN"));
});

Deno.test("AUTH exchange: unknown mechanism, cancel, bad base64, over-long line", async () => {
  const { session } = setup({ listener: "submission", credentials, tls });
  await transcript(
    session,
    `
    C: EHLO c.example.org
    S: 250
    C: AUTH CRAM-MD5
    S: 504 5.5.4
    C: AUTH PLAIN x y
    S: 501 5.5.4
    C: AUTH PLAIN
    S: 334
    C: *
    S: 501 5.7.0
    C: AUTH PLAIN !!!!
    S: 501 5.5.2
    C: AUTH LOGIN
    S: 334
  `,
  );
  const long = session.lineTooLong();
  assert.equal(`${long.code} ${long.enhanced}`, "500 5.5.6");
  assert.equal(`${session.lineTooLong().enhanced}`, "5.5.2", "the exchange is over");
  await transcript(session, "C: MAIL FROM:<alice@example.test>\nS: 530 5.7.0");
});
