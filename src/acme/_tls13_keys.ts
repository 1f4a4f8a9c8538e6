/**
 * The TLS 1.3 key schedule (RFC 8446 §7.1) and record protection (§5.2) for the one cipher
 * suite the tls-alpn-01 responder speaks, TLS_AES_128_GCM_SHA256: HKDF-Extract and
 * HKDF-Expand-Label over HMAC-SHA-256 (RFC 5869), the handshake and application traffic
 * secrets, the Finished MAC (§4.4.4), and AES-128-GCM records with the per-record nonce (§5.3).
 * Everything through WebCrypto. Private helper of src/acme/tls_alpn_responder.ts.
 *
 * @module
 */

import { concat as joinBytes } from "../util/bytes.ts";

/** The hash length of SHA-256, the hash of TLS_AES_128_GCM_SHA256. */
export const HASH_LENGTH = 32;
const KEY_LENGTH = 16;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
// RFC 8446 §5.2: TLSCiphertext.length is at most 2^14 + 256.
const MAX_CIPHERTEXT = (1 << 14) + 256;
// RFC 8446 §5.1: TLSPlaintext.length (and so TLSInnerPlaintext.content) is at most 2^14.
const MAX_PLAINTEXT = 1 << 14;
/** RFC 8446 §5.1: ContentType application_data, the outer type of every protected record. */
export const CONTENT_APPLICATION_DATA = 23;

/** Concatenate byte strings (as WebCrypto takes them). */
export const concat = (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> =>
  joinBytes(parts) as Uint8Array<ArrayBuffer>;

/** SHA-256 of `data` (the Transcript-Hash of §4.4.1 when `data` is the messages so far). */
export async function sha256(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as Uint8Array<ArrayBuffer>));
}

/** HKDF-Extract(salt, IKM) (RFC 5869 §2.2); an empty salt is HashLen zeros. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return hmac(salt.length ? salt : new Uint8Array(HASH_LENGTH), ikm);
}

/**
 * HKDF-Expand-Label(Secret, Label, Context, Length) (RFC 8446 §7.1): HKDF-Expand (RFC 5869
 * §2.3) with the HkdfLabel { uint16 length; "tls13 " + Label <7..255>; Context <0..255> }.
 */
export async function hkdfExpandLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const name = new TextEncoder().encode("tls13 " + label);
  const info = concat(
    Uint8Array.of(length >> 8, length & 0xff, name.length),
    name,
    Uint8Array.of(context.length),
    context,
  );
  const out: Uint8Array[] = [];
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, have = 0; have < length; i++) {
    t = await hmac(secret, concat(t, info, Uint8Array.of(i)));
    out.push(t);
    have += t.length;
  }
  return concat(...out).slice(0, length);
}

/** Derive-Secret(Secret, Label, Messages) (RFC 8446 §7.1), given Transcript-Hash(Messages). */
export function deriveSecret(
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  return hkdfExpandLabel(secret, label, transcriptHash, HASH_LENGTH);
}

/** The secrets of the handshake stage (RFC 8446 §7.1, without a PSK). */
export interface HandshakeSecrets {
  /** Handshake Secret, input of the master secret. */
  handshake: Uint8Array;
  /** client_handshake_traffic_secret */
  client: Uint8Array;
  /** server_handshake_traffic_secret */
  server: Uint8Array;
}

/**
 * RFC 8446 §7.1: Early Secret = HKDF-Extract(0, 0) (no PSK); Handshake Secret =
 * HKDF-Extract(Derive-Secret(Early, "derived", ""), (EC)DHE); the traffic secrets over
 * Transcript-Hash(ClientHello...ServerHello) `helloHash`.
 */
export async function handshakeSecrets(
  sharedSecret: Uint8Array,
  helloHash: Uint8Array,
): Promise<HandshakeSecrets> {
  const zeros = new Uint8Array(HASH_LENGTH);
  const early = await hkdfExtract(zeros, zeros);
  const salt = await deriveSecret(early, "derived", await sha256(new Uint8Array(0)));
  const handshake = await hkdfExtract(salt, sharedSecret);
  return {
    handshake,
    client: await deriveSecret(handshake, "c hs traffic", helloHash),
    server: await deriveSecret(handshake, "s hs traffic", helloHash),
  };
}

/** The secrets of the application stage (RFC 8446 §7.1). */
export interface ApplicationSecrets {
  master: Uint8Array;
  /** client_application_traffic_secret_0 */
  client: Uint8Array;
  /** server_application_traffic_secret_0 */
  server: Uint8Array;
}

/**
 * RFC 8446 §7.1: Master Secret = HKDF-Extract(Derive-Secret(Handshake, "derived", ""), 0); the
 * application traffic secrets over Transcript-Hash(ClientHello...server Finished).
 */
export async function applicationSecrets(
  handshakeSecret: Uint8Array,
  finishedHash: Uint8Array,
): Promise<ApplicationSecrets> {
  const salt = await deriveSecret(handshakeSecret, "derived", await sha256(new Uint8Array(0)));
  const master = await hkdfExtract(salt, new Uint8Array(HASH_LENGTH));
  return {
    master,
    client: await deriveSecret(master, "c ap traffic", finishedHash),
    server: await deriveSecret(master, "s ap traffic", finishedHash),
  };
}

/**
 * RFC 8446 §4.4.4: verify_data = HMAC(finished_key, Transcript-Hash(...)), finished_key =
 * HKDF-Expand-Label(BaseKey, "finished", "", Hash.length).
 */
export async function finishedVerifyData(
  baseKey: Uint8Array,
  transcriptHash: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const key = await hkdfExpandLabel(baseKey, "finished", new Uint8Array(0), HASH_LENGTH);
  return hmac(key, transcriptHash);
}

/** RFC 8446 §7.3: the write key and IV of a traffic secret. */
export async function trafficKeys(
  secret: Uint8Array,
): Promise<{ key: Uint8Array<ArrayBuffer>; iv: Uint8Array<ArrayBuffer> }> {
  return {
    key: await hkdfExpandLabel(secret, "key", new Uint8Array(0), KEY_LENGTH),
    iv: await hkdfExpandLabel(secret, "iv", new Uint8Array(0), IV_LENGTH),
  };
}

/** A protected record failed to open (RFC 8446 §5.2: bad_record_mac) or was malformed. */
export class RecordError extends Error {
  /** The alert to answer with (§6.2): bad_record_mac (20), record_overflow (22), ... */
  constructor(readonly alert: number, message: string) {
    super(message);
  }
}

/**
 * One direction of record protection under one traffic secret (RFC 8446 §5.2, §5.3): the
 * 64-bit sequence number starts at 0 and counts every record; the nonce is the IV XOR the
 * padded sequence number; the additional data is the record header.
 */
export class RecordProtection {
  #seq = 0n;
  private constructor(readonly key: CryptoKey, readonly iv: Uint8Array) {}

  /** Protection with the key and IV of `secret` (§7.3). */
  static async of(secret: Uint8Array): Promise<RecordProtection> {
    const { key, iv } = await trafficKeys(secret);
    return RecordProtection.fromKey(key, iv);
  }

  /** Protection with a given AES-128 key and IV (for tests against published traces). */
  static async fromKey(key: Uint8Array, iv: Uint8Array): Promise<RecordProtection> {
    const k = await crypto.subtle.importKey(
      "raw",
      key as Uint8Array<ArrayBuffer>,
      "AES-GCM",
      false,
      ["encrypt", "decrypt"],
    );
    return new RecordProtection(k, iv);
  }

  // RFC 8446 §5.3: the sequence number, left-padded to iv_length, XORed with the IV.
  #nonce(): Uint8Array<ArrayBuffer> {
    const nonce = new Uint8Array(this.iv);
    let seq = this.#seq++;
    for (let i = nonce.length - 1; i >= nonce.length - 8; i--) {
      nonce[i]! ^= Number(seq & 0xffn);
      seq >>= 8n;
    }
    return nonce;
  }

  /** The TLSCiphertext record (header included) carrying `content` of `type` (§5.2). */
  async seal(type: number, content: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    if (content.length > MAX_PLAINTEXT) throw new RangeError("record content over 2^14 bytes");
    // TLSInnerPlaintext { content; ContentType type; zeros (no padding here) }.
    const inner = concat(content, Uint8Array.of(type));
    const length = inner.length + TAG_LENGTH;
    // legacy_record_version 0x0303; the header is the additional data.
    const header = Uint8Array.of(CONTENT_APPLICATION_DATA, 3, 3, length >> 8, length & 0xff);
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: this.#nonce(), additionalData: header, tagLength: 128 },
      this.key,
      inner,
    );
    return concat(header, new Uint8Array(sealed));
  }

  /**
   * Open a TLSCiphertext record: `header` its 5 bytes, `body` the encrypted_record. Returns the
   * real content type and the content. @throws {RecordError} when it does not authenticate.
   */
  async open(
    header: Uint8Array,
    body: Uint8Array,
  ): Promise<{ type: number; content: Uint8Array<ArrayBuffer> }> {
    if (body.length > MAX_CIPHERTEXT) throw new RecordError(22, "record over 2^14 + 256 bytes");
    if (body.length < TAG_LENGTH + 1) throw new RecordError(20, "record too short to open");
    let inner: Uint8Array<ArrayBuffer>;
    try {
      inner = new Uint8Array(
        await crypto.subtle.decrypt(
          {
            name: "AES-GCM",
            iv: this.#nonce(),
            additionalData: header as Uint8Array<ArrayBuffer>,
            tagLength: 128,
          },
          this.key,
          body as Uint8Array<ArrayBuffer>,
        ),
      );
    } catch {
      throw new RecordError(20, "record does not authenticate");
    }
    // §5.4: the type is the last non-zero byte; all zeros is unexpected_message.
    let end = inner.length;
    while (end > 0 && inner[end - 1] === 0) end--;
    if (end === 0) throw new RecordError(10, "protected record without a content type");
    if (end - 1 > MAX_PLAINTEXT) throw new RecordError(22, "record content over 2^14 bytes");
    return { type: inner[end - 1]!, content: inner.slice(0, end - 1) };
  }
}
