import assert from "node:assert/strict";
import { headerHashInput, selectHeaders, splitMessage } from "./canonicalize.ts";
import { type DkimSigningKey, generateKeys, importSigningKey } from "./keys.ts";
import { signedHeaderNames, signHeaderData, signMessage } from "./sign.ts";
import { parseTagList, splitColonList } from "./tag_list.ts";
import { latin1 } from "./_util.ts";
import { type DkimResult, verifyMessage } from "./verify.ts";
import { CONFORMANCE, conformanceMessage, crlf, prepend, withDns } from "./_testing.ts";

const DOMAIN = "example.com";
const MESSAGE = crlf(
  "Received: from client.example.org by mx.example.com\n" +
    "From: Joe SixPack <joe@example.com>\n" +
    "To: Suzie Q <suzie@shopping.example.net>\n" +
    "Cc: other@example.net\n" +
    "Subject: Is dinner ready?\n" +
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\n" +
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\n" +
    "X-Mailer: test\n" +
    "List-Unsubscribe: <https://example.com/u>\n" +
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n" +
    "\n" +
    "Hi.\n" +
    "\n" +
    "We lost the game.  Are you hungry yet?\n" +
    "\n" +
    "Joe.\n",
);

const keyPair = generateKeys();

/** Our two keys, as DkimSigningKeys, and their zone. */
async function testKeys(): Promise<{ keys: DkimSigningKey[]; zone: Record<string, string> }> {
  const { rsa, ed25519 } = await keyPair;
  const keys: DkimSigningKey[] = [
    {
      selector: "rsa2026a",
      algorithm: rsa.algorithm,
      privateKey: rsa.privateKey,
      dnsRecord: rsa.dnsRecord,
    },
    {
      selector: "ed2026a",
      algorithm: ed25519.algorithm,
      privateKey: ed25519.privateKey,
      dnsRecord: ed25519.dnsRecord,
    },
  ];
  const zone: Record<string, string> = {};
  for (const k of keys) zone[`${k.selector}._domainkey.${DOMAIN}`] = k.dnsRecord;
  return { keys, zone };
}

const enc = new TextEncoder();

/** Replaces the first occurrence of `from` in the message. */
function edit(message: Uint8Array, from: string, to: string): Uint8Array {
  const text = latin1(message);
  assert.ok(text.includes(from), `message contains ${JSON.stringify(from)}`);
  return Uint8Array.from(text.replace(from, to), (c) => c.charCodeAt(0));
}

function statuses(results: DkimResult[]): string[] {
  return results.map((r) => `${r.algorithm}:${r.result}${r.reason ? ` (${r.reason})` : ""}`);
}

Deno.test("signHeaderData() reproduces the RFC 8463 A.3 and RFC 6376 A.2 signatures", async (t) => {
  const cases = [
    {
      file: "rfc8463/signed.eml",
      keys: [
        await importSigningKey(
          await Deno.readTextFile(new URL("rfc8463/ed25519-private-seed.b64", CONFORMANCE)),
          { selector: "brisbane", algorithm: "ed25519-sha256" },
        ),
        await importSigningKey(
          await Deno.readTextFile(new URL("rfc8463/rsa-private.pem", CONFORMANCE)),
          { selector: "test", algorithm: "rsa-sha256" },
        ),
      ],
      dns: "rfc8463/dns.json",
      domain: "football.example.com",
    },
    {
      file: "rfc6376/signed.eml",
      keys: [
        await importSigningKey(
          await Deno.readTextFile(new URL("rfc6376/appendix-c-private.pem", CONFORMANCE)),
          { selector: "brisbane", algorithm: "rsa-sha256" },
        ),
      ],
      dns: "rfc6376/dns.json",
      domain: "example.com",
    },
  ];
  for (const c of cases) {
    await t.step(c.file, async () => {
      const published = JSON.parse(
        await Deno.readTextFile(new URL(c.dns, CONFORMANCE)),
      ) as Record<string, string[]>;
      const { headers } = splitMessage(await conformanceMessage(c.file));
      const fields = headers.filter((f) => f.key === "dkim-signature");
      assert.equal(fields.length, c.keys.length);
      for (const [i, field] of fields.entries()) {
        const key = c.keys[i]!;
        // Our key record carries the same public key as the published one.
        const record = published[`${key.selector}._domainkey.${c.domain}`]![0]!;
        assert.equal(parseTagList(key.dnsRecord).get("p"), parseTagList(record).get("p"));
        const tags = parseTagList(field.raw.slice(field.raw.indexOf(":") + 1));
        const ch = tags.get("c")!.split("/")[0] as "simple" | "relaxed";
        const names = splitColonList(tags.get("h")!);
        const data = headerHashInput(selectHeaders(headers, names), field.raw, ch);
        // RSASSA-PKCS1-v1_5 and Ed25519 are deterministic: byte-for-byte the same b=.
        assert.equal(await signHeaderData(data, key), tags.get("b")!.replace(/\s+/g, ""));
      }
    });
  }
});

Deno.test("signMessage() output verifies for both algorithms through DNS", async () => {
  const { keys, zone } = await testKeys();
  await withDns(zone, async (resolver) => {
    for (const key of keys) {
      const fields = await signMessage(MESSAGE, [key], { domain: DOMAIN });
      const results = await verifyMessage(prepend(fields, MESSAGE), { resolver });
      assert.equal(results.length, 1);
      assert.equal(results[0]!.result, "pass", JSON.stringify(results[0]));
      assert.equal(results[0]!.algorithm, key.algorithm);
      assert.equal(results[0]!.selector, key.selector);
      assert.equal(results[0]!.domain, DOMAIN);
      assert.equal(results[0]!.bodyLengthLimited, undefined);
      assert.equal(
        results[0]!.headerB,
        parseTagList(fields.slice(15)).get("b")!.replace(/\s/g, "").slice(0, 8),
      );
    }
  });
});

Deno.test("signMessage() dual-signs, RSA first, and the layout stays within 78 columns", async () => {
  const { keys, zone } = await testKeys();
  const now = new Date("2026-03-01T12:00:00Z");
  const fields = await signMessage(MESSAGE, keys, { domain: DOMAIN, now });
  assert.ok(fields.endsWith("\r\n"));
  const lines = fields.slice(0, -2).split("\r\n");
  for (const line of lines) assert.ok(line.length <= 78, `too long: ${line}`);
  const { headers } = splitMessage(enc.encode(fields + "\r\n"));
  assert.deepEqual(headers.map((f) => f.name), ["DKIM-Signature", "DKIM-Signature"]);
  const [rsa, ed] = headers.map((f) => parseTagList(f.raw.slice(f.raw.indexOf(":") + 1)));
  assert.equal(rsa!.get("a"), "rsa-sha256");
  assert.equal(ed!.get("a"), "ed25519-sha256");
  for (const tags of [rsa!, ed!]) {
    assert.equal(tags.get("v"), "1");
    assert.equal(tags.get("c"), "relaxed/relaxed");
    assert.equal(tags.get("d"), DOMAIN);
    assert.equal(tags.get("t"), String(Date.parse("2026-03-01T12:00:00Z") / 1000));
    assert.equal(tags.has("l"), false);
    assert.deepEqual(splitColonList(tags.get("h")!), [
      "from",
      "from",
      "to",
      "to",
      "cc",
      "subject",
      "subject",
      "date",
      "date",
      "message-id",
      "list-unsubscribe",
      "list-unsubscribe-post",
    ]);
  }
  await withDns(zone, async (resolver) => {
    const results = await verifyMessage(prepend(fields, MESSAGE), { resolver, now });
    assert.deepEqual(statuses(results), ["rsa-sha256:pass", "ed25519-sha256:pass"]);
  });
});

Deno.test("signedHeaderNames() over-signs From/To/Subject/Date, absent ones included", () => {
  const { headers } = splitMessage(
    enc.encode("From: a\r\nReceived: x\r\nResent-From: r\r\nX-Y: 1\r\nReferences: <1>\r\n\r\n"),
  );
  assert.deepEqual(signedHeaderNames(headers), [
    "from",
    "from",
    "resent-from",
    "references",
    "to",
    "subject",
    "date",
  ]);
  // A custom list replaces the default one; From is always signed.
  assert.deepEqual(signedHeaderNames(headers, ["Received", "X-Y"]), [
    "from",
    "from",
    "received",
    "x-y",
  ]);
});

Deno.test("a signature fails after a body or signed-header change, not after an added field", async () => {
  const { keys, zone } = await testKeys();
  const fields = await signMessage(MESSAGE, keys, { domain: DOMAIN });
  const signed = prepend(fields, MESSAGE);
  await withDns(zone, async (resolver) => {
    const check = async (message: Uint8Array) =>
      statuses(await verifyMessage(message, { resolver }));
    assert.deepEqual(await check(signed), ["rsa-sha256:pass", "ed25519-sha256:pass"]);

    const bodyByte = await check(edit(signed, "game.", "gamE."));
    assert.deepEqual(bodyByte, [
      "rsa-sha256:fail (body hash did not verify)",
      "ed25519-sha256:fail (body hash did not verify)",
    ]);
    const subject = await check(
      edit(signed, "Subject: Is dinner ready?", "Subject: Is dinner ready!"),
    );
    assert.deepEqual(subject, [
      "rsa-sha256:fail (signature did not verify)",
      "ed25519-sha256:fail (signature did not verify)",
    ]);
    // A field that is not signed may be added anywhere, as relays do.
    const added = await check(prepend("Received: by relay.example.net\r\n", signed));
    assert.deepEqual(added, ["rsa-sha256:pass", "ed25519-sha256:pass"]);
    const addedBelow = await check(
      edit(signed, "X-Mailer: test\r\n", "X-Mailer: test\r\nX-Spam: no\r\n"),
    );
    assert.deepEqual(addedBelow, ["rsa-sha256:pass", "ed25519-sha256:pass"]);
    // An over-signed From added afterwards, above or below the original, breaks the signature.
    for (
      const forged of [
        prepend("From: attacker@evil.example\r\n", signed),
        edit(signed, "X-Mailer: test\r\n", "X-Mailer: test\r\nFrom: attacker@evil.example\r\n"),
      ]
    ) {
      assert.deepEqual(await check(forged), [
        "rsa-sha256:fail (signature did not verify)",
        "ed25519-sha256:fail (signature did not verify)",
      ]);
    }
    // So does an added To or Subject, which the message did not have twice.
    assert.deepEqual(await check(prepend("Subject: other\r\n", signed)), [
      "rsa-sha256:fail (signature did not verify)",
      "ed25519-sha256:fail (signature did not verify)",
    ]);
  });
});

Deno.test("signMessage() with simple/simple and l= verifies, and l= is reported", async () => {
  const { keys, zone } = await testKeys();
  const fields = await signMessage(MESSAGE, keys, {
    domain: DOMAIN,
    canonicalization: "simple/simple",
    bodyLength: true,
  });
  await withDns(zone, async (resolver) => {
    const signed = prepend(fields, MESSAGE);
    const results = await verifyMessage(signed, { resolver });
    assert.deepEqual(statuses(results), ["rsa-sha256:pass", "ed25519-sha256:pass"]);
    assert.ok(results.every((r) => r.bodyLengthLimited && r.unsignedBodyOctets === 0));
    // Appended text is outside l=: still a pass by RFC 6376 §3.4.5, but flagged.
    const appended = prepend("", new Uint8Array([...signed, ...enc.encode("P.S. click here\r\n")]));
    const after = await verifyMessage(appended, { resolver });
    assert.deepEqual(statuses(after), ["rsa-sha256:pass", "ed25519-sha256:pass"]);
    assert.ok(after.every((r) => r.unsignedBodyOctets === 17));
    // Under simple header canonicalization, re-folding a signed field breaks the signature.
    const refolded = edit(signed, "Subject: Is dinner ready?", "Subject: Is dinner\r\n ready?");
    assert.deepEqual(statuses(await verifyMessage(refolded, { resolver })), [
      "rsa-sha256:fail (signature did not verify)",
      "ed25519-sha256:fail (signature did not verify)",
    ]);
  });
});

Deno.test("signMessage() refuses a message without From and bad domains", async () => {
  const { keys } = await testKeys();
  const noFrom = await conformanceMessage("dkimpy/test_nofrom.message");
  await assert.rejects(signMessage(noFrom, keys, { domain: DOMAIN }), TypeError);
  await assert.rejects(signMessage(MESSAGE, keys, { domain: "bad domain" }), TypeError);
  assert.equal(await signMessage(MESSAGE, [], { domain: DOMAIN }), "");
  const wrong = { ...keys[0]!, algorithm: "ed25519-sha256" as const };
  await assert.rejects(signMessage(MESSAGE, [wrong], { domain: DOMAIN }), TypeError);
});
