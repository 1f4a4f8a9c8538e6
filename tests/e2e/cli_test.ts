/**
 * The postie command as a user runs it: a separate process, real signals, real files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AccountStore } from "../../src/accounts/store.ts";
import { TestDnsServer } from "../support/dns_server.ts";
import { sendMail, SmtpTestClient } from "../support/harness.ts";
import { parseZone } from "../support/zone.ts";
import { DENO_RUN_FLAGS, MAIN } from "../support/postie_process.ts";
import { freePort, waitFor } from "../support/wait.ts";

const dec = new TextDecoder();

async function postie(args: string[], opts: { cwd?: string; stdin?: string } = {}) {
  const p = new Deno.Command(Deno.execPath(), {
    env: { DENO_NO_UPDATE_CHECK: "1" },
    args: [...DENO_RUN_FLAGS, MAIN, ...args],
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await p.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

interface Instance {
  dir: string;
  configPath: string;
  smtp: number;
  dns: TestDnsServer;
  writeConfig(extra?: string): Promise<void>;
}

async function instance(): Promise<Instance> {
  const dir = await Deno.makeTempDir({ prefix: "postie-cli-" });
  const dns = await TestDnsServer.start();
  const [smtp, sub, subs] = [await freePort(), await freePort(), await freePort()];
  const configPath = join(dir, "postie.yaml");
  const inst: Instance = {
    dir,
    configPath,
    smtp,
    dns,
    async writeConfig(extra = "") {
      await Deno.writeTextFile(
        configPath,
        `hostname: mx.example.test
data_dir: data
domains: [example.test]
listen:
  smtp: ["127.0.0.1:${smtp}"]
  submission: ["127.0.0.1:${sub}"]
  submissions: ["127.0.0.1:${subs}"]
  imap: []
  imaps: []
  admin: []
dns:
  nameservers: ["${dns.address}"]
timeouts:
  shutdown_seconds: 10
${extra}`,
      );
    },
  };
  await inst.writeConfig();
  return inst;
}

async function cleanup(i: Instance): Promise<void> {
  await i.dns.close();
  await Deno.remove(i.dir, { recursive: true });
}

// The server's log goes to null: an unread pipe would fill up and stall the server.
function serve(i: Instance): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    env: { DENO_NO_UPDATE_CHECK: "1" },
    args: [...DENO_RUN_FLAGS, MAIN, "serve", "--config", i.configPath],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function newMail(i: Instance, local: string): Promise<string[]> {
  const out = [];
  const dir = join(i.dir, "data", "mail", "example.test", local, "new");
  try {
    for await (const e of Deno.readDir(dir)) out.push(join(dir, e.name));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

Deno.test("postie --help and --version", async () => {
  const h = await postie(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /postie serve \[--config FILE\]/);
  assert.match(h.stdout, /postie user add ADDRESS/);
  const v = await postie(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^postie \d+\.\d+\.\d+\n$/);
  const bad = await postie(["frobnicate"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
});

Deno.test("postie config check accepts a good file and names the key of a bad one", async () => {
  const i = await instance();
  try {
    const ok = await postie(["config", "check", "--config", i.configPath]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /OK/);
    await i.writeConfig("limits:\n  max_recipients: -3\n");
    const bad = await postie(["config", "check", "--config", i.configPath]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /"limits.max_recipients" must be an integer from 1 to 10000/);
    await Deno.writeTextFile(i.configPath, "hostname: [unclosed\n");
    const yaml = await postie(["config", "check", "--config", i.configPath]);
    assert.equal(yaml.code, 1);
    assert.match(yaml.stderr, /invalid YAML/);
    const missing = await postie(["config", "check", "--config", join(i.dir, "nope.yaml")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Cannot load config/);
  } finally {
    await cleanup(i);
  }
});

Deno.test("postie user add/list/passwd/del manage accounts and create the Maildir", async () => {
  const i = await instance();
  try {
    const c = ["--config", i.configPath];
    const add = await postie(["user", "add", "Alice@Example.test", ...c]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /Added alice@example\.test\nPassword: \S{20}\n/);
    for (const d of ["tmp", "new", "cur"]) {
      const st = await Deno.stat(join(i.dir, "data", "mail", "example.test", "alice", d));
      assert.ok(st.isDirectory);
    }
    const add2 = await postie(["user", "add", "bob@example.test", "--password-stdin", ...c], {
      stdin: "a good long password\n",
    });
    assert.equal(add2.code, 0, add2.stderr);
    assert.doesNotMatch(add2.stdout, /Password:/);
    const dup = await postie(["user", "add", "alice@example.test", ...c]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists/);
    const foreign = await postie(["user", "add", "x@elsewhere.example", ...c]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /not a local domain/);
    const plus = await postie(["user", "add", "x+y@example.test", ...c]);
    assert.equal(plus.code, 1);
    assert.match(plus.stderr, /subaddress/);
    const short = await postie(["user", "passwd", "bob@example.test", "--password-stdin", ...c], {
      stdin: "short\n",
    });
    assert.equal(short.code, 1);
    const pw = await postie(["user", "passwd", "bob@example.test", ...c]);
    assert.equal(pw.code, 0);
    assert.match(pw.stdout, /Password changed/);
    const list = await postie(["user", "list", ...c]);
    assert.equal(list.stdout, "alice@example.test\nbob@example.test\n");
    const del = await postie(["user", "del", "bob@example.test", ...c]);
    assert.equal(del.code, 0);
    assert.equal((await postie(["user", "list", ...c])).stdout, "alice@example.test\n");
    const del2 = await postie(["user", "del", "bob@example.test", ...c]);
    assert.equal(del2.code, 1);
    assert.match(del2.stderr, /No account/);
  } finally {
    await cleanup(i);
  }
});

Deno.test("postie user add --admin, user admin on|off, and user list marks admins and locked", async () => {
  const i = await instance();
  try {
    const c = ["--config", i.configPath];
    const add = await postie(["user", "add", "root@example.test", "--admin", ...c]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^Added root@example\.test \(admin\)\nPassword: \S{20}\n$/);
    assert.equal((await postie(["user", "add", "bob@example.test", ...c])).code, 0);
    assert.equal(
      (await postie(["user", "list", ...c])).stdout,
      "bob@example.test\nroot@example.test (admin)\n",
    );
    const on = await postie(["user", "admin", "Bob@example.test", "on", ...c]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /bob@example\.test is an admin/);
    const off = await postie(["user", "admin", "root@example.test", "off", ...c]);
    assert.match(off.stdout, /root@example\.test is no admin/);
    await postie(["user", "lock", "bob@example.test", ...c]);
    assert.equal(
      (await postie(["user", "list", ...c])).stdout,
      "bob@example.test (admin, locked)\nroot@example.test\n",
    );
    const bad = await postie(["user", "admin", "bob@example.test", "yes", ...c]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /usage: postie user admin ADDRESS on\|off/);
    const missing = await postie(["user", "admin", "nobody@example.test", "on", ...c]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No account "nobody@example\.test"/);
    const accounts = await AccountStore.open(join(i.dir, "data"));
    try {
      assert.equal(accounts.get("bob@example.test")?.admin, true);
      assert.equal(accounts.get("root@example.test")?.admin, false);
    } finally {
      accounts.close();
    }
  } finally {
    await cleanup(i);
  }
});

Deno.test("postie alias add/list/del: added aliases beside the config's, checked like them", async () => {
  const i = await instance();
  try {
    await i.writeConfig("aliases:\n  postmaster@example.test: alice@example.test\n");
    const c = ["--config", i.configPath];
    assert.equal((await postie(["user", "add", "alice@example.test", ...c])).code, 0);
    const add = await postie([
      "alias",
      "add",
      "Team@example.test",
      "alice@example.test",
      "Bob@Elsewhere.Example",
      ...c,
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(
      add.stdout,
      "Added alias team@example.test -> alice@example.test, Bob@elsewhere.example\n",
    );
    assert.equal(
      (await postie(["alias", "add", "@example.test", "alice@example.test", ...c])).code,
      0,
    );
    const list = await postie(["alias", "list", ...c]);
    assert.equal(
      list.stdout,
      `postmaster@example.test -> alice@example.test (in ${i.configPath})\n` +
        "@example.test -> alice@example.test (added)\n" +
        "team@example.test -> alice@example.test, Bob@elsewhere.example (added)\n",
    );
    const refused: [string[], RegExp][] = [
      [["x@elsewhere.example", "alice@example.test"], /must be in one of the local domains/],
      [["x@example.test", "y%z@elsewhere.example"], /plain local part/],
      [["alice@example.test", "bob@example.test"], /is an account/],
      [["postmaster@example.test", "bob@example.test"], /already an alias in /],
      [["team@example.test", "bob@example.test"], /already an alias/],
    ];
    for (const [args, message] of refused) {
      const r = await postie(["alias", "add", ...args, ...c]);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, message);
    }
    assert.equal((await postie(["alias", "add", "x@example.test", ...c])).code, 2);
    const delConfig = await postie(["alias", "del", "postmaster@example.test", ...c]);
    assert.equal(delConfig.code, 1);
    assert.match(delConfig.stderr, new RegExp(`alias in ${i.configPath.replace(/[.]/g, "\\.")}`));
    const del = await postie(["alias", "del", "TEAM@example.test", ...c]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /Deleted alias team@example\.test/);
    const again = await postie(["alias", "del", "team@example.test", ...c]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /No alias "team@example\.test"/);
    assert.doesNotMatch((await postie(["alias", "list", ...c])).stdout, /team@/);
  } finally {
    await cleanup(i);
  }
});

Deno.test("postie serve: SIGHUP reloads aliases, SIGTERM lets DATA finish and 421s idle sessions", async () => {
  const i = await instance();
  let proc: Deno.ChildProcess | undefined;
  try {
    await postie(["user", "add", "alice@example.test", "--config", i.configPath]);
    proc = serve(i);
    await waitForPort(i.smtp);
    const c1 = await SmtpTestClient.connect(i.smtp);
    await c1.reply();
    await c1.cmd("EHLO c.example.org");
    await c1.cmd("MAIL FROM:<a@example.org>");
    assert.equal((await c1.cmd("RCPT TO:<sales@example.test>")).code, 550, "no such alias yet");
    c1.close();
    await i.writeConfig("aliases:\n  sales@example.test: alice@example.test\n");
    proc.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, 500));
    const idle = await SmtpTestClient.connect(i.smtp);
    await idle.reply();
    const r = await sendMail(idle, "a@example.org", ["sales@example.test"], "Subject: 1\r\n\r\nx");
    assert.equal(r.code, 250, r.raw);
    const busy = await SmtpTestClient.connect(i.smtp);
    await busy.reply();
    await busy.cmd("EHLO c.example.org");
    await busy.cmd("MAIL FROM:<a@example.org>");
    await busy.cmd("RCPT TO:<alice@example.test>");
    assert.equal((await busy.cmd("DATA")).code, 354);
    await busy.send("Subject: in flight\r\n\r\nfirst half\r\n");
    await new Promise((r) => setTimeout(r, 200));
    proc.kill("SIGTERM");
    const bye = await idle.reply();
    assert.equal(bye.code, 421);
    assert.match(bye.lines[0]!, /^4\.3\.2 /);
    await busy.send("second half\r\n.\r\n");
    const done = await busy.reply();
    assert.equal(done.code, 250, "the message in flight is accepted");
    assert.equal((await busy.cmd("NOOP")).code, 421);
    idle.close();
    busy.close();
    const status = await proc.status;
    proc = undefined;
    assert.equal(status.code, 0);
    assert.equal((await newMail(i, "alice")).length, 2);
  } finally {
    if (proc) {
      proc.kill("SIGKILL");
      await proc.status;
    }
    await cleanup(i);
  }
});

Deno.test("messages answered 250 survive kill -9 of the server, each delivered once", async () => {
  const i = await instance();
  let proc: Deno.ChildProcess | undefined;
  try {
    await postie(["user", "add", "alice@example.test", "--config", i.configPath]);
    proc = serve(i);
    await waitForPort(i.smtp);
    // Ten sessions at once, killed right after the last 250: some messages are then only
    // in the spool journal, the start after the crash delivers them.
    const body = (n: number) => `Subject: durable ${n}\r\n\r\n` + "line\r\n".repeat(1000);
    await Promise.all(Array.from({ length: 10 }, async (_, n) => {
      const c = await SmtpTestClient.connect(i.smtp);
      await c.reply();
      const r = await sendMail(c, "a@example.org", ["alice@example.test"], body(n));
      assert.equal(r.code, 250, r.raw);
      c.close();
    }));
    proc.kill("SIGKILL");
    await proc.status;
    proc = serve(i);
    await waitForPort(i.smtp);
    const files = await waitFor("10 messages in the Maildir", async () => {
      const f = await newMail(i, "alice");
      return f.length >= 10 ? f : undefined;
    });
    // Settle, then count again: a replay must not add duplicates.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await newMail(i, "alice")).length, 10);
    const texts = await Promise.all(files.map((f) => Deno.readTextFile(f)));
    for (let n = 0; n < 10; n++) {
      assert.equal(texts.filter((t) => t.endsWith(body(n) + "\r\n")).length, 1, `message ${n}`);
    }
  } finally {
    if (proc) {
      proc.kill("SIGKILL");
      await proc.status;
    }
    await cleanup(i);
  }
});

Deno.test("kill -9 in the middle of a stream of messages: each one answered 250 is delivered exactly once", async () => {
  const i = await instance();
  let proc: Deno.ChildProcess | undefined;
  try {
    await postie(["user", "add", "alice@example.test", "--config", i.configPath]);
    proc = serve(i);
    await waitForPort(i.smtp);
    // Eight sessions send one message after another until the server dies under them.
    const acked = new Set<string>();
    const senders = Array.from({ length: 8 }, async (_, w) => {
      const c = await SmtpTestClient.connect(i.smtp);
      try {
        await c.reply();
        for (let k = 0;; k++) {
          const subject = `stream ${w}-${k}`;
          const r = await sendMail(
            c,
            "a@example.org",
            ["alice@example.test"],
            `Subject: ${subject}\r\n\r\nx\r\n`,
          );
          if (r.code !== 250) break;
          acked.add(subject);
        }
      } catch {
        // the connection died with the server
      } finally {
        c.close();
      }
    });
    await waitFor("40 acknowledged messages", () => Promise.resolve(acked.size >= 40 || undefined));
    proc.kill("SIGKILL");
    await proc.status;
    await Promise.all(senders);
    proc = serve(i);
    await waitForPort(i.smtp);
    const want = acked.size;
    await waitFor(`${want} messages in the Maildir`, async () => {
      return (await newMail(i, "alice")).length >= want || undefined;
    });
    await new Promise((r) => setTimeout(r, 300)); // a replay must not add duplicates later
    const subjects = await Promise.all(
      (await newMail(i, "alice")).map(async (f) =>
        /^Subject: (.*)$/m.exec(await Deno.readTextFile(f))?.[1]?.trim() ?? "?"
      ),
    );
    const counts = new Map<string, number>();
    for (const s of subjects) counts.set(s, (counts.get(s) ?? 0) + 1);
    for (const s of acked) assert.equal(counts.get(s), 1, `acknowledged "${s}" stored once`);
    // A message whose 250 was lost with the connection may be stored too, but only once.
    for (const [s, n] of counts) assert.equal(n, 1, `"${s}" stored ${n} times`);
  } finally {
    if (proc) {
      proc.kill("SIGKILL");
      await proc.status;
    }
    await cleanup(i);
  }
});

Deno.test("the embedded default starts with no config and delivers to postmaster@localhost", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "postie-default-" });
  const proc = new Deno.Command(Deno.execPath(), {
    env: { DENO_NO_UPDATE_CHECK: "1" },
    args: [...DENO_RUN_FLAGS, MAIN, "serve"],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    await waitForPort(2525);
    await waitForPort(5870);
    await waitForPort(4650);
    const c = await SmtpTestClient.connect(2525);
    const g = await c.reply();
    assert.match(g.lines[0]!, /^localhost ESMTP/);
    const r = await sendMail(
      c,
      "someone@example.org",
      ["postmaster@localhost"],
      "Subject: hi\r\n\r\nx",
    );
    assert.equal(r.code, 250, r.raw);
    c.close();
    const box = join(cwd, "data", "mail", "localhost", "postmaster", "new");
    const names = await waitFor("the message in the Maildir", async () => {
      const names = [];
      try {
        for await (const e of Deno.readDir(box)) names.push(e.name);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return names.length > 0 ? names : undefined;
    });
    assert.equal(names.length, 1);
    await Deno.stat(join(cwd, "data", "tls", "selfsigned-cert.pem"));
  } finally {
    proc.kill("SIGTERM");
    const out = await proc.output();
    const stdout = dec.decode(out.stdout);
    assert.match(stdout, /Created account postmaster@localhost with password: \S{20}/);
    assert.match(stdout, /It is an admin: the admin page is at http:\/\/127\.0\.0\.1:8080\//);
    const accounts = await AccountStore.open(join(cwd, "data"));
    assert.equal(accounts.get("postmaster@localhost")?.admin, true);
    accounts.close();
    const logs = stdout + dec.decode(out.stderr);
    assert.match(logs, /listening for smtp on 127\.0\.0\.1 port 2525/);
    // One line per event, each with the session id and the peer.
    const accepted = logs.split("\n").filter((l) => l.includes("event=message_accepted"));
    assert.equal(accepted.length, 1);
    assert.match(accepted[0]!, /session=\w+ peer=127\.0\.0\.1 listener=smtp /);
    assert.match(accepted[0]!, /from=someone@example\.org .*size=\d+/);
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("postie queue list shows queued outbound mail while the server runs", async () => {
  const i = await instance();
  let proc: Deno.ChildProcess | undefined;
  try {
    i.dns.setRecords([
      {
        name: "elsewhere.example",
        type: "MX",
        data: { preference: 10, exchange: "mx.elsewhere.example" },
      },
      { name: "mx.elsewhere.example", type: "A", data: "127.0.0.1" },
    ]);
    // Delivery is attempted to loopback port 1, where nothing listens: the mail stays queued.
    await i.writeConfig(
      "relay:\n  trusted_networks: [127.0.0.1]\noutbound:\n  port: 1\nqueue:\n  retry_initial: 1h\n",
    );
    const empty = await postie(["queue", "list", "--config", i.configPath]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, /queue is empty/);
    proc = serve(i);
    await waitForPort(i.smtp);
    const c = await SmtpTestClient.connect(i.smtp);
    await c.reply();
    const r = await sendMail(
      c,
      "app@example.test",
      ["customer@elsewhere.example"],
      "Subject: q\r\n\r\nx",
    );
    assert.equal(r.code, 250, r.raw);
    c.close();
    // The 250 came once the message was in the spool; it is in the queue a moment later.
    const list = await waitFor("the message in the queue", async () => {
      const l = await postie(["queue", "list", "--config", i.configPath]);
      return l.code !== 0 || /customer@elsewhere\.example/.test(l.stdout) ? l : undefined;
    });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /app@example\.test/);
    assert.match(list.stdout, /customer@elsewhere\.example/);
    assert.match(list.stdout, /queued/);
  } finally {
    if (proc) {
      proc.kill("SIGTERM");
      await proc.status;
    }
    await cleanup(i);
  }
});

Deno.test("postie relay-check reports every probe refused against postie and exits 0", async () => {
  const i = await instance();
  let proc: Deno.ChildProcess | undefined;
  try {
    await postie(["user", "add", "alice@example.test", "--config", i.configPath]);
    proc = serve(i);
    await waitForPort(i.smtp);
    const r = await postie([
      "relay-check",
      `127.0.0.1:${i.smtp}`,
      "--to",
      "victim@victim.example",
      "--domain",
      "example.test",
      "--local",
      "alice@example.test",
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^PASS: \d+ probes, \d+ refused/m);
    assert.doesNotMatch(r.stdout, /^ACCEPTED /m);
    assert.match(r.stdout, /refused\s+F1xR1\s/);
    const bad = await postie(["relay-check", `127.0.0.1:${i.smtp}`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /usage: postie relay-check/);
    for await (
      const e of Deno.readDir(join(i.dir, "data", "mail", "example.test", "alice", "new"))
    ) {
      throw new Error(`relay-check stored mail: ${e.name}`);
    }
  } finally {
    if (proc) {
      proc.kill("SIGTERM");
      await proc.status;
    }
    await cleanup(i);
  }
});

Deno.test("postie queue show/flush/bounce/delete act on a running server's queue", async () => {
  const i = await instance();
  let proc: Deno.ChildProcess | undefined;
  try {
    i.dns.setRecords([
      {
        name: "elsewhere.example",
        type: "MX",
        data: { preference: 10, exchange: "mx.elsewhere.example" },
      },
      { name: "mx.elsewhere.example", type: "A", data: "127.0.0.1" },
    ]);
    // Nothing listens on port 1: every attempt fails and the mail stays queued.
    await i.writeConfig(
      "relay:\n  trusted_networks: [127.0.0.1]\noutbound:\n  port: 1\n" +
        "queue:\n  retry_initial: 1h\n  delay_warning: 0\n",
    );
    await postie(["user", "add", "alice@example.test", "--config", i.configPath]);
    proc = serve(i);
    await waitForPort(i.smtp);
    const c = await SmtpTestClient.connect(i.smtp);
    await c.reply();
    for (const n of [1, 2]) {
      const r = await sendMail(
        c,
        "alice@example.test",
        ["friend@elsewhere.example"],
        `Subject: q${n}\r\n\r\nx`,
      );
      assert.equal(r.code, 250);
      await c.cmd("RSET");
    }
    c.close();
    const q = ["--config", i.configPath];
    const ids = await waitFor("both messages in the queue", async () => {
      const ids = (await postie(["queue", "list", ...q])).stdout.match(/^[0-9a-z]{18}\b/gm) ?? [];
      return ids.length >= 2 ? ids : undefined;
    });
    assert.equal(ids.length, 2);
    const show = await postie(["queue", "show", ids[0]!, ...q]);
    assert.equal(show.code, 0);
    assert.match(show.stdout, /Subject: q1/);
    const flush = await postie(["queue", "flush", ...q]);
    assert.match(flush.stdout, /2 recipient\(s\) due/);
    const bounce = await postie(["queue", "bounce", ids[0]!, ...q]);
    assert.match(bounce.stdout, /1 recipient\(s\) of \w+ failed/);
    // The running server sends the DSN to the local sender and forgets the message.
    const box = join(i.dir, "data", "mail", "example.test", "alice", "new");
    let dsn = "";
    for (let n = 0; n < 100 && dsn === ""; n++) {
      for await (const e of Deno.readDir(box)) dsn = await Deno.readTextFile(join(box, e.name));
      if (dsn === "") await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(dsn, /Status: 5\.0\.0/);
    assert.match(dsn, /cancelled by the administrator/);
    const del = await postie(["queue", "delete", ids[1]!, ...q]);
    assert.match(del.stdout, /Deleted/);
    for (let n = 0; n < 50; n++) {
      if ((await postie(["queue", "list", ...q])).stdout.includes("queue is empty")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match((await postie(["queue", "list", ...q])).stdout, /queue is empty/);
    const missing = await postie(["queue", "show", "zzzzzzzzzzzzzzzzzz", ...q]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no message/);
  } finally {
    if (proc) {
      proc.kill("SIGTERM");
      await proc.status;
    }
    await cleanup(i);
  }
});

Deno.test("postie dns output pasted into the zone makes postie check pass; a broken record fails it", async () => {
  const i = await instance();
  try {
    await i.writeConfig("outbound:\n  source_ipv4: 127.0.0.1\ncheck:\n  dnsbl: [dnsbl.test]\n");
    const c = ["--config", i.configPath];
    const dns = await postie(["dns", ...c]);
    assert.equal(dns.code, 0, dns.stderr);
    assert.match(dns.stdout, /^; DKIM public key "rsa\d{4}a"/m);
    assert.match(dns.stdout, /^; Reverse DNS of 127\.0\.0\.1: set it at your VPS provider/m);
    const zone = parseZone(dns.stdout);
    i.dns.setRecords(zone);
    const ok = await postie(["check", ...c]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.doesNotMatch(ok.stdout, /MISSING|WRONG|ERROR/);
    assert.match(ok.stdout, /^OK\s+DMARC/m);
    i.dns.setRecords(zone.filter((r) => !r.name.startsWith("_dmarc.")));
    const bad = await postie(["check", ...c]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^MISSING DMARC/m);
    assert.match(bad.stdout, /should be: v=DMARC1; p=quarantine/);
    assert.match(bad.stdout, /1 problem\(s\) found/);
    // Rotation: a new selector pair is created and becomes part of the records.
    const rot = await postie(["dkim", "keygen", "example.test", ...c]);
    assert.equal(rot.code, 0, rot.stderr);
    assert.match(rot.stdout, /rsa\d{4}b/);
    assert.match((await postie(["dns", ...c])).stdout, /^rsa\d{4}b\._domainkey\.example\.test\./m);
  } finally {
    await cleanup(i);
  }
});
