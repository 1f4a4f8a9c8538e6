import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { doneRecord, type JournalMeta, messageRecord, parseSegment } from "./journal_record.ts";

const enc = new TextEncoder();
const meta: JournalMeta = {
  boxes: [{
    box: { address: "alice@example.test", local: "alice", domain: "example.test" },
    name: "1.M1P1.host,S=20",
    header: "Received: by test\r\n",
  }],
};

function concat(records: Uint8Array[][]): Uint8Array {
  return new Uint8Array(Buffer.concat(records.flat()));
}

Deno.test("journal records: a message and its done mark read back as written", () => {
  const message = messageRecord(meta, [enc.encode("Subject: hi\r\n"), enc.encode("\r\nbody\r\n")]);
  const data = concat([message, doneRecord(7, 0)]);
  const { records, good } = parseSegment(data);
  assert.deepEqual(good, data.length);
  assert.deepEqual(records.length, 2);
  const [m, d] = records;
  assert.ok(m?.kind === "message");
  assert.deepEqual(m.offset, 0);
  assert.deepEqual(m.meta, meta);
  assert.deepEqual(new TextDecoder().decode(m.content), "Subject: hi\r\n\r\nbody\r\n");
  assert.deepEqual(d, { kind: "done", offset: concat([message]).length, segment: 7, at: 0 });
  // magic "PSJM", then the payload length and CRC.
  assert.deepEqual([...data.subarray(0, 4)], [0x50, 0x53, 0x4a, 0x4d]);
});

Deno.test("journal records: reading stops at a torn or corrupt record", () => {
  const first = concat([doneRecord(1, 0)]);
  const second = concat([messageRecord(meta, [enc.encode("x")])]);
  const torn = concat([[first], [second.subarray(0, second.length - 1)]]);
  assert.deepEqual(parseSegment(torn).good, first.length);
  assert.deepEqual(parseSegment(torn).records.length, 1);
  const corrupt = concat([[first], [second]]);
  corrupt[corrupt.length - 1]! ^= 0xff;
  assert.deepEqual(parseSegment(corrupt).good, first.length);
  const garbage = concat([[first], [new Uint8Array(16).fill(0xaa)]]);
  assert.deepEqual(parseSegment(garbage).records.length, 1);
  assert.deepEqual(parseSegment(new Uint8Array(0)), { records: [], good: 0 });
});
