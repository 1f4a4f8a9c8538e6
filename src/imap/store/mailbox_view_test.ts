import assert from "node:assert/strict";
import { MailboxView } from "./mailbox_view.ts";

function view(uids: number[], recent: number[] = []): MailboxView {
  return new MailboxView({
    mailboxId: 1,
    name: "INBOX",
    uidvalidity: 7,
    readOnly: false,
    uids,
    recent,
    onClose: () => {},
  });
}

Deno.test("view: expunges numbered so the client's numbering stays right", () => {
  const v = view([10, 20, 30, 40, 50]);
  v.noteExpunged([20, 40]);
  v.noteFlags([{ uid: 30, flags: ["\\Flagged"], modseq: 5 }]);
  // While expunges are held back, flags refer to the old numbering.
  assert.deepEqual(v.pending({ expunges: false }), [
    { kind: "flags", seq: 3, uid: 30, flags: ["\\Flagged"], modseq: 5 },
  ]);
  assert.equal(v.exists, 5);
  assert.equal(v.isExpunged(20), true);
  v.noteFlags([{ uid: 50, flags: [], modseq: 6 }]);
  assert.deepEqual(v.pending(), [
    { kind: "expunge", seq: 4, uid: 40 },
    { kind: "expunge", seq: 2, uid: 20 },
    { kind: "flags", seq: 3, uid: 50, flags: [], modseq: 6 },
  ]);
  assert.deepEqual(v.uids(), [10, 30, 50]);
  assert.equal(v.hasPending(), false);
});

Deno.test("view: new messages are invisible until EXISTS, unseen expunges never reported", () => {
  const v = view([1, 2], [2]);
  let woken = 0;
  v.onChange(() => woken++);
  v.noteAdded([3, 4], true);
  assert.equal(v.seqOf(3), undefined);
  v.noteExpunged([4]);
  v.noteExpunged([1]);
  assert.deepEqual(v.pending({ expunges: false }), [
    { kind: "exists", count: 3 },
    { kind: "recent", count: 2 },
  ]);
  assert.equal(v.seqOf(3), 3);
  assert.deepEqual(v.pending(), [{ kind: "expunge", seq: 1, uid: 1 }]);
  assert.deepEqual(v.uids(), [2, 3]);
  assert.equal(v.recentCount, 2);
  // Woken for the arrival and for the expunge of 1; the expunge of the never-announced 4
  // changes nothing the session could report, so it does not wake it.
  assert.equal(woken, 2);
});

Deno.test("view: flags of recent messages carry \\Recent; deletion expunges everything", () => {
  const v = view([1, 2], [2]);
  v.noteFlags([{ uid: 2, flags: ["\\Seen"], modseq: 3 }]);
  assert.deepEqual(v.pending(), [
    { kind: "flags", seq: 2, uid: 2, flags: ["\\Seen", "\\Recent"], modseq: 3 },
  ]);
  v.noteDeleted();
  assert.equal(v.deleted, true);
  assert.deepEqual(v.pending().map((c) => c.kind), ["expunge", "expunge"]);
  assert.equal(v.exists, 0);
});
