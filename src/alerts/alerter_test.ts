import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { validateConfig } from "../config/config.ts";
import { MaildirStore } from "../delivery/maildir.ts";
import { Router } from "../delivery/router.ts";
import { log } from "../log/logger.ts";
import { Alerter } from "./alerter.ts";

const owner = { address: "owner@a.example", local: "owner", domain: "a.example" };

async function setup(dir: string, alertsTo?: string) {
  const config = validateConfig(
    {
      hostname: "mx.a.example",
      domains: ["a.example"],
      data_dir: dir,
      aliases: { "postmaster@a.example": "owner@a.example" },
      ...(alertsTo ? { alerts: { to: alertsTo } } : {}),
    },
    "t",
    dir,
  );
  const router = new Router(config, { get: (a) => (a === owner.address ? owner : undefined) });
  const maildir = new MaildirStore(join(dir, "mail"), "mx.a.example");
  const queued: string[][] = [];
  let now = new Date("2026-12-01T00:00:00Z");
  const alerter = await Alerter.open(
    config,
    {
      router: () => router,
      maildir,
      enqueue: (req) => {
        queued.push(req.recipients);
        return Promise.resolve("id");
      },
    },
    log("test"),
    () => now,
  );
  return {
    alerter,
    queued,
    setNow: (d: Date) => now = d,
    newDir: join(dir, "mail", "a.example", "owner", "new"),
  };
}

Deno.test("Alerter: mailed to postmaster's mailbox, once per alerts.repeat, again after clear", async () => {
  const dir = await Deno.makeTempDir();
  const { alerter, setNow, newDir } = await setup(dir);
  try {
    const a = { key: "k", subject: "Something broke", body: "Fix it:\n  postie check" };
    assert.equal(await alerter.raise(a), "sent");
    assert.equal(await alerter.raise(a), "repeat");
    assert.equal([...Deno.readDirSync(newDir)].length, 1);
    const text = Deno.readTextFileSync(join(newDir, [...Deno.readDirSync(newDir)][0]!.name));
    assert.match(text, /\r\nSubject: \[postie\] Something broke\r\n/);
    assert.match(text, /\r\n\r\nFix it:\r\n {2}postie check\r\n$/);
    assert.equal(alerter.since("k")?.toISOString(), "2026-12-01T00:00:00.000Z");
    setNow(new Date("2026-12-02T00:00:01Z")); // past the 24 h default
    assert.equal(await alerter.raise(a), "sent");
    alerter.clear("k");
    assert.equal(alerter.since("k"), undefined);
    assert.equal(await alerter.raise(a), "sent");
    assert.equal([...Deno.readDirSync(newDir)].length, 3);
  } finally {
    alerter.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Alerter: an external alerts.to goes through the queue; an unknown local one is logged", async () => {
  const dir = await Deno.makeTempDir();
  const ext = await setup(dir, "me@elsewhere.example");
  try {
    assert.equal(await ext.alerter.raise({ key: "x", subject: "s", body: "b" }), "sent");
    assert.deepEqual(ext.queued, [["me@elsewhere.example"]]);
  } finally {
    ext.alerter.close();
    await Deno.remove(dir, { recursive: true });
  }
  const dir2 = await Deno.makeTempDir();
  const none = await setup(dir2, "nobody@a.example");
  try {
    assert.equal(await none.alerter.raise({ key: "x", subject: "s", body: "b" }), "undeliverable");
  } finally {
    none.alerter.close();
    await Deno.remove(dir2, { recursive: true });
  }
});

Deno.test("Alerter.list: the open alerts with subject, first, last and count; onRaise hears each", async () => {
  const dir = await Deno.makeTempDir();
  const { alerter, setNow } = await setup(dir);
  const raised: string[] = [];
  alerter.onRaise = (key) => raised.push(key);
  try {
    await alerter.raise({ key: "disk", subject: "Disk nearly full", body: "b" });
    setNow(new Date("2026-12-01T01:00:00Z"));
    await alerter.raise({ key: "disk", subject: "Disk full", body: "b" });
    await alerter.raise({ key: "rate-limit:a@a.example", subject: "Rate limit", body: "b" });
    assert.deepEqual(raised, ["disk", "disk", "rate-limit:a@a.example"]);
    assert.deepEqual(alerter.list(), [
      {
        key: "disk",
        subject: "Disk full",
        first: "2026-12-01T00:00:00.000Z",
        last: "2026-12-01T01:00:00.000Z",
        count: 2,
      },
      {
        key: "rate-limit:a@a.example",
        subject: "Rate limit",
        first: "2026-12-01T01:00:00.000Z",
        last: "2026-12-01T01:00:00.000Z",
        count: 1,
      },
    ]);
    alerter.clear("disk");
    assert.deepEqual(alerter.list().map((a) => a.key), ["rate-limit:a@a.example"]);
  } finally {
    alerter.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Alerter: a state.db from before subjects were kept is migrated", async () => {
  const dir = await Deno.makeTempDir();
  const db = new DatabaseSync(join(dir, "state.db"));
  db.exec(`CREATE TABLE alerts (
    key TEXT PRIMARY KEY, first TEXT NOT NULL, last_sent TEXT NOT NULL, count INTEGER NOT NULL)`);
  db.exec(
    "INSERT INTO alerts VALUES ('old', '2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z', 3)",
  );
  db.close();
  const { alerter } = await setup(dir);
  try {
    assert.deepEqual(alerter.list(), [{
      key: "old",
      subject: "",
      first: "2026-11-01T00:00:00.000Z",
      last: "2026-11-02T00:00:00.000Z",
      count: 3,
    }]);
    await alerter.raise({ key: "old", subject: "Now with a subject", body: "b" });
    assert.equal(alerter.list()[0]!.subject, "Now with a subject");
  } finally {
    alerter.close();
    await Deno.remove(dir, { recursive: true });
  }
});
