/// <reference lib="dom" />
/**
 * The admin page in a real browser: Debian's Chromium, headless, driven by puppeteer-core,
 * against a running postie (the `admin` listener on a loopback port). An admin logs in, adds
 * an account and a forward, retries a queued message, runs the DNS check and logs out; a page
 * on another origin cannot post a form to the API; wrong passwords are throttled; an account
 * without the admin role gets 403 and only its own page; markup in data stays text; the
 * session cookie is HttpOnly, Secure and SameSite=Strict.
 *
 * Every wait is for a selector or a state, never a sleep. A screenshot of each page goes to
 * tests/browser/screenshots/ (not in git; CI keeps it as an artifact).
 *
 * Chromium runs with `--no-sandbox` only when the tests run as root (as in CI containers):
 * Chromium refuses to start its sandbox as root ("Running as root without --no-sandbox is
 * not supported"). The pages it loads are our own and the test's, on loopback.
 *
 * @module
 */

import assert from "node:assert/strict";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { QueueStore } from "../../src/queue/store.ts";
import type { QueuedMessage } from "../../src/queue/queued_message.ts";
import {
  SmtpTestClient,
  startTestServer,
  submitMessage,
  TEST_PASSWORD,
  type TestServer,
} from "../support/harness.ts";
import type { ZoneRecord } from "../support/dns_server.ts";
import { freePort, waitFor } from "../support/wait.ts";

/** Debian's Chromium (package `chromium`); POSTIE_CHROMIUM names another binary. */
const CHROMIUM = Deno.env.get("POSTIE_CHROMIUM") ?? "/usr/bin/chromium";
const SCREENSHOTS = new URL("./screenshots/", import.meta.url).pathname;
const ADMIN = "boss@example.test";
const USER = "alice@example.test";
/** Markup that would run script if the page ever parsed data as HTML. */
const XSS_SUBJECT = "<img src=x onerror=window.__xss=1>";
const XSS_LOG = "<img src=x onerror=window.__xss=3>";
const XSS_SENDER = `"${XSS_LOG}"@evil.test`;

// Deno.uid() needs --allow-sys=uid and /proc/self needs --allow-all; `id` is in coreutils.
function runningAsRoot(): boolean {
  const out = new Deno.Command("id", { args: ["-u"], stdout: "piped", stderr: "null" })
    .outputSync();
  return out.success && new TextDecoder().decode(out.stdout).trim() === "0";
}

async function launch(): Promise<Browser> {
  return await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: runningAsRoot() ? ["--no-sandbox"] : [],
  });
}

/** A postie with an admin (boss) and a plain account (alice), and a browser page. */
interface Env {
  t: TestServer;
  browser: Browser;
  page: Page;
  base: string;
}

async function withBrowser(
  fn: (env: Env) => Promise<void>,
  config: Record<string, unknown> = {},
): Promise<void> {
  const t = await startTestServer({
    accounts: [ADMIN, USER],
    config: { auth: { failure_delay_ms: 0 }, check: { dnsbl: [] }, ...config },
  });
  let browser: Browser | undefined;
  try {
    t.server.accounts.setAdmin(ADMIN, true);
    browser = await launch();
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    // Script errors of the page fail the test where they happen, not later.
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await fn({ t, browser, page, base: `http://127.0.0.1:${t.port("admin")}/` });
    assert.deepEqual(errors, [], "script errors on the page");
  } finally {
    await browser?.close();
    await t.close();
  }
}

async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}

/** Open a page of the app and wait until its data is shown. */
async function open(page: Page, base: string, name: string): Promise<void> {
  await page.goto(`${base}#/${name}`);
  await page.waitForSelector(`#view[data-ready="${name}"]`);
}

/** Fill the login form and wait for the first page. */
async function login(page: Page, base: string, address: string, first: string): Promise<void> {
  await page.goto(base);
  await page.waitForSelector("#login-form", { visible: true });
  await page.type("#login-address", address);
  await page.type("#login-password", TEST_PASSWORD);
  await page.click("#login-submit");
  await page.waitForSelector(`#view[data-ready="${first}"]`);
}

/** Set a text input's value (replacing what is there). */
async function fill(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(selector, (e) => (e as HTMLInputElement).value = "");
  await page.type(selector, value);
}

async function text(page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (e) => e.textContent ?? "");
}

/** Wait until the message line says `want` (the whole text, or a match of the pattern). */
async function expectMessage(page: Page, want: string | RegExp): Promise<void> {
  const [kind, value] = typeof want === "string" ? ["is", want] : ["matches", want.source];
  try {
    await page.waitForFunction(
      (kind, value) => {
        const t = document.getElementById("message")?.textContent ?? "";
        return kind === "is" ? t === value : new RegExp(value).test(t);
      },
      { timeout: 10_000 },
      kind,
      value,
    );
  } catch (e) {
    const have = JSON.stringify(await text(page, "#message"));
    throw new Error(`the message line ${kind} ${want}? it says ${have}`, { cause: e });
  }
}

/** An API call from inside the page (same origin, the page's cookie). */
async function pageFetch(
  page: Page,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const json = body === undefined ? null : JSON.stringify(body);
  return await page.evaluate(
    async (path, json) => {
      const init: RequestInit = json === null
        ? {}
        : { method: "POST", headers: { "Content-Type": "application/json" }, body: json };
      const r = await fetch(path, init);
      return { status: r.status, body: await r.json() };
    },
    path,
    json,
  );
}

async function queued(t: TestServer): Promise<QueuedMessage[]> {
  await t.server.spool.idle();
  const q = await QueueStore.open(t.dataDir);
  try {
    return q.list();
  } finally {
    q.close();
  }
}

/** Alice submits one message to an address whose server is down, so it stays queued. */
async function submitUndeliverable(t: TestServer, subject: string): Promise<string> {
  await submitMessage(t, {
    account: USER,
    from: `Alice <${USER}>`,
    to: ["someone@down.test"],
    subject,
  });
  // The first attempt fails at once (nothing listens on the port), then the next is an hour off.
  const m = await waitFor("the message deferred once", async () => {
    const list = await queued(t);
    return list.find((m) => m.recipients[0]!.attempts >= 1);
  });
  return m.id;
}

/** Config for a server whose outbound mail goes to a closed loopback port. */
async function downConfig(): Promise<Record<string, unknown>> {
  return {
    outbound: { port: await freePort() },
    queue: { retry_initial: "1h", retry_max: "1h" },
  };
}

const DOWN_ZONE: ZoneRecord[] = [
  { name: "example.test", type: "MX", data: { preference: 10, exchange: "mx.example.test" } },
  { name: "mx.example.test", type: "A", data: "127.0.0.1" },
  { name: "down.test", type: "A", data: "127.0.0.1" },
];

Deno.test("admin page: log in, add an account and a forward, retry a queued message, DNS check, log out", async (ctx) => {
  await withBrowser(async ({ t, page, base }) => {
    t.dns.setRecords(DOWN_ZONE);
    const id = await submitUndeliverable(t, "Held up");

    await ctx.step("a visitor sees the login form first", async () => {
      await page.goto(base);
      await page.waitForSelector("#login-form", { visible: true });
      assert.equal(await page.$eval("#top", (e) => (e as HTMLElement).hidden), true);
      await screenshot(page, "login");
    });

    await ctx.step("the admin logs in and sees the dashboard", async () => {
      await login(page, base, ADMIN, "dashboard");
      assert.equal(await text(page, "#who"), `${ADMIN} (admin)`);
      assert.equal(await text(page, "#queue-size"), "1");
      const bars = await page.$$eval("#chart g.day", (g) => g.length);
      assert.equal(bars, 30, "one group of bars per day");
      // Alice's message to the outside counts as sent: in her row and in the chart's bars.
      const cells = await page.$$eval(
        `#dash-accounts tr[data-account="${USER}"] td`,
        (tds) => tds.map((td) => td.textContent),
      );
      assert.deepEqual(cells, [USER, "0", "1"]);
      const sent = await page.$$eval(
        "#chart rect.sent[data-count]",
        (rs) => rs.reduce((n, r) => n + Number(r.getAttribute("data-count")), 0),
      );
      assert.equal(sent, 1);
      // The chart of one account: the admin's own sent nothing.
      const sentOf = async (account: string) => {
        await page.select("#chart-account", account);
        await page.waitForSelector(`#chart-box[data-account="${account}"] #chart`);
        return await page.$$eval(
          "#chart rect.sent[data-count]",
          (rs) => rs.reduce((n, r) => n + Number(r.getAttribute("data-count")), 0),
        );
      };
      assert.equal(await sentOf(ADMIN), 0);
      assert.equal(await sentOf(USER), 1);
      // The self-signed test certificate is a problem, shown red.
      assert.equal(await page.$eval("#tile-cert", (e) => e.classList.contains("bad")), true);
      await screenshot(page, "dashboard");
    });

    await ctx.step("the session cookie is HttpOnly, Secure and SameSite=Strict", async () => {
      const cookie = (await page.cookies()).find((c) => c.name === "postie_session");
      assert.ok(cookie, "postie_session is set");
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.secure, true);
      assert.equal(cookie.sameSite, "Strict");
      assert.equal(cookie.path, "/");
      assert.equal(await page.evaluate(() => document.cookie), "", "no script can read it");
    });

    await ctx.step("add an account: it is in the table, with its generated password", async () => {
      await open(page, base, "accounts");
      await page.type("#account-address", "carol@example.test");
      await page.click("#account-add");
      await page.waitForSelector('[data-testid="account-row"][data-address="carol@example.test"]');
      const password = await text(page, "#generated-password");
      assert.ok(password.length >= 12, `a generated password: ${password}`);
      assert.ok(t.server.accounts.get("carol@example.test"), "the account exists");
      await screenshot(page, "accounts");
      // The password works: the API accepts it (from outside the browser, no cookie shared).
      const r = await fetch(`${base}api/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ address: "carol@example.test", password }),
      });
      await r.body?.cancel();
      assert.equal(r.status, 200);
    });

    await ctx.step(
      "lock and unlock, make admin, reset the password of, delete an account",
      async () => {
        const row = '[data-testid="account-row"][data-address="carol@example.test"]';
        const label = (button: string, want: string) =>
          page.waitForFunction(
            (sel, want) => document.querySelector(sel)?.textContent === want,
            {},
            `${row} [data-testid="${button}"]`,
            want,
          );
        await page.click(`${row} [data-testid="lock"]`);
        await label("lock", "Unlock");
        assert.equal(t.server.accounts.get("carol@example.test")?.locked, true);
        await page.click(`${row} [data-testid="lock"]`);
        await label("lock", "Lock");
        assert.equal(t.server.accounts.get("carol@example.test")?.locked, false);
        await page.click(`${row} [data-testid="toggle-admin"]`);
        await label("toggle-admin", "Remove admin");
        assert.equal(t.server.accounts.get("carol@example.test")?.admin, true);
        page.once("dialog", (d) => void d.accept("")); // empty: generate one
        await page.click(`${row} [data-testid="reset-password"]`);
        await expectMessage(page, /^New password for carol@example\.test\./);
        assert.ok((await text(page, "#generated-password")).length >= 12);
        page.once("dialog", (d) => void d.accept());
        await page.click(`${row} [data-testid="delete"]`);
        await expectMessage(page, "Deleted carol@example.test.");
        assert.equal(await page.$(row), null);
        assert.equal(t.server.accounts.get("carol@example.test"), undefined);
      },
    );

    await ctx.step("set a forward with keep-copy, and add an alias", async () => {
      await open(page, base, "aliases");
      await page.type("#forward-address", USER);
      await page.type("#forward-target", "alice@elsewhere.test");
      await page.click("#forward-keep");
      await page.click("#forward-set");
      await page.waitForSelector(`[data-testid="forward-row"][data-address="${USER}"]`);
      assert.deepEqual(t.server.accounts.forward(USER), {
        target: "alice@elsewhere.test",
        keepCopy: true,
      });
      await page.type("#alias-address", "team@example.test");
      await page.type("#alias-targets", `${USER}, bob@elsewhere.test`);
      await page.click("#alias-add");
      await page.waitForSelector('[data-testid="alias-row"][data-address="team@example.test"]');
      const row = await text(page, '[data-testid="alias-row"][data-address="team@example.test"]');
      assert.match(row, /alice@example\.test, bob@elsewhere\.test/);
      await screenshot(page, "aliases");
      // Delete the alias (after a confirmation) and clear the forward.
      page.once("dialog", (d) => void d.accept());
      await page.click(
        '[data-testid="alias-row"][data-address="team@example.test"] [data-testid="delete"]',
      );
      await expectMessage(page, "Deleted the alias team@example.test.");
      assert.equal(
        await page.$('[data-testid="alias-row"][data-address="team@example.test"]'),
        null,
      );
      await page.click(`[data-testid="forward-row"][data-address="${USER}"] [data-testid="clear"]`);
      await expectMessage(page, `${USER} no longer forwards.`);
      assert.equal(t.server.accounts.forward(USER), undefined);
    });

    await ctx.step("the queued message is listed; retry makes a new attempt", async () => {
      await open(page, base, "queue");
      const row = `[data-testid="queue-row"][data-id="${id}"]`;
      await page.waitForSelector(row);
      assert.match(await text(page, row), /someone@down\.test - queued, 1 attempt/);
      await page.click(`${row} [data-testid="show"]`);
      await page.waitForSelector("#queue-headers");
      assert.match(await text(page, "#queue-headers"), /Subject: Held up/);
      await screenshot(page, "queue");
      await page.click(`${row} [data-testid="retry"]`);
      await expectMessage(page, `retry ${id}: 1 recipient.`);
      await waitFor("the second attempt", async () => {
        const m = (await queued(t)).find((m) => m.id === id);
        return m && m.recipients[0]!.attempts >= 2 ? true : undefined;
      });
      await page.click("#queue-refresh");
      await page.waitForSelector(`${row} [data-testid="queue-recipient"][data-attempts="2"]`);
    });

    await ctx.step("hold, release and delete the message", async () => {
      const row = `[data-testid="queue-row"][data-id="${id}"]`;
      await page.click(`${row} [data-testid="hold"]`);
      await page.waitForSelector(`${row} [data-testid="release"]`);
      assert.ok((await queued(t)).find((m) => m.id === id)?.held, "held in the store");
      await page.click(`${row} [data-testid="release"]`);
      await page.waitForSelector(`${row} [data-testid="hold"]`);
      assert.equal((await queued(t)).find((m) => m.id === id)?.held, undefined, "released");
      page.once("dialog", (d) => void d.accept());
      await page.click(`${row} [data-testid="delete"]`);
      await expectMessage(page, `delete ${id}: 1 recipient.`);
      assert.equal(await page.$(row), null);
      assert.equal((await queued(t)).find((m) => m.id === id), undefined, "gone from the store");
    });

    await ctx.step(
      "DNS: records with copy buttons; the check shows green and red items",
      async () => {
        await open(page, base, "dns");
        const first = '[data-domain="example.test"] [data-testid="dns-record"]';
        await page.waitForSelector(first);
        const value = await text(page, `${first} [data-testid="dns-value"]`);
        await page.browserContext().overridePermissions(base.slice(0, -1), [
          "clipboard-read",
          "clipboard-write",
          "clipboard-sanitized-write",
        ]);
        await page.click(`${first} [data-testid="copy"]`);
        await expectMessage(page, "Copied.");
        assert.equal(await page.evaluate(() => navigator.clipboard.readText()), value);

        await page.click("#dns-check-run");
        await page.waitForSelector("#dns-check-result[data-done]", { timeout: 60_000 });
        const items = await page.$$eval(
          '#dns-check-result [data-testid="check-item"]',
          (rows) =>
            rows.map((
              r,
            ) => [r.getAttribute("data-what"), r.getAttribute("data-status"), r.className]),
        );
        assert.deepEqual(items.find((i) => i[0] === "MX"), ["MX", "OK", "ok"], "MX is in the zone");
        const spf = items.find((i) => i[0] === "SPF");
        assert.deepEqual(spf, ["SPF", "MISSING", "bad"], "no SPF record in the zone: red");
        await screenshot(page, "dns");
      },
    );

    await ctx.step("reports and log pages show their tables", async () => {
      await open(page, base, "reports");
      await page.waitForSelector("#reports-table");
      assert.match(await text(page, "#reports-summary"), /^0 reports/);
      await screenshot(page, "reports");
      await open(page, base, "log");
      await page.waitForSelector("#log-table");
      await fill(page, "#log-q", "down.test");
      await page.click("#log-search");
      await page.waitForSelector('[data-testid="log-row"][data-kind="sent"]');
      // The changes made earlier in this test are in the audit log, newest first.
      const audit = await page.$$eval(
        '#audit-table [data-testid="audit-row"]',
        (rows) => rows.map((r) => Array.from(r.children, (td) => td.textContent)),
      );
      assert.ok(
        audit.some((r) => r[1] === ADMIN && r[3] === "accounts/add" && r[5] === "ok"),
        JSON.stringify(audit),
      );
      await screenshot(page, "log");
    });

    await ctx.step("the admin's own page", async () => {
      await open(page, base, "me");
      assert.match(await text(page, "#me-counts"), /^Last 30 days: \d+ received, \d+ sent\.$/);
      assert.equal(await page.$$eval("#me-chart g.day", (g) => g.length), 30);
    });

    await ctx.step("log out: the login form again, and the session is gone", async () => {
      await page.click("#logout");
      await page.waitForSelector("#login-form", { visible: true });
      assert.equal(await text(page, "#login-error"), "You are logged out.");
      assert.equal((await pageFetch(page, "api/session")).status, 401);
      assert.equal((await page.cookies()).find((c) => c.name === "postie_session"), undefined);
    });
  }, await downConfig());
});

Deno.test("admin page: a form on another origin cannot add an account", async () => {
  // The attacker's page, on another loopback port: another origin, but the same site, so the
  // browser still sends the SameSite=Strict cookie. The server must refuse it by itself.
  await withBrowser(async ({ t, page, base }) => {
    const target = `${base}api/accounts/add`;
    const forms = [
      // text/plain can carry a body that looks like JSON.
      `<form id="plain" method="post" enctype="text/plain" action="${target}">` +
      `<input name='{"address":"evil1@example.test","x":"' value='"}'>` +
      `<button id="go-plain">go</button></form>`,
      `<form id="urlenc" method="post" action="${target}">` +
      `<input name="address" value="evil2@example.test">` +
      `<button id="go-urlenc">go</button></form>`,
    ];
    const ac = new AbortController();
    const evil = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
      () =>
        new Response(`<!doctype html><body>${forms.join("")}</body>`, {
          headers: { "Content-Type": "text/html" },
        }),
    );
    try {
      await login(page, base, ADMIN, "dashboard");
      const evilUrl = `http://127.0.0.1:${evil.addr.port}/`;
      for (const [button, address] of [["go-plain", "evil1"], ["go-urlenc", "evil2"]]) {
        await page.goto(evilUrl);
        const [response] = await Promise.all([
          page.waitForNavigation(),
          page.click(`#${button}`),
        ]);
        assert.ok(response, "the form was posted");
        assert.ok([403, 415].includes(response.status()), `refused: ${response.status()}`);
        assert.equal(t.server.accounts.get(`${address}@example.test`), undefined);
      }
      // The session itself was fine: the same browser can still add an account from the page.
      await open(page, base, "accounts");
      await page.type("#account-address", "fine@example.test");
      await page.click("#account-add");
      await page.waitForSelector('[data-testid="account-row"][data-address="fine@example.test"]');
    } finally {
      ac.abort();
      await evil.finished;
    }
  });
});

Deno.test("admin page: wrong passwords are throttled (429), then even the right one", async () => {
  await withBrowser(async ({ page, base }) => {
    await page.goto(base);
    await page.waitForSelector("#login-form", { visible: true });
    const statuses: number[] = [];
    const attempt = async (password: string) => {
      await fill(page, "#login-address", ADMIN);
      await fill(page, "#login-password", password);
      const [r] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith("/api/login")),
        page.click("#login-submit"),
      ]);
      statuses.push(r.status());
      await page.waitForSelector("#login-submit:not([disabled])");
      await page.waitForSelector("#login-error:not(:empty)");
    };
    for (let i = 0; i < 4; i++) await attempt("not the password");
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    assert.match(await text(page, "#login-error"), /too many failed logins/);
    await attempt(TEST_PASSWORD);
    assert.equal(statuses[4], 429, "blocked, whatever the password");
    await screenshot(page, "login-throttled");
  }, { auth: { failure_delay_ms: 0, max_failures_per_ip: 3 } });
});

Deno.test("admin page: an account without the admin role sees only its own page", async () => {
  await withBrowser(async ({ t, page, base }) => {
    await login(page, base, USER, "me");
    assert.equal(await text(page, "#who"), USER);
    assert.deepEqual(await page.$$eval("#nav a", (a) => a.map((x) => x.textContent)), [
      "My account",
    ]);
    // Another page's address leads back to its own page.
    await page.goto(`${base}#/accounts`);
    await page.waitForFunction(() => location.hash === "#/me");
    await page.waitForSelector('#view[data-ready="me"]');
    for (const path of ["api/accounts", "api/dashboard", "api/queue", "api/log"]) {
      const r = await pageFetch(page, path);
      assert.deepEqual([r.status, r.body], [403, { error: "admin only" }], path);
    }
    // Its own forward, from its page.
    await page.type("#me-forward-target", "alice@elsewhere.test");
    await page.click("#me-forward-set");
    await expectMessage(page, "Your mail is forwarded now.");
    assert.match(await text(page, "#me-forward"), /^Forwarded to alice@elsewhere\.test/);
    assert.equal(t.server.accounts.forward(USER)?.target, "alice@elsewhere.test");
    // A wrong current password is refused and said so.
    await page.type("#me-current", "not my password");
    await page.type("#me-new", "a new long password");
    await page.click("#me-password");
    await page.waitForSelector("#message.error");
    await screenshot(page, "me");
    // With the right one it is changed: the new password logs in.
    await fill(page, "#me-current", TEST_PASSWORD);
    await fill(page, "#me-new", "a new long password");
    await page.click("#me-password");
    await expectMessage(page, "Your password was changed.");
    const r = await fetch(`${base}api/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ address: USER, password: "a new long password" }),
    });
    await r.body?.cancel();
    assert.equal(r.status, 200);
  });
});

Deno.test("admin page: markup in a subject, an alias target and the log is shown as text", async () => {
  await withBrowser(async ({ t, page, base }) => {
    t.dns.setRecords(DOWN_ZONE);
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    const id = await submitUndeliverable(t, XSS_SUBJECT);
    // A rejected message whose sender is markup (a quoted local part may hold < and >).
    const c = await SmtpTestClient.connect(t.port("smtp"));
    try {
      await c.reply();
      await c.cmd("EHLO evil.test");
      await c.cmd(`MAIL FROM:<${XSS_SENDER}>`);
      assert.equal((await c.cmd("RCPT TO:<nobody@example.test>")).code, 550);
    } finally {
      c.close();
    }
    await login(page, base, ADMIN, "dashboard");

    await open(page, base, "queue");
    await page.click(`[data-testid="queue-row"][data-id="${id}"] [data-testid="show"]`);
    await page.waitForSelector("#queue-headers");
    assert.ok((await text(page, "#queue-headers")).includes(`Subject: ${XSS_SUBJECT}`));

    await open(page, base, "aliases");
    const target = "<img src=x onerror=window.__xss=2>@elsewhere.test";
    await page.type("#alias-address", "markup@example.test");
    await page.type("#alias-targets", target);
    await page.click("#alias-add");
    // Refused as a bad address or listed: either way the markup is on the page as text.
    await page.waitForFunction(
      (t) =>
        document.querySelector("#message")!.textContent!.includes(t) ||
        document.querySelector("#aliases-table")!.textContent!.includes(t),
      {},
      "<img src=x onerror=window.__xss=2>",
    );

    await open(page, base, "log");
    await fill(page, "#log-q", "evil.test");
    await page.click("#log-search");
    await page.waitForSelector('[data-testid="log-row"][data-kind="rejected"]');
    assert.ok((await text(page, "#log-table")).includes(XSS_LOG));
    await screenshot(page, "markup-as-text");

    assert.equal(await page.$$eval("img", (i) => i.length), 0, "no element was made");
    assert.equal(await page.evaluate(() => (window as { __xss?: number }).__xss), undefined);
    assert.deepEqual(requests.filter((u) => /\/x$/.test(u)), [], "no image was fetched");
  }, await downConfig());
});
