import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { generateKeyPairSync, type KeyObject, sign as nodeSign } from "node:crypto";
import { canonicalizeBody, headerHashInput, selectHeaders, splitMessage } from "./canonicalize.ts";
import { generateKeys } from "./keys.ts";
import { signMessage } from "./sign.ts";
import { type DkimResult, MAX_SIGNATURES, verifyMessage } from "./verify.ts";
import { latin1Bytes, sha256, toBase64 } from "./_util.ts";
import { CONFORMANCE, conformanceMessage, crlf, prepend, withDns } from "./_testing.ts";
import type { DnsResult, RecordType, RecordTypes, Resolver } from "../dns/resolver.ts";

const MESSAGE = crlf(
  "From: Joe <joe@example.com>\nTo: sue@example.net\nSubject: test\n" +
    "Date: Mon, 01 Jan 2024 00:00:00 +0000\n\nHello,\n\nbody.\n",
);
const NAME = "sel._domainkey.example.com";
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ed = generateKeyPairSync("ed25519");

function rsaRecord(key: KeyObject, extra = ""): string {
  const spki = key.export({ format: "der", type: "spki" });
  return `v=DKIM1; ${extra}k=rsa; p=${spki.toString("base64")}`;
}

function edRecord(key: KeyObject, extra = ""): string {
  const spki = key.export({ format: "der", type: "spki" });
  return `v=DKIM1; ${extra}k=ed25519; p=${spki.subarray(spki.length - 32).toString("base64")}`;
}

/**
 * A DKIM-Signature field with exactly the tags given (b= appended last), signed with a
 * node:crypto key, so that tests can make signatures our signer would refuse to make.
 */
async function craft(
  message: Uint8Array,
  tags: string,
  key: KeyObject,
  c: "relaxed" | "simple" = "relaxed",
): Promise<string> {
  const { headers, body } = splitMessage(message);
  const l = /l=(\d+)/.exec(tags);
  const canonical = canonicalizeBody(body, c);
  const bh = toBase64(await sha256(l ? canonical.subarray(0, Number(l[1])) : canonical));
  const field = `DKIM-Signature: ${tags.replace("BH", bh)}; b=`;
  const names = /h=([^;]*)/.exec(tags)![1]!.split(":").map((s) => s.trim());
  const data = latin1Bytes(headerHashInput(selectHeaders(headers, names), field, c));
  const sig = key.asymmetricKeyType === "ed25519"
    ? nodeSign(null, await sha256(data), key)
    : nodeSign("sha256", Buffer.from(data), key);
  return `${field}${sig.toString("base64")}\r\n`;
}

const RSA_TAGS =
  "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel; h=from:to:subject; bh=BH";
const ED_TAGS = RSA_TAGS.replace("rsa-sha256", "ed25519-sha256");

async function verifyWith(
  records: Record<string, string | string[]>,
  message: Uint8Array,
  now?: Date,
): Promise<DkimResult[]> {
  return await withDns(
    records,
    (resolver) => verifyMessage(message, now ? { resolver, now } : { resolver }),
  );
}

function brief(results: DkimResult[]): string[] {
  return results.map((r) => `${r.result}${r.reason ? `: ${r.reason}` : ""}`);
}

Deno.test("verifyMessage() returns nothing for an unsigned message", async () => {
  assert.deepEqual(await verifyWith({}, MESSAGE), []);
});

Deno.test("verifyMessage() passes crafted RSA and Ed25519 signatures and reports their tags", async () => {
  const signed = prepend(
    await craft(MESSAGE, `${ED_TAGS}; i=joe@sub.example.com`, ed.privateKey) +
      await craft(MESSAGE, RSA_TAGS, rsa.privateKey),
    MESSAGE,
  );
  const results = await verifyWith(
    { [NAME]: rsaRecord(rsa.publicKey) },
    signed,
  );
  assert.equal(results[1]!.result, "pass");
  assert.equal(results[1]!.keyBits, 2048);
  // Same name, but an ed25519 signature needs an ed25519 key.
  assert.equal(results[0]!.result, "permerror");
  assert.match(results[0]!.reason!, /^inappropriate key algorithm/);
  assert.equal(results[0]!.identity, "joe@sub.example.com");

  const edOnly = prepend(await craft(MESSAGE, ED_TAGS, ed.privateKey), MESSAGE);
  const [r] = await verifyWith({ [NAME]: edRecord(ed.publicKey) }, edOnly);
  assert.equal(r!.result, "pass");
  assert.equal(r!.algorithm, "ed25519-sha256");
  assert.equal(r!.keyBits, 256);
});

Deno.test("verifyMessage() refuses RSA keys under 1024 bits (RFC 8301 §3.2)", async () => {
  const small = generateKeyPairSync("rsa", { modulusLength: 768 });
  const signed = prepend(await craft(MESSAGE, RSA_TAGS, small.privateKey), MESSAGE);
  const [r] = await verifyWith({ [NAME]: rsaRecord(small.publicKey) }, signed);
  assert.equal(r!.result, "permerror");
  assert.match(r!.reason!, /^key too small/);
  assert.equal(r!.keyBits, 768);
});

Deno.test("verifyMessage() applies the key record's t=, h= and s= tags", async () => {
  const signed = prepend(await craft(MESSAGE, RSA_TAGS, rsa.privateKey), MESSAGE);
  const sub = prepend(
    await craft(MESSAGE, `${RSA_TAGS}; i=@mail.example.com`, rsa.privateKey),
    MESSAGE,
  );
  const cases: [string, Uint8Array, string][] = [
    [rsaRecord(rsa.publicKey, "t=y; "), signed, "pass"],
    [rsaRecord(rsa.publicKey, "t=s; "), signed, "pass"],
    [rsaRecord(rsa.publicKey, "t=s; "), sub, "permerror: domain mismatch"],
    [rsaRecord(rsa.publicKey), sub, "pass"],
    [rsaRecord(rsa.publicKey, "h=sha1; "), signed, "permerror: inappropriate hash algorithm"],
    [rsaRecord(rsa.publicKey, "h=sha1:sha256; "), signed, "pass"],
    [rsaRecord(rsa.publicKey, "s=email:tlsrpt; "), signed, "pass"],
    [rsaRecord(rsa.publicKey, "s=tlsrpt; "), signed, "permerror: inappropriate service type"],
    [
      "v=DKIM1; k=dsa; p=" + rsaRecord(rsa.publicKey).split("p=")[1],
      signed,
      "permerror: inappropriate key algorithm",
    ],
    [
      "k=rsa; v=DKIM1; p=" + rsaRecord(rsa.publicKey).split("p=")[1],
      signed,
      "permerror: key syntax error",
    ],
    ["v=DKIM1; k=rsa; p=", signed, "permerror: key revoked"],
    ["v=DKIM1; k=rsa", signed, "permerror: key syntax error"],
    ["v=DKIM1; k=rsa; p=AAAA", signed, "permerror: key syntax error"],
  ];
  for (const [record, message, want] of cases) {
    const [r] = await verifyWith({ [NAME]: record }, message);
    assert.ok(
      `${r!.result}: ${r!.reason}`.startsWith(want) || (want === "pass" && r!.result === "pass"),
      `${record.slice(0, 40)}: got ${r!.result} (${r!.reason}), want ${want}`,
    );
    assert.equal(r!.testing, record.includes("t=y") ? true : undefined);
  }
});

Deno.test("verifyMessage() uses the first well-formed record of several", async () => {
  const signed = prepend(await craft(MESSAGE, RSA_TAGS, rsa.privateKey), MESSAGE);
  const good = rsaRecord(rsa.publicKey);
  assert.deepEqual(brief(await verifyWith({ [NAME]: ["not a key record", good] }, signed)), [
    "pass",
  ]);
  assert.deepEqual(brief(await verifyWith({ [NAME]: ["v=spf1 -all", "v=DKIM1; p="] }, signed)), [
    "permerror: key syntax error: v=spf1 -all",
  ]);
});

Deno.test("verifyMessage() reports DNS trouble as temperror and no record as permerror", async () => {
  const signed = prepend(await craft(MESSAGE, RSA_TAGS, rsa.privateKey), MESSAGE);
  await withDns({ "other.example.com": "x" }, async (resolver, dns) => {
    dns.setFault(NAME, "TXT", "servfail");
    const [r] = await verifyMessage(signed, { resolver });
    assert.equal(r!.result, "temperror");
    assert.match(r!.reason!, /^key unavailable/);
    dns.setFault(NAME, "TXT", null);
    const [n] = await verifyMessage(signed, { resolver });
    assert.equal(n!.result, "permerror");
    assert.match(n!.reason!, /^no key for signature/);
  });
});

Deno.test("verifyMessage() validates the signature's tags (RFC 6376 §6.1.1)", async () => {
  const record = { [NAME]: rsaRecord(rsa.publicKey) };
  const cases: [string, string][] = [
    [`${RSA_TAGS}; v=1`, "permerror: signature syntax error: Duplicate tag"],
    [RSA_TAGS.replace("v=1", "v=2"), "permerror: incompatible version"],
    [
      `${RSA_TAGS}; t=100; x=50`,
      "permerror: signature syntax error: x=50 is before t=100",
    ],
    [
      RSA_TAGS.replace("a=rsa-sha256", "a=rsa-sha512"),
      "permerror: signature algorithm not supported",
    ],
    [
      RSA_TAGS.replace("c=relaxed/relaxed", "c=fancy"),
      "permerror: signature syntax error: c=fancy",
    ],
    [`${RSA_TAGS}; q=http/well-known`, "permerror: signature syntax error: unsupported query"],
    [`${RSA_TAGS}; q=dns/txt`, "pass"],
    [RSA_TAGS.replace("h=from:", "h="), "permerror: From field not signed"],
    [`${RSA_TAGS}; i=joe@example.org`, "permerror: domain mismatch"],
    [`${RSA_TAGS}; i=joe@notexample.com`, "permerror: domain mismatch"],
    [`${RSA_TAGS}; i=joe`, "permerror: signature syntax error: i=joe"],
    [RSA_TAGS.replace("d=example.com", "d=exa mple.com"), "permerror: signature syntax error: d="],
    [`${RSA_TAGS}; l=1x`, "permerror: signature syntax error: l=1x"],
    [`${RSA_TAGS}; l=100000`, "permerror: signature syntax error: l=100000 exceeds the body"],
    [`${RSA_TAGS}; l=5`, "pass"],
    [`${RSA_TAGS}; t=1700000000; x=1700000100`, "permerror: signature expired: x=1700000100"],
    [`${RSA_TAGS}; t=99999999999`, "policy: signature timestamp in the future"],
  ];
  for (const [tags, want] of cases) {
    const signed = prepend(await craft(MESSAGE, tags, rsa.privateKey), MESSAGE);
    const [r] = await verifyWith(record, signed, new Date("2025-01-01T00:00:00Z"));
    assert.ok(
      `${r!.result}: ${r!.reason}`.startsWith(want) || (want === "pass" && r!.result === "pass"),
      `${tags}: got ${r!.result} (${r!.reason}), want ${want}`,
    );
  }
  // Missing required tags: a field without bh=.
  const noBh = prepend(
    "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; b=AAAA\r\n",
    MESSAGE,
  );
  assert.deepEqual(brief(await verifyWith(record, noBh)), [
    "permerror: signature missing required tag: bh",
  ]);
});

Deno.test("verifyMessage() evaluates x= at the given time (derived/rsa-expired.eml)", async () => {
  const message = await conformanceMessage("derived/rsa-expired.eml");
  const record = {
    "test._domainkey.example.com": await Deno.readTextFile(new URL("dkimpy/test.txt", CONFORMANCE)),
  };
  assert.deepEqual(brief(await verifyWith(record, message, new Date(1600000100 * 1000))), ["pass"]);
  const [late] = await verifyWith(record, message, new Date(1600086401 * 1000));
  assert.equal(late!.result, "permerror");
  assert.match(late!.reason!, /^signature expired/);
});

Deno.test(`verifyMessage() evaluates at most ${MAX_SIGNATURES} signatures`, async () => {
  const { ed25519 } = await generateKeys();
  const key = { selector: "sel", ...ed25519 };
  let fields = "";
  for (let i = 0; i < MAX_SIGNATURES + 2; i++) {
    fields += await signMessage(MESSAGE, [key], { domain: "example.com" });
  }
  let lookups = 0;
  const resolver: Resolver = {
    lookup<T extends RecordType>(_name: string, _type: T): Promise<DnsResult<RecordTypes[T]>> {
      lookups++;
      return Promise.resolve({
        kind: "ok",
        records: [ed25519.dnsRecord] as RecordTypes[T][],
        ttl: 60,
      });
    },
  };
  const results = await verifyMessage(prepend(fields, MESSAGE), { resolver });
  assert.equal(results.length, MAX_SIGNATURES + 2);
  assert.ok(results.slice(0, MAX_SIGNATURES).every((r) => r.result === "pass"));
  assert.deepEqual(results.slice(MAX_SIGNATURES).map((r) => [r.result, r.selector]), [
    ["policy", "sel"],
    ["policy", "sel"],
  ]);
  assert.equal(lookups, 1, "one lookup per key name and message");
});
