/**
 * The admin page's JSON API against a running postie (listen.admin on a loopback port): login
 * and sessions, the cookie's flags, CSRF and cross-origin refusals, throttling by the shared
 * AuthGuard, roles (403 for non-admins), the account, alias, forward and queue actions, the
 * audit log, the Host check against DNS rebinding, /metrics, and `admin.public` on HTTPS.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  serverCert,
  SmtpTestClient,
  startTestServer,
  submitMessage,
  TEST_PASSWORD,
  type TestServer,
} from "../support/harness.ts";
import { exchange, get } from "../../src/http/_testing.ts";
import { waitFor } from "../support/wait.ts";

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** A client of one admin listener that keeps its session cookie, like a browser. */
class AdminClient {
  readonly base: string;
  cookie = "";
  csrf = "";

  constructor(port: number) {
    this.base = `http://127.0.0.1:${port}/`;
  }

  async call(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    const h: Record<string, string> = { ...headers };
    if (this.cookie) h["Cookie"] = this.cookie;
    if (method === "POST") {
      h["Content-Type"] ??= "application/json";
      if (this.csrf && !("X-CSRF-Token" in h)) h["X-CSRF-Token"] = this.csrf;
    }
    const res = await fetch(this.base + path, {
      method,
      headers: h,
      ...(method === "POST"
        ? { body: typeof body === "string" ? body : JSON.stringify(body ?? {}) }
        : {}),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { text };
    }
    const set = res.headers.get("set-cookie");
    if (set) this.cookie = set.split(";")[0]!;
    return { status: res.status, body: parsed, headers: res.headers };
  }

  async login(address: string, password = TEST_PASSWORD): Promise<Reply> {
    const r = await this.call("POST", "api/login", { address, password });
    if (r.status === 200) this.csrf = String(r.body["csrf"]);
    return r;
  }
}

async function withServer(
  fn: (t: TestServer, admin: AdminClient) => Promise<void>,
  config: Record<string, unknown> = {},
): Promise<void> {
  const t = await startTestServer({
    accounts: ["boss@example.test", "alice@example.test"],
    config: { auth: { failure_delay_ms: 0 }, ...config },
  });
  try {
    t.server.accounts.setAdmin("boss@example.test", true);
    await fn(t, new AdminClient(t.port("admin")));
  } finally {
    await t.close();
  }
}

Deno.test("admin login: the session cookie's flags, the CSRF token, logout", async () => {
  await withServer(async (t, c) => {
    assert.equal((await c.call("GET", "api/session")).status, 401);
    const wrong = await c.login("boss@example.test", "not the password");
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body["error"], "wrong address or password");
    const ok = await c.login("boss@example.test");
    assert.equal(ok.status, 200);
    assert.deepEqual([ok.body["address"], ok.body["admin"]], ["boss@example.test", true]);
    const set = ok.headers.get("set-cookie") ?? "";
    assert.match(set, /^postie_session=[A-Za-z0-9_-]{43}; /);
    for (const flag of ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"]) {
      assert.ok(set.split("; ").includes(flag), `${flag} in ${set}`);
    }
    assert.match(set, /Max-Age=43200/, "admin.session_hours 12 by default");
    const session = await c.call("GET", "api/session");
    assert.equal(session.status, 200);
    assert.equal(session.body["csrf"], c.csrf);
    // No secret in a URL: the token is not accepted as a query parameter, only as a header.
    const noToken = await c.call("POST", "api/accounts/add", { address: "x@example.test" }, {
      "X-CSRF-Token": "",
    });
    assert.equal(noToken.status, 403);
    assert.equal(noToken.body["error"], "CSRF token missing or wrong");
    assert.equal(t.server.accounts.get("x@example.test"), undefined);
    const kept = c.cookie;
    const out = await c.call("POST", "api/logout", {});
    assert.equal(out.status, 200);
    assert.match(out.headers.get("set-cookie") ?? "", /Max-Age=0/);
    c.cookie = kept; // a browser that kept the old cookie anyway
    assert.equal((await c.call("GET", "api/session")).status, 401, "the session is gone");
    const audit = await Deno.readTextFile(join(t.dataDir, "audit.log"));
    assert.match(audit, /"action":"login","target":"boss@example.test","ok":false/);
    assert.match(audit, /"action":"logout"/);
    assert.doesNotMatch(audit, new RegExp(TEST_PASSWORD));
  });
});

Deno.test("admin API: cross-site posts are refused (form type, Origin, Sec-Fetch-Site)", async () => {
  await withServer(async (t, c) => {
    await c.login("boss@example.test");
    const form = await c.call("POST", "api/accounts/add", "address=evil%40example.test", {
      "Content-Type": "application/x-www-form-urlencoded",
    });
    assert.equal(form.status, 415);
    const origin = await c.call("POST", "api/accounts/add", { address: "evil@example.test" }, {
      Origin: "http://127.0.0.1:9",
    });
    assert.equal(origin.status, 403);
    const site = await c.call("POST", "api/accounts/add", { address: "evil@example.test" }, {
      "Sec-Fetch-Site": "same-site",
    });
    assert.equal(site.status, 403);
    assert.equal(t.server.accounts.get("evil@example.test"), undefined);
    // The login itself is JSON-only too (no login CSRF from a form).
    const anon = new AdminClient(t.port("admin"));
    const login = await anon.call(
      "POST",
      "api/login",
      `address=boss%40example.test&password=x`,
      { "Content-Type": "application/x-www-form-urlencoded" },
    );
    assert.equal(login.status, 415);
  });
});

Deno.test("admin login is throttled by the AuthGuard shared with SMTP and IMAP", async () => {
  await withServer(async (_t, c) => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await c.login("boss@example.test", `wrong ${i}`)).status, 401);
    }
    const blocked = await c.login("boss@example.test");
    assert.equal(blocked.status, 429, "the right password is not even checked now");
    assert.equal(blocked.headers.get("retry-after"), "60");
  }, { auth: { failure_delay_ms: 0, max_failures_per_ip: 3 } });
});

Deno.test("admin API: a non-admin gets 403 and manages only its own things", async () => {
  await withServer(async (t, c) => {
    const r = await c.login("alice@example.test");
    assert.equal(r.body["admin"], false);
    for (const path of ["api/dashboard", "api/accounts", "api/queue", "api/dns", "api/log"]) {
      const x = await c.call("GET", path);
      assert.equal(x.status, 403, path);
      assert.equal(x.body["error"], "admin only");
    }
    const add = await c.call("POST", "api/accounts/add", { address: "mallory@example.test" });
    assert.equal(add.status, 403);
    assert.equal(t.server.accounts.get("mallory@example.test"), undefined);
    const fwd = await c.call("POST", "api/me/forward", {
      target: "alice@elsewhere.example",
      keepCopy: true,
    });
    assert.equal(fwd.status, 200, JSON.stringify(fwd.body));
    assert.deepEqual(t.server.accounts.forward("alice@example.test"), {
      target: "alice@elsewhere.example",
      keepCopy: true,
    });
    const me = await c.call("GET", "api/me");
    assert.equal(me.status, 200);
    assert.equal((me.body["days"] as unknown[]).length, 30);
    assert.deepEqual(me.body["forward"], { target: "alice@elsewhere.example", keepCopy: true });
    const badCurrent = await c.call("POST", "api/me/password", {
      current: "nope",
      password: "a new long password",
    });
    assert.equal(badCurrent.status, 403);
    const pw = await c.call("POST", "api/me/password", {
      current: TEST_PASSWORD,
      password: "a new long password",
    });
    assert.equal(pw.status, 200, JSON.stringify(pw.body));
    const again = new AdminClient(t.port("admin"));
    assert.equal((await again.login("alice@example.test", "a new long password")).status, 200);
  });
});

Deno.test("admin API: accounts, aliases and forwards through the CLI's actions", async () => {
  await withServer(async (t, c) => {
    await c.login("boss@example.test");
    const add = await c.call("POST", "api/accounts/add", { address: "New@Example.test" });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.equal((add.body["account"] as Record<string, unknown>)["address"], "new@example.test");
    assert.equal(typeof add.body["password"], "string", "a generated password is shown once");
    assert.equal(
      (await c.call("POST", "api/accounts/add", { address: "new@example.test" })).status,
      409,
    );
    const bad = await c.call("POST", "api/accounts/add", { address: "x@not-local.test" });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body["error"]), /not a local domain/);
    await Deno.stat(join(t.dataDir, "mail", "example.test", "new", "new"));
    const list = await c.call("GET", "api/accounts");
    const addresses = (list.body["accounts"] as { address: string }[]).map((a) => a.address);
    assert.ok(addresses.includes("new@example.test"));
    assert.equal(
      (await c.call("POST", "api/accounts/lock", { address: "new@example.test", locked: true }))
        .status,
      200,
    );
    assert.equal(t.server.accounts.get("new@example.test")?.locked, true);
    const selfLock = await c.call("POST", "api/accounts/lock", {
      address: "boss@example.test",
      locked: true,
    });
    assert.equal(selfLock.status, 400, "an admin cannot lock themselves out");
    const spelled = await c.call("POST", "api/accounts/lock", {
      address: " Boss@Example.TEST. ",
      locked: true,
    });
    assert.equal(spelled.status, 400, "not by another spelling of the same address either");
    assert.equal(t.server.accounts.get("boss@example.test")?.locked, false);
    assert.equal(
      (await c.call("POST", "api/accounts/admin", { address: "alice@example.test", admin: true }))
        .status,
      200,
    );
    assert.equal(t.server.accounts.get("alice@example.test")?.admin, true);
    const alias = await c.call("POST", "api/aliases/add", {
      address: "sales@example.test",
      targets: ["alice@example.test"],
    });
    assert.equal(alias.status, 200, JSON.stringify(alias.body));
    const aliases = await c.call("GET", "api/aliases");
    assert.ok(
      (aliases.body["aliases"] as { address: string; source: string }[]).some((a) =>
        a.address === "sales@example.test" && a.source === "admin"
      ),
    );
    // The alias works at once: mail for it reaches alice.
    const smtp = await SmtpTestClient.connect(t.port("smtp"));
    try {
      await smtp.reply();
      await smtp.cmd("EHLO client.example.org");
      assert.equal((await smtp.cmd("MAIL FROM:<x@sender.example>")).code, 250);
      assert.equal((await smtp.cmd("RCPT TO:<sales@example.test>")).code, 250);
    } finally {
      smtp.close();
    }
    const fwd = await c.call("POST", "api/forwards/set", {
      address: "new@example.test",
      target: "new@elsewhere.example",
      keepCopy: false,
    });
    assert.equal(fwd.status, 200, JSON.stringify(fwd.body));
    const forwards = await c.call("GET", "api/forwards");
    assert.deepEqual(forwards.body["forwards"], [
      { address: "new@example.test", target: "new@elsewhere.example", keepCopy: false },
    ]);
    assert.equal(
      (await c.call("POST", "api/accounts/delete", { address: "new@example.test" })).status,
      200,
    );
    assert.equal(t.server.accounts.get("new@example.test"), undefined);
    const audit = (await Deno.readTextFile(join(t.dataDir, "audit.log"))).trim().split("\n")
      .map((l) => JSON.parse(l));
    const actions = audit.map((e) => `${e.action} ${e.target ?? ""} ${e.ok}`);
    assert.ok(actions.includes("accounts/add new@example.test true"), actions.join("\n"));
    assert.ok(actions.includes("accounts/add new@example.test false"));
    assert.ok(actions.includes("accounts/delete new@example.test true"));
    assert.ok(audit.every((e) => e.actor === "boss@example.test" || e.actor === "-"));
    assert.doesNotMatch(JSON.stringify(audit), new RegExp(String(add.body["password"])));
    // The page shows the newest changes first.
    const recent = await c.call("GET", "api/audit?limit=2");
    assert.deepEqual(
      (recent.body["entries"] as { action: string; target: string }[]).map((e) =>
        `${e.action} ${e.target}`
      ),
      ["accounts/delete new@example.test", "forwards/set new@example.test"],
    );
  });
});

Deno.test("admin API: the queue: list, show, hold, release, retry, bounce", async () => {
  await withServer(async (t, c) => {
    // remote.test is reachable in DNS, but its SMTP port (outbound.port 1) is closed.
    t.dns.setRecords([
      { name: "remote.test", type: "MX", data: { preference: 10, exchange: "mx.remote.test" } },
      { name: "mx.remote.test", type: "A", data: "127.0.0.1" },
    ]);
    await submitMessage(t, {
      account: "alice@example.test",
      to: ["bob@remote.test"],
      subject: "<b>stuck</b>",
    });
    await c.login("boss@example.test");
    const m = await waitFor("the queued message", async () => {
      const q = await c.call("GET", "api/queue");
      const list = q.body["messages"] as { id: string; recipients: { attempts: number }[] }[];
      return list.find((x) => x.recipients[0]!.attempts >= 1);
    });
    const show = await c.call("GET", `api/queue/show?id=${m.id}`);
    assert.equal(show.status, 200);
    assert.match(String(show.body["headers"]), /Subject: <b>stuck<\/b>/);
    assert.equal((await c.call("GET", "api/queue/show?id=nope")).status, 404);
    assert.deepEqual((await c.call("POST", "api/queue/hold", { id: m.id })).body, {
      ok: true,
      count: 1,
    });
    const held = await c.call("GET", "api/queue");
    assert.ok((held.body["messages"] as { held?: string }[])[0]!.held);
    assert.equal((await c.call("POST", "api/queue/release", { id: m.id })).status, 200);
    const retry = await c.call("POST", "api/queue/retry", { id: m.id });
    assert.equal(retry.status, 200);
    assert.equal(retry.body["count"], 1);
    const bounce = await c.call("POST", "api/queue/bounce", { id: m.id });
    assert.equal(bounce.body["count"], 1);
    assert.equal((await c.call("POST", "api/queue/delete", { id: "nope" })).status, 404);
    // Per account traffic for the dashboard's chart.
    const sent = async (account: string) => {
      const r = await c.call("GET", `api/traffic?account=${encodeURIComponent(account)}`);
      return (r.body["days"] as { sent: number }[]).reduce((n, d) => n + d.sent, 0);
    };
    assert.equal(await sent("alice@example.test"), 1);
    assert.equal(await sent("boss@example.test"), 0);
  }, { auth: { failure_delay_ms: 0 }, outbound: { port: 1 } });
});

Deno.test("admin listener: Host must name this server (DNS rebinding), /metrics, the page", async () => {
  await withServer(async (t) => {
    const port = t.port("admin");
    const rebound = await exchange(port, get("/api/session", "evil.example"));
    assert.equal(rebound.status, 421);
    const page = await exchange(port, get("/", `127.0.0.1:${port}`));
    assert.equal(page.status, 200);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers.get("x-frame-options"), "DENY");
    assert.doesNotMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
    for (const path of ["/constructor", "/__proto__", "/toString", "/nope.js"]) {
      assert.equal((await exchange(port, get(path, "localhost"))).status, 404, path);
    }
    const metrics = await exchange(port, get("/metrics", "localhost"));
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^postie_up 1$/m);
    assert.match(metrics.body, /# TYPE postie_messages_rejected_total counter/);
  });
});

Deno.test("admin.public: the page under /admin/ on HTTPS, never on plain HTTP", async () => {
  await withServer(async (t, c) => {
    const https = t.port("https");
    const ca = await serverCert(t);
    const tlsOpts = { ca, servername: "mx.example.test" };
    const page = await exchange(https, get("/admin/", "mx.example.test"), tlsOpts);
    assert.equal(page.status, 200);
    assert.match(page.body, /app\.js/);
    const redirect = await exchange(https, get("/admin", "mx.example.test"), tlsOpts);
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get("location"), "/admin/");
    const body = JSON.stringify({ address: "boss@example.test", password: TEST_PASSWORD });
    const login = await exchange(
      https,
      `POST /admin/api/login HTTP/1.1\r\nHost: mx.example.test\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`,
      tlsOpts,
    );
    assert.equal(login.status, 200, login.raw);
    assert.match(login.headers.get("set-cookie") ?? "", /Path=\/admin\/; .*Secure/);
    const plain = await exchange(t.port("http"), get("/admin/", "mx.example.test"));
    assert.equal(plain.status, 301, "plain HTTP only redirects to HTTPS");
    assert.match(plain.headers.get("location") ?? "", /^https:\/\//);
    // The metrics stay on the loopback listener.
    assert.equal((await exchange(https, get("/metrics", "mx.example.test"), tlsOpts)).status, 404);
    assert.equal((await c.call("GET", "api/session")).status, 401);
  }, {
    auth: { failure_delay_ms: 0 },
    admin: { public: true },
    listen: { http: ["127.0.0.1:0"], https: ["127.0.0.1:0"] },
  });
});
