/**
 * Submission interop (RFC 6409, RFC 4954, RFC 8314): swaks with AUTH PLAIN and LOGIN over
 * STARTTLS (--tls) and implicit TLS (--tlsc), and Python smtplib starttls() + login(), as a
 * mail client would submit. No test uses the system resolver.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer, TEST_PASSWORD, type TestServer } from "../support/harness.ts";
import { run, SWAKS_ENV } from "./tools.ts";

const ALICE = "alice@example.test";
const BOB = "bob@example.test";

async function withServer(fn: (t: TestServer) => Promise<void>): Promise<void> {
  const t = await startTestServer({
    accounts: [ALICE, BOB],
    config: { auth: { failure_delay_ms: 0 } },
  });
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

async function stored(t: TestServer, who: string, subject: string): Promise<string> {
  for (const f of await t.newMail(who)) {
    const text = await Deno.readTextFile(f);
    if (text.includes(`\r\nSubject: ${subject}\r\n`)) return text;
  }
  throw new Error(`no message "${subject}" for ${who}`);
}

Deno.test("swaks submits with AUTH PLAIN and LOGIN over STARTTLS (587) and implicit TLS (465)", async () => {
  await withServer(async (t) => {
    const cases: [string, string, string[]][] = [
      ["PLAIN", "submission", ["--tls"]],
      ["LOGIN", "submission", ["--tls"]],
      ["PLAIN", "submissions", ["--tlsc"]],
      ["LOGIN", "submissions", ["--tlsc"]],
    ];
    for (const [mech, kind, tls] of cases) {
      const subject = `swaks ${mech} ${kind} ${crypto.randomUUID()}`;
      const r = await run("swaks", {
        env: SWAKS_ENV,
        args: [
          "--server",
          `127.0.0.1:${t.port(kind as "submission" | "submissions")}`,
          "--helo",
          "laptop.example.net",
          "--from",
          ALICE,
          "--to",
          BOB,
          "--header",
          `From: Alice <${ALICE}>`,
          "--header",
          `Subject: ${subject}`,
          "--auth",
          mech,
          "--auth-user",
          ALICE,
          "--auth-password",
          TEST_PASSWORD,
          "--timeout",
          "10",
          ...tls,
        ],
      });
      assert.equal(r.code, 0, `${mech} ${kind}: ${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /235 2\.7\.0 Authentication successful/);
      const text = await stored(t, BOB, subject);
      assert.match(text, /with ESMTPSA id /);
    }
    // A wrong password is refused and swaks reports it.
    const bad = await run("swaks", {
      env: SWAKS_ENV,
      args: [
        "--server",
        `127.0.0.1:${t.port("submission")}`,
        "--helo",
        "laptop.example.net",
        "--from",
        ALICE,
        "--to",
        BOB,
        "--auth",
        "PLAIN",
        "--auth-user",
        ALICE,
        "--auth-password",
        "not the password",
        "--tls",
        "--timeout",
        "10",
      ],
    });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout, /535 5\.7\.8/);
  });
});

const PYTHON_SUBMIT = String.raw`
import json, smtplib, ssl, sys
port, cafile, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
wrap = ctx.wrap_socket
def wrap_named(sock, *args, **kwargs):
    kwargs["server_hostname"] = "mx.example.test"
    return wrap(sock, *args, **kwargs)
ctx.wrap_socket = wrap_named
out = {}
s = smtplib.SMTP("127.0.0.1", port, local_hostname="laptop.example.net", timeout=10)
s.ehlo()
out["auth_before_tls"] = s.has_extn("auth")
s.starttls(context=ctx)
s.ehlo()
out["auth_after_tls"] = s.esmtp_features.get("auth", "")
out["login"] = s.login("alice@example.test", sys.argv[4])[0]
msg = "From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: %s\r\n\r\nhi\r\n" % subject
out["refused"] = s.sendmail("alice@example.test", ["bob@example.test"], msg)
try:
    s.sendmail("bob@example.test", ["bob@example.test"], msg)
    out["impersonation"] = None
except smtplib.SMTPSenderRefused as e:
    out["impersonation"] = [e.smtp_code, e.smtp_error.decode()]
s.quit()
print(json.dumps(out))
`;

Deno.test("Python smtplib: starttls() + login() + sendmail(), impersonation refused", async () => {
  await withServer(async (t) => {
    const subject = `smtplib submit ${crypto.randomUUID()}`;
    const r = await run("python3", {
      args: [
        "-c",
        PYTHON_SUBMIT,
        String(t.port("submission")),
        join(t.dataDir, "tls", "selfsigned-cert.pem"),
        subject,
        TEST_PASSWORD,
      ],
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.auth_before_tls, false);
    assert.equal(out.auth_after_tls.trim(), "PLAIN LOGIN");
    assert.equal(out.login, 235);
    assert.deepEqual(out.refused, {});
    assert.equal(out.impersonation[0], 553);
    assert.match(out.impersonation[1], /^5\.7\.1 /);
    await stored(t, BOB, subject);
  });
});
