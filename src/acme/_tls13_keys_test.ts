import assert from "node:assert/strict";
import {
  applicationSecrets,
  concat,
  finishedVerifyData,
  handshakeSecrets,
  RecordError,
  RecordProtection,
  sha256,
  trafficKeys,
} from "./_tls13_keys.ts";

const hex = (s: string) => Uint8Array.fromHex(s.replace(/\s+/g, ""));
const toHex = (b: Uint8Array) => b.toHex();

// RFC 8448 §3 "Simple 1-RTT Handshake": the handshake messages and the values derived from them.
const CLIENT_HELLO = hex(
  "010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302" +
    "010000910000000b0009000006736572766572ff01000100000a00140012001d001700180019010001010102010301" +
    "0400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c" +
    "002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d0002" +
    "0101001c00024001",
);
const SERVER_HELLO = hex(
  "020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e003300" +
    "24001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304",
);
// The x25519 shared secret of the trace (the ECDHE input).
const SHARED = hex("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d");
const ENCRYPTED_EXTENSIONS = hex(
  "080000240022000a00140012001d00170018001901000101010201030104001c0002400100000000",
);
const CERTIFICATE = hex(
  "0b0001b9000001b50001b0308201ac30820115a003020102020102300d06092a864886f70d01010b0500300e310c30" +
    "0a06035504031303727361301e170d3136303733303031323335395a170d3236303733303031323335395a300e310c" +
    "300a0603550403130372736130819f300d06092a864886f70d010101050003818d0030818902818100b4bb498f8279" +
    "303d980836399b36c6988c0c68de55e1bdb826d3901a2461eafd2de49a91d015abbc9a95137ace6c1af19eaa6af98c" +
    "7ced43120998e187a80ee0ccb0524b1b018c3e0b63264d449a6d38e22a5fda430846748030530ef0461c8ca9d9efbf" +
    "ae8ea6d1d03e2bd193eff0ab9a8002c47428a6d35a8d88d79f7f1e3f0203010001a31a301830090603551d13040230" +
    "00300b0603551d0f0404030205a0300d06092a864886f70d01010b05000381810085aad2a0e5b9276b908c65f73a72" +
    "67170618a54c5f8a7b337d2df7a594365417f2eae8f8a58c8f8172f9319cf36b7fd6c55b80f21a03015156726096fd" +
    "335e5e67f2dbf102702e608ccae6bec1fc63a42a99be5c3eb7107c3c54e9b9eb2bd5203b1c3b84e0a8b2f759409ba3" +
    "eac9d91d402dcc0cc8f8961229ac9187b42b4de10000",
);
const CERTIFICATE_VERIFY = hex(
  "0f000084080400805a747c5d88fa9bd2e55ab085a61015b7211f824cd484145ab3ff52f1fda8477b0b7abc90db78e2" +
    "d33a5c141a078653fa6bef780c5ea248eeaaa785c4f394cab6d30bbe8d4859ee511f602957b15411ac027671459e46" +
    "445c9ea58c181e818e95b8c3fb0bf3278409d3be152a3da5043e063dda65cdf5aea20d53dfacd42f74f3",
);
const SERVER_FINISHED = hex(
  "140000209b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718",
);
const CLIENT_FINISHED = hex(
  "14000020a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61",
);
// The client Finished as a protected record under the client handshake keys, sequence 0.
const CLIENT_FINISHED_RECORD = hex(
  "170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd" +
    "1caeacab6867d726c40546",
);

/** The key and IV of `secret` are the trace's (RFC 8446 §7.3). */
async function assertTrafficKeys(secret: Uint8Array, key: string, iv: string): Promise<void> {
  const keys = await trafficKeys(secret);
  assert.deepEqual([toHex(keys.key), toHex(keys.iv)], [key, iv]);
}

Deno.test("handshakeSecrets() gives RFC 8448 §3's handshake traffic secrets, keys and IVs", async () => {
  const helloHash = await sha256(concat(CLIENT_HELLO, SERVER_HELLO));
  assert.equal(
    toHex(helloHash),
    "860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8",
  );
  const s = await handshakeSecrets(SHARED, helloHash);
  assert.equal(
    toHex(s.handshake),
    "1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac",
  );
  assert.equal(toHex(s.client), "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
  assert.equal(toHex(s.server), "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
  await assertTrafficKeys(s.server, "3fce516009c21727d0f2e4e86ee403bc", "5d313eb2671276ee13000b30");
  await assertTrafficKeys(s.client, "dbfaa693d1762c5b666af5d950258d01", "5bd3c71b836e0b76bb73265f");
});

Deno.test("applicationSecrets() and trafficKeys() give RFC 8448 §3's master and application values", async () => {
  const handshake = hex("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac");
  const finishedHash = await sha256(
    concat(
      CLIENT_HELLO,
      SERVER_HELLO,
      ENCRYPTED_EXTENSIONS,
      CERTIFICATE,
      CERTIFICATE_VERIFY,
      SERVER_FINISHED,
    ),
  );
  const s = await applicationSecrets(handshake, finishedHash);
  assert.equal(toHex(s.master), "18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919");
  assert.equal(toHex(s.client), "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5");
  assert.equal(toHex(s.server), "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");
  await assertTrafficKeys(s.server, "9f02283b6c9c07efc26bb9f2ac92e356", "cf782b88dd83549aadf1e984");
  await assertTrafficKeys(s.client, "17422dda596ed5d9acd890e3c63f5051", "5b78923dee08579033e523d9");
});

Deno.test("finishedVerifyData() gives RFC 8448 §3's server and client Finished", async () => {
  const serverHs = hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
  const clientHs = hex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
  const verifyHash = await sha256(
    concat(CLIENT_HELLO, SERVER_HELLO, ENCRYPTED_EXTENSIONS, CERTIFICATE, CERTIFICATE_VERIFY),
  );
  const serverVerify = await finishedVerifyData(serverHs, verifyHash);
  assert.equal(toHex(serverVerify), toHex(SERVER_FINISHED.slice(4)));
  const finishedHash = await sha256(
    concat(
      CLIENT_HELLO,
      SERVER_HELLO,
      ENCRYPTED_EXTENSIONS,
      CERTIFICATE,
      CERTIFICATE_VERIFY,
      SERVER_FINISHED,
    ),
  );
  assert.equal(
    toHex(await finishedVerifyData(clientHs, finishedHash)),
    toHex(CLIENT_FINISHED.slice(4)),
  );
  // The client's key over the server's transcript is another MAC.
  assert.notEqual(toHex(await finishedVerifyData(clientHs, verifyHash)), toHex(serverVerify));
});

Deno.test("RecordProtection seals and opens RFC 8448 §3's client Finished record", async () => {
  const key = hex("dbfaa693d1762c5b666af5d950258d01");
  const iv = hex("5bd3c71b836e0b76bb73265f");
  const sealer = await RecordProtection.fromKey(key, iv);
  assert.equal(toHex(await sealer.seal(22, CLIENT_FINISHED)), toHex(CLIENT_FINISHED_RECORD));
  const opener = await RecordProtection.fromKey(key, iv);
  const opened = await opener.open(
    CLIENT_FINISHED_RECORD.slice(0, 5),
    CLIENT_FINISHED_RECORD.slice(5),
  );
  assert.equal(opened.type, 22);
  assert.equal(toHex(opened.content), toHex(CLIENT_FINISHED));
});

Deno.test("RecordProtection round trip: sequence numbers advance; tampering is bad_record_mac", async () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const a = await RecordProtection.of(secret);
  const b = await RecordProtection.of(secret);
  const r1 = await a.seal(21, Uint8Array.of(1, 0));
  const r2 = await a.seal(23, new TextEncoder().encode("hello"));
  assert.notEqual(toHex(r1.slice(5)), toHex(r2.slice(5)));
  assert.deepEqual(await b.open(r1.slice(0, 5), r1.slice(5)), {
    type: 21,
    content: Uint8Array.of(1, 0),
  });
  const opened = await b.open(r2.slice(0, 5), r2.slice(5));
  assert.equal(new TextDecoder().decode(opened.content), "hello");
  // Out of order (the receiver's sequence number is now 2): does not authenticate.
  const c = await RecordProtection.of(secret);
  await assert.rejects(
    c.open(r2.slice(0, 5), r2.slice(5)),
    (e) => e instanceof RecordError && e.alert === 20,
  );
  // A flipped bit, a changed header: bad_record_mac.
  const d = await RecordProtection.of(secret);
  const flipped = r1.slice();
  flipped[7]! ^= 1;
  await assert.rejects(
    d.open(flipped.slice(0, 5), flipped.slice(5)),
    (e) => e instanceof RecordError && e.alert === 20,
  );
  const e2 = await RecordProtection.of(secret);
  await assert.rejects(e2.open(Uint8Array.of(23, 3, 1, 0, 19), r1.slice(5)), RecordError);
  // Too short to hold a tag, and too long for a record.
  const f = await RecordProtection.of(secret);
  await assert.rejects(
    f.open(r1.slice(0, 5), new Uint8Array(10)),
    (e) => e instanceof RecordError && e.alert === 20,
  );
  await assert.rejects(
    f.open(r1.slice(0, 5), new Uint8Array((1 << 14) + 257)),
    (e) => e instanceof RecordError && e.alert === 22,
  );
});
