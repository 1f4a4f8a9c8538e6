import assert from "node:assert/strict";
import { join } from "node:path";
import { type MailboxRef, MaildirStore } from "./maildir.ts";
import { parseSegment } from "./journal_record.ts";
import { Spool, type SpoolLog, type SpoolQueue } from "./spool.ts";
import { files } from "./_testing.ts";
import type { EnqueueRequest } from "../queue/enqueuer.ts";

const quiet: SpoolLog = { info() {}, warning() {}, error() {} };
const alice: MailboxRef = { address: "alice@example.test", local: "alice", domain: "example.test" };
const bob: MailboxRef = { address: "bob@example.test", local: "bob", domain: "example.test" };
const enc = new TextEncoder();

async function texts(root: string, box: MailboxRef, sub = "new"): Promise<string[]> {
  const dir = join(root, "mail", box.domain, box.local, sub);
  return (await Promise.all((await files(dir)).map((f) => Deno.readTextFile(join(dir, f))))).sort();
}

const header = (b: MailboxRef) => `Delivered-To: ${b.address}\r\n`;

/** A Maildir that fails every delivery, standing in for a crash before the Maildir write. */
class BrokenMaildir extends MaildirStore {
  override deliver(): Promise<string[]> {
    return Promise.reject(new Error("simulated crash before the Maildir write"));
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-spool-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// Leave messages in the journal as a crash would: the Maildir never gets them.
async function crashWith(dir: string, messages: string[], boxes = [alice]): Promise<void> {
  const broken = new BrokenMaildir(join(dir, "mail"), "mx.example.test");
  const spool = await Spool.open(dir, broken, quiet);
  await Promise.all(messages.map((m) => spool.deliver(boxes, header, [enc.encode(m)])));
  await spool.close(0); // stops without delivering; the journal keeps them
}

Deno.test("spool: concurrent messages share fdatasyncs and all reach the Maildir", async () => {
  await withDir(async (dir) => {
    const spool = await Spool.open(dir, new MaildirStore(join(dir, "mail"), "mx"), quiet);
    const n = 50;
    await Promise.all(
      Array.from(
        { length: n },
        (_, i) =>
          spool.deliver([alice, bob], header, [enc.encode(`Subject: ${i}\r\n\r\nbody\r\n`)]),
      ),
    );
    assert.equal(spool.stats.messages, n);
    assert.ok(spool.stats.syncs < n, `group commit: ${spool.stats.syncs} fdatasyncs for ${n}`);
    await spool.idle();
    const a = await texts(dir, alice);
    assert.equal(a.length, n);
    assert.ok(a.every((t) => t.startsWith("Delivered-To: alice@example.test\r\nSubject: ")));
    assert.equal((await texts(dir, bob)).length, n);
    await spool.close();
    assert.deepEqual(await files(join(dir, "spool")), ["lock"], "a clean stop empties the spool");
  });
});

Deno.test("spool: a second process cannot open the same spool", async () => {
  await withDir(async (dir) => {
    const md = new MaildirStore(join(dir, "mail"), "mx");
    const spool = await Spool.open(dir, md, quiet);
    try {
      await assert.rejects(Spool.open(dir, md, quiet), /in use by another postie process/);
    } finally {
      await spool.close();
    }
  });
});

Deno.test("spool: messages left in the journal by a crash are delivered at the next start, once", async () => {
  await withDir(async (dir) => {
    await crashWith(dir, ["Subject: one\r\n\r\n1\r\n", "Subject: two\r\n\r\n2\r\n"], [alice, bob]);
    assert.deepEqual(await texts(dir, alice), []);
    const spool = await Spool.open(dir, new MaildirStore(join(dir, "mail"), "mx"), quiet);
    await spool.idle();
    assert.deepEqual(await texts(dir, alice), [
      "Delivered-To: alice@example.test\r\nSubject: one\r\n\r\n1\r\n",
      "Delivered-To: alice@example.test\r\nSubject: two\r\n\r\n2\r\n",
    ]);
    assert.equal((await texts(dir, bob)).length, 2);
    await spool.close();
    // And a further start has nothing left to deliver.
    const again = await Spool.open(dir, new MaildirStore(join(dir, "mail"), "mx"), quiet);
    await again.idle();
    await again.close();
    assert.equal((await texts(dir, alice)).length, 2);
  });
});

Deno.test("spool: replay skips a mailbox that already has the message, in new/ or in cur/", async () => {
  await withDir(async (dir) => {
    await crashWith(dir, ["Subject: x\r\n\r\nx\r\n"], [alice, bob]);
    // The crash came after alice's copy was written and read by a mail client (moved to
    // cur/ with flags), bob's never was.
    const seg = (await files(join(dir, "spool"))).find((f) => f.endsWith(".journal"))!;
    const { records } = parseSegment(await Deno.readFile(join(dir, "spool", seg)));
    assert.equal(records[0]?.kind, "message");
    if (records[0]?.kind !== "message") return;
    const name = records[0].meta.boxes[0]!.name;
    const md = new MaildirStore(join(dir, "mail"), "mx");
    await md.deliver([alice], header, [records[0].content], [name]);
    const boxDir = join(dir, "mail", "example.test", "alice");
    await Deno.rename(join(boxDir, "new", name), join(boxDir, "cur", `${name}:2,S`));
    const spool = await Spool.open(dir, md, quiet);
    await spool.idle();
    await spool.close();
    assert.deepEqual(await texts(dir, alice), [], "not delivered again to new/");
    assert.equal((await texts(dir, alice, "cur")).length, 1);
    assert.equal((await texts(dir, bob)).length, 1);
  });
});

Deno.test("spool: a torn record at the end of the journal is ignored, the ones before it kept", async () => {
  await withDir(async (dir) => {
    await crashWith(dir, ["Subject: kept\r\n\r\nk\r\n"]);
    const seg = (await files(join(dir, "spool"))).find((f) => f.endsWith(".journal"))!;
    const path = join(dir, "spool", seg);
    const good = await Deno.readFile(path);
    // Half of a second record, as a crash in the middle of a write leaves it.
    await Deno.writeFile(path, good.subarray(0, good.length >> 1), { append: true });
    const spool = await Spool.open(dir, new MaildirStore(join(dir, "mail"), "mx"), quiet);
    await spool.idle();
    await spool.close();
    assert.deepEqual(await texts(dir, alice), [
      "Delivered-To: alice@example.test\r\nSubject: kept\r\n\r\nk\r\n",
    ]);
  });
});

Deno.test("spool: a message with a done record is not delivered again (its owner may have deleted it)", async () => {
  await withDir(async (dir) => {
    const md = new MaildirStore(join(dir, "mail"), "mx");
    const spool = await Spool.open(dir, md, quiet);
    await spool.deliver([alice], header, [enc.encode("Subject: a\r\n\r\na\r\n")]);
    await spool.idle();
    await spool.deliver([alice], header, [enc.encode("Subject: b\r\n\r\nb\r\n")]); // forces the done record out
    await spool.idle();
    // Simulate a crash: copy the journal as it is now, before the clean stop removes it.
    const seg = (await files(join(dir, "spool"))).find((f) => f.endsWith(".journal"))!;
    const journal = await Deno.readFile(join(dir, "spool", seg));
    await spool.close();
    await Deno.writeFile(join(dir, "spool", seg), journal);
    for (const f of await files(join(dir, "mail", "example.test", "alice", "new"))) {
      await Deno.remove(join(dir, "mail", "example.test", "alice", "new", f)); // the owner deletes
    }
    const again = await Spool.open(dir, md, quiet);
    await again.idle();
    await again.close();
    const left = await texts(dir, alice);
    assert.ok(!left.some((t) => t.includes("Subject: a")), "a (done) stays deleted");
  });
});

Deno.test("spool: when the Maildir falls behind, new acceptances wait (back-pressure)", async () => {
  await withDir(async (dir) => {
    // A Maildir that holds every delivery until the gate opens.
    let open!: () => void;
    const gate = new Promise<void>((r) => open = r);
    class SlowMaildir extends MaildirStore {
      override async deliver(...args: Parameters<MaildirStore["deliver"]>): Promise<string[]> {
        await gate;
        return await super.deliver(...args);
      }
    }
    const spool = await Spool.open(dir, new SlowMaildir(join(dir, "mail"), "mx"), quiet, {
      backlog: 2,
    });
    const msg = (n: number) => [enc.encode(`Subject: ${n}\r\n\r\n${n}\r\n`)];
    await spool.deliver([alice], header, msg(1));
    await spool.deliver([alice], header, msg(2));
    let third = false;
    const p = spool.deliver([alice], header, msg(3)).then(() => third = true);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(third, false, "the third waits while two are undelivered");
    open();
    await p;
    assert.equal(third, true);
    await spool.idle();
    assert.equal((await texts(dir, alice)).length, 3);
    await spool.close();
  });
});

/** An outbound queue in memory, counting enqueues; `failing` refuses everything. */
class MemoryQueue implements SpoolQueue {
  readonly messages = new Map<string, { recipients: string[]; body: string }>();
  enqueues = 0;
  kicks = 0;
  constructor(readonly failing = false) {}
  has(id: string): boolean {
    return this.messages.has(id);
  }
  enqueue(req: EnqueueRequest & { id: string }): Promise<string> {
    this.enqueues++;
    if (this.failing) return Promise.reject(new Error("simulated crash before the queue write"));
    const body = req.header + req.content.map((c) => new TextDecoder().decode(c)).join("");
    if (!this.messages.has(req.id)) this.messages.set(req.id, { recipients: req.recipients, body });
    return Promise.resolve(req.id);
  }
  kick(): void {
    this.kicks++;
  }
}

const remote = (n: number): EnqueueRequest => ({
  sender: "alice@example.test",
  recipients: [`friend${n}@elsewhere.example`],
  header: "Received: test\r\n",
  content: [enc.encode(`Subject: out ${n}\r\n\r\n${n}\r\n`)],
});

Deno.test("spool: mail for remote recipients is acknowledged from the journal, then queued under its id", async () => {
  await withDir(async (dir) => {
    const queue = new MemoryQueue();
    const md = new MaildirStore(join(dir, "mail"), "mx");
    const spool = await Spool.open(dir, md, quiet, { queue });
    const ids = await Promise.all([1, 2, 3].map((n) => spool.enqueue(remote(n))));
    await spool.idle();
    assert.deepEqual([...queue.messages.keys()].sort(), [...ids].sort());
    assert.equal(
      queue.messages.get(ids[1]!)?.body,
      "Received: test\r\nSubject: out 2\r\n\r\n2\r\n",
    );
    assert.ok(queue.kicks >= 1, "the worker is told");
    await spool.close();
  });
});

Deno.test("spool: after a crash, mail not yet in the outbound queue is queued once, mail already there not again", async () => {
  await withDir(async (dir) => {
    const md = new MaildirStore(join(dir, "mail"), "mx");
    const first = await Spool.open(dir, md, quiet, { queue: new MemoryQueue(true) });
    const ids = await Promise.all([1, 2].map((n) => first.enqueue(remote(n))));
    await first.close(0); // the queue never got them: both stay in the journal
    const queue = new MemoryQueue();
    // One of them did reach the queue before the crash (its done record did not).
    await queue.enqueue({ ...remote(1), id: ids[0]! });
    queue.enqueues = 0;
    const second = await Spool.open(dir, md, quiet, { queue });
    await second.idle();
    await second.close();
    assert.deepEqual([...queue.messages.keys()].sort(), [...ids].sort());
    assert.equal(queue.enqueues, 1, "only the missing one is queued again");
  });
});

Deno.test("spool: an acceptance still waiting for room when the server stops gets 421 and is not kept", async () => {
  await withDir(async (dir) => {
    const spool = await Spool.open(dir, new BrokenMaildir(join(dir, "mail"), "mx"), quiet, {
      backlog: 1,
    });
    await spool.deliver([alice], header, [enc.encode("Subject: first\r\n\r\n1\r\n")]);
    const waiting = spool.deliver([alice], header, [enc.encode("Subject: second\r\n\r\n2\r\n")]);
    const refused = assert.rejects(waiting, (e: unknown) => {
      const d = e as { code?: number; enhanced?: string };
      return d.code === 421 && d.enhanced === "4.3.2";
    });
    await spool.close(0);
    await refused;
    // Only the first (acknowledged) message is in the journal, for the next start.
    const seg = (await files(join(dir, "spool"))).find((f) => f.endsWith(".journal"))!;
    const { records } = parseSegment(await Deno.readFile(join(dir, "spool", seg)));
    const subjects = records.flatMap((r) =>
      r.kind === "message" ? [new TextDecoder().decode(r.content)] : []
    );
    assert.deepEqual(subjects, ["Subject: first\r\n\r\n1\r\n"]);
  });
});
