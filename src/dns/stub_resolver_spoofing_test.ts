import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// @ts-types="@types/dns-packet"
import type { Answer } from "dns-packet";
import { answerTo, okRecords, withDns, withScripted } from "./_testing.ts";

Deno.test("a reply with the wrong ID is ignored and the right one accepted", async () => {
  await withDns(async (dns, resolver) => {
    dns.setFault("example.test", "A", "badid");
    const started = performance.now();
    assert.equal(okRecords(await resolver.lookup("example.test", "A")).length, 2);
    assert.ok(performance.now() - started >= 45, "waited for the second reply");
    assert.equal(dns.queries.length, 1);
  });
});

Deno.test("replies from another port or for another question are ignored", async () => {
  const forged: Answer = { name: "example.test", type: "A", ttl: 60, data: "203.0.113.66" };
  const real: Answer = { name: "example.test", type: "A", ttl: 60, data: "192.0.2.1" };
  await withScripted((query, reply, replyFromOtherPort) => {
    const q = query.questions?.[0];
    if (!q) return;
    replyFromOtherPort(answerTo(query, [forged]));
    reply(answerTo(query, [forged], { questions: [{ ...q, name: "other.test" }] }));
    reply(answerTo(query, [forged], { questions: [{ ...q, type: "AAAA" }] }));
    reply(answerTo(query, [forged], { questions: [{ ...q, class: "CH" }] }));
    reply(answerTo(query, [forged], { questions: [] }));
    reply(answerTo(query, [forged], { type: "query" }));
    reply(Buffer.from([0, 1, 2]));
    // The question name echoed in another case is still ours (RFC 4343).
    reply(answerTo(query, [real], { questions: [{ ...q, name: "EXAMPLE.test" }] }));
  }, async (resolver) => {
    assert.deepEqual(okRecords(await resolver.lookup("example.test", "A")), ["192.0.2.1"]);
  });
});
