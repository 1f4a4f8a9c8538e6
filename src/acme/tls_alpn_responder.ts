/**
 * A minimal TLS 1.3 server handshake (RFC 8446), only for tls-alpn-01 validations (RFC 8737
 * §3): the CA's validation client offers ALPN `acme-tls/1` and must be shown the self-signed
 * certificate with the critical acmeIdentifier extension. Deno's TLS (rustls) refuses to serve
 * such a certificate (webpki: UnsupportedCriticalExtension), so postie answers these handshakes
 * itself. Nothing is ever sent or received after the handshake: it ends with close_notify.
 *
 * One way through: ClientHello (TLS 1.3, TLS_AES_128_GCM_SHA256, an x25519 or secp256r1 key
 * share, ecdsa_secp256r1_sha256, `acme-tls/1`; one HelloRetryRequest when only the share is
 * missing), ServerHello, a change_cipher_spec for middlebox compatibility (§D.4), then
 * EncryptedExtensions, Certificate, CertificateVerify and Finished under the handshake keys;
 * the client's Finished is checked and close_notify goes out under the application keys. Any
 * other input gets a fatal alert (§6.2) and the connection is closed; every read has the
 * deadline given. No PSK, no 0-RTT, no client certificates, no session tickets.
 *
 * @module
 */

import { ReadTimeout } from "../listen/inbox.ts";
import { TlsReader, TlsTruncated } from "../listen/client_hello.ts";
import {
  applicationSecrets,
  concat,
  CONTENT_APPLICATION_DATA,
  finishedVerifyData,
  handshakeSecrets,
  RecordError,
  RecordProtection,
  sha256,
} from "./_tls13_keys.ts";

/** What the responder serves: the challenge certificate (DER) and its P-256 signing key. */
export interface TlsAlpnChallenge {
  certDer: Uint8Array;
  /** ECDSA P-256, usable for "sign". */
  privateKey: CryptoKey;
}

/** The byte stream the responder needs (a {@link Connection} is one). */
export interface TlsAlpnConnection {
  read(timeoutMs: number, interruptible: boolean): Promise<Uint8Array | null>;
  write(data: Uint8Array, drainTimeoutMs: number): Promise<boolean>;
  close(): void;
}

/** How one validation handshake ended. */
export type TlsAlpnOutcome =
  | { ok: true }
  | {
    ok: false;
    /** What went wrong, for the log. */
    reason: string;
    /** The alert sent (RFC 8446 §6), or received when `fromPeer`; absent when none was. */
    alert?: string;
    fromPeer?: boolean;
  };

/** The ALPN protocol of tls-alpn-01 (RFC 8737 §6.2). */
const ACME_TLS_ALPN = "acme-tls/1";

// RFC 8446 §5.1 ContentType.
const CHANGE_CIPHER_SPEC = 20;
const ALERT = 21;
const HANDSHAKE = 22;
// RFC 8446 §4 HandshakeType.
const CLIENT_HELLO = 1;
const SERVER_HELLO = 2;
const ENCRYPTED_EXTENSIONS = 8;
const CERTIFICATE = 11;
const CERTIFICATE_VERIFY = 15;
const FINISHED = 20;
const MESSAGE_HASH = 254;
// RFC 8446 §4.2 ExtensionType (and RFC 7301 §3.1 for ALPN).
const EXT_SUPPORTED_GROUPS = 10;
const EXT_SIGNATURE_ALGORITHMS = 13;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
const EXT_KEY_SHARE = 51;
const TLS13 = 0x0304;
const TLS_AES_128_GCM_SHA256 = 0x1301;
const ECDSA_SECP256R1_SHA256 = 0x0403;
// RFC 8446 §4.2.7 NamedGroup, in order of preference.
const X25519 = 0x001d;
const SECP256R1 = 0x0017;
const GROUPS = [X25519, SECP256R1];

// RFC 8446 §6 AlertDescription.
const ALERTS = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  internal_error: 80,
  missing_extension: 109,
  no_application_protocol: 120,
} as const;
type AlertName = keyof typeof ALERTS;

// RFC 8446 §4.1.3: the ServerHello.random of a HelloRetryRequest, SHA-256("HelloRetryRequest").
const HRR_RANDOM = Uint8Array.fromHex(
  "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c",
);
// RFC 8446 §5.1: a TLSPlaintext fragment is at most 2^14 bytes; §5.2: a TLSCiphertext
// fragment at most 2^14 + 256.
const MAX_PLAINTEXT = 1 << 14;
const MAX_CIPHERTEXT = MAX_PLAINTEXT + 256;
// A ClientHello bigger than this is not a validation client's.
const MAX_HANDSHAKE_MESSAGE = 1 << 16;
const WRITE_TIMEOUT_MS = 5000;

/** A fatal condition: the alert to send (§6.2) and why. */
class Fatal extends Error {
  constructor(readonly alert: AlertName, message: string) {
    super(message);
  }
}

/** The peer sent an alert, closed, or let the deadline pass: nothing more to say. */
class PeerGone extends Error {
  constructor(message: string, readonly alert?: string) {
    super(message);
  }
}

function alertName(code: number): string {
  const entry = Object.entries(ALERTS).find(([, v]) => v === code);
  return entry ? entry[0] : `alert ${code}`;
}

const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
const u24 = (n: number) => Uint8Array.of(n >> 16, (n >> 8) & 0xff, n & 0xff);
/** An opaque vector with a `width`-byte length prefix (RFC 8446 §3.4). */
function vec(width: 1 | 2 | 3, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = concat(...parts);
  const len = width === 1
    ? Uint8Array.of(body.length)
    : width === 2
    ? u16(body.length)
    : u24(body.length);
  return concat(len, body);
}
/** A Handshake message: msg_type, uint24 length, body (RFC 8446 §4). */
const handshakeMessage = (type: number, ...body: Uint8Array[]) =>
  concat(Uint8Array.of(type), vec(3, ...body));
const extension = (type: number, ...data: Uint8Array[]) => concat(u16(type), vec(2, ...data));

/** The parts of a ClientHello the responder looks at (RFC 8446 §4.1.2). */
interface Hello {
  sessionId: Uint8Array;
  cipherSuites: number[];
  compression: Uint8Array;
  extensions: Map<number, Uint8Array>;
}

function uints(r: TlsReader, width: number): number[] {
  const out: number[] = [];
  while (!r.done) out.push(r.uint(width));
  return out;
}

/** Parse a ClientHello body. @throws {Fatal} decode_error, illegal_parameter. */
function parseHello(body: Uint8Array): Hello {
  try {
    const r = new TlsReader(body);
    r.skip(2 + 32); // legacy_version, random
    const sessionId = r.vector(1).rest();
    if (sessionId.length > 32) {
      throw new Fatal("illegal_parameter", "legacy_session_id over 32 bytes");
    }
    const suites = r.vector(2);
    const cipherSuites = uints(suites, 2);
    const compression = r.vector(1).rest();
    const extensions = new Map<number, Uint8Array>();
    const list = r.vector(2);
    if (!r.done) throw new Fatal("decode_error", "bytes after the ClientHello extensions");
    while (!list.done) {
      const type = list.uint(2);
      const data = list.vector(2).rest();
      // RFC 8446 §4.2: no more than one extension of the same type.
      if (extensions.has(type)) throw new Fatal("illegal_parameter", `extension ${type} twice`);
      extensions.set(type, data);
    }
    return { sessionId, cipherSuites, compression, extensions };
  } catch (e) {
    if (e instanceof TlsTruncated) throw new Fatal("decode_error", "truncated ClientHello");
    throw e;
  }
}

/** Read an extension's content with `f`; a short or overlong one is a decode_error. */
function decodeExtension<T>(data: Uint8Array, name: string, f: (r: TlsReader) => T): T {
  try {
    const r = new TlsReader(data);
    const v = f(r);
    if (!r.done) throw new TlsTruncated();
    return v;
  } catch (e) {
    if (e instanceof TlsTruncated) throw new Fatal("decode_error", `malformed ${name} extension`);
    throw e;
  }
}

/** What was agreed from a ClientHello: the group, and the client's share if it sent one. */
interface Negotiated {
  group: number;
  share?: Uint8Array;
}

/**
 * RFC 8446 §4.1.1: check that `hello` can be answered, and choose the key exchange. The order
 * of checks decides which alert a hello that fails several gets: the version first.
 */
function negotiate(hello: Hello): Negotiated {
  const ext = hello.extensions;
  // §4.2.1: without supported_versions (or without 0x0304 in it) this is TLS 1.2 or older.
  const versionsData = ext.get(EXT_SUPPORTED_VERSIONS);
  const versions = versionsData
    ? decodeExtension(versionsData, "supported_versions", (r) => uints(r.vector(1), 2))
    : [];
  if (!versions.includes(TLS13)) throw new Fatal("protocol_version", "TLS 1.3 not offered");
  // §4.1.2: a TLS 1.3 ClientHello has exactly one compression method, null.
  if (hello.compression.length !== 1 || hello.compression[0] !== 0) {
    throw new Fatal("illegal_parameter", "compression methods other than null");
  }
  if (!hello.cipherSuites.includes(TLS_AES_128_GCM_SHA256)) {
    throw new Fatal("handshake_failure", "TLS_AES_128_GCM_SHA256 not offered");
  }
  // RFC 7301 §3.2: no protocol in common is no_application_protocol.
  const alpnData = ext.get(EXT_ALPN);
  const alpn = alpnData
    ? decodeExtension(alpnData, "ALPN", (r) => {
      const list = r.vector(2);
      const names: string[] = [];
      while (!list.done) names.push(list.vector(1).text());
      return names;
    })
    : [];
  if (!alpn.includes(ACME_TLS_ALPN)) {
    throw new Fatal("no_application_protocol", "acme-tls/1 not offered");
  }
  // §9.2: a certificate-authenticated handshake needs signature_algorithms.
  const sigData = ext.get(EXT_SIGNATURE_ALGORITHMS);
  if (!sigData) throw new Fatal("missing_extension", "no signature_algorithms");
  const sigs = decodeExtension(sigData, "signature_algorithms", (r) => uints(r.vector(2), 2));
  if (!sigs.includes(ECDSA_SECP256R1_SHA256)) {
    throw new Fatal("handshake_failure", "ecdsa_secp256r1_sha256 not offered");
  }
  // §9.2: an (EC)DHE handshake needs supported_groups and key_share.
  const groupsData = ext.get(EXT_SUPPORTED_GROUPS);
  const shareData = ext.get(EXT_KEY_SHARE);
  if (!groupsData || !shareData) {
    throw new Fatal("missing_extension", "no supported_groups or key_share");
  }
  const groups = decodeExtension(groupsData, "supported_groups", (r) => uints(r.vector(2), 2));
  // §4.2.8: KeyShareClientHello { KeyShareEntry client_shares<0..2^16-1> }.
  const shares = decodeExtension(shareData, "key_share", (r) => {
    const list = r.vector(2);
    const out = new Map<number, Uint8Array>();
    while (!list.done) {
      const group = list.uint(2);
      const key = list.vector(2).rest();
      if (out.has(group)) throw new Fatal("illegal_parameter", "two key shares for one group");
      out.set(group, key);
    }
    return out;
  });
  for (const group of GROUPS) {
    const share = shares.get(group);
    if (share) return { group, share };
  }
  // §4.1.4: no usable share, but a usable group: a HelloRetryRequest can ask for it.
  const group = GROUPS.find((g) => groups.includes(g));
  if (group === undefined) {
    throw new Fatal("handshake_failure", "neither x25519 nor secp256r1 offered");
  }
  return { group };
}

/** The server's key share and the shared secret (RFC 8446 §7.4). */
async function keyExchange(
  group: number,
  peer: Uint8Array,
): Promise<{ share: Uint8Array; shared: Uint8Array }> {
  const alg = group === X25519 ? { name: "X25519" } : { name: "ECDH", namedCurve: "P-256" };
  // §4.2.8.2: an x25519 share is 32 bytes; a secp256r1 one an uncompressed point, 65 bytes.
  const size = group === X25519 ? 32 : 65;
  if (peer.length !== size || (group === SECP256R1 && peer[0] !== 4)) {
    throw new Fatal("illegal_parameter", "key share of the wrong form");
  }
  const keys = await crypto.subtle.generateKey(alg, false, ["deriveBits"]) as CryptoKeyPair;
  let shared: Uint8Array;
  try {
    const peerKey = await crypto.subtle.importKey(
      "raw",
      peer as Uint8Array<ArrayBuffer>,
      alg,
      false,
      [],
    );
    shared = new Uint8Array(
      await crypto.subtle.deriveBits({ name: alg.name, public: peerKey }, keys.privateKey, 256),
    );
  } catch {
    // §7.4.1: an invalid point; §7.4.2: an all-zero x25519 result (refused by WebCrypto).
    throw new Fatal("illegal_parameter", "unusable key share");
  }
  const share = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
  return { share, shared };
}

/** An ECDSA signature in IEEE P1363 form (r || s) as DER ECDSA-Sig-Value (RFC 8446 §4.2.3). */
export function p1363ToDer(signature: Uint8Array): Uint8Array<ArrayBuffer> {
  const half = signature.length / 2;
  const integer = (bytes: Uint8Array) => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    const v = bytes.subarray(i);
    const body = v[0]! & 0x80 ? concat(Uint8Array.of(0), v) : v;
    return concat(Uint8Array.of(0x02, body.length), body);
  };
  const seq = concat(integer(signature.subarray(0, half)), integer(signature.subarray(half)));
  return concat(Uint8Array.of(0x30, seq.length), seq);
}

/** Reads TLS records from the connection, whole, by the deadline (RFC 8446 §5.1). */
class RecordReader {
  #buffer: Uint8Array = new Uint8Array(0);
  constructor(readonly conn: TlsAlpnConnection, readonly deadline: number) {}

  async #fill(n: number): Promise<void> {
    while (this.#buffer.length < n) {
      const left = this.deadline - Date.now();
      if (left <= 0) throw new PeerGone("the client was too slow");
      let chunk: Uint8Array | null;
      try {
        chunk = await this.conn.read(left, false);
      } catch (e) {
        if (e instanceof ReadTimeout) throw new PeerGone("the client was too slow");
        throw e;
      }
      if (chunk === null) throw new PeerGone("the client closed the connection");
      this.#buffer = concat(this.#buffer, chunk);
    }
  }

  /** The next record: its type, 5-byte header and fragment. */
  async next(): Promise<{ type: number; header: Uint8Array; body: Uint8Array }> {
    await this.#fill(5);
    const header = this.#buffer.slice(0, 5);
    const type = header[0]!;
    const length = header[3]! * 256 + header[4]!;
    if (![CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, CONTENT_APPLICATION_DATA].includes(type)) {
      throw new Fatal("unexpected_message", `record of content type ${type}`);
    }
    if (header[1] !== 3) throw new Fatal("protocol_version", "not a TLS record");
    if (length > MAX_CIPHERTEXT || (type !== CONTENT_APPLICATION_DATA && length > MAX_PLAINTEXT)) {
      throw new Fatal("record_overflow", "record too long");
    }
    await this.#fill(5 + length);
    const body = this.#buffer.slice(5, 5 + length);
    this.#buffer = this.#buffer.slice(5 + length);
    return { type, header, body };
  }
}

/** One validation handshake; see the module documentation. */
class Handshake {
  readonly #records: RecordReader;
  /** The handshake messages so far, for the Transcript-Hash (§4.4.1). */
  #transcript: Uint8Array[] = [];
  /** Handshake-layer bytes received and not yet made into messages. */
  #pending: Uint8Array = new Uint8Array(0);
  #write: RecordProtection | null = null;
  #read: RecordProtection | null = null;
  #ccsSent = false;

  constructor(
    readonly conn: TlsAlpnConnection,
    readonly challenge: TlsAlpnChallenge,
    deadline: number,
  ) {
    this.#records = new RecordReader(conn, deadline);
  }

  async #send(bytes: Uint8Array): Promise<void> {
    await this.conn.write(bytes, WRITE_TIMEOUT_MS);
  }

  /** A record of `type`: in the clear before the handshake keys, protected after (§5). */
  async #record(type: number, content: Uint8Array): Promise<void> {
    const out: Uint8Array[] = [];
    // §5.1: at most 2^14 bytes per record; an empty content still makes one record.
    for (let at = 0; at === 0 || at < content.length; at += MAX_PLAINTEXT) {
      const part = content.subarray(at, at + MAX_PLAINTEXT);
      out.push(
        this.#write
          ? await this.#write.seal(type, part)
          : concat(Uint8Array.of(type, 3, 3), u16(part.length), part),
      );
    }
    await this.#send(concat(...out));
  }

  /** A fatal alert (§6.2), protected when the handshake keys are in place. */
  async alert(name: AlertName): Promise<void> {
    // close_notify is a warning (1), everything else fatal (2).
    await this.#record(ALERT, Uint8Array.of(name === "close_notify" ? 1 : 2, ALERTS[name]));
  }

  // RFC 8446 §D.4: the middlebox compatibility change_cipher_spec, once, in the clear, when
  // the client sent a legacy_session_id (its sign of compatibility mode).
  async #compatCcs(hello: Hello): Promise<void> {
    if (this.#ccsSent || hello.sessionId.length === 0) return;
    this.#ccsSent = true;
    await this.#send(Uint8Array.of(CHANGE_CIPHER_SPEC, 3, 3, 0, 1, 1));
  }

  /** The next handshake message (type and whole message), reassembled across records. */
  async #message(): Promise<{ type: number; message: Uint8Array }> {
    for (;;) {
      if (this.#pending.length >= 4) {
        const length = this.#pending[1]! * 65536 + this.#pending[2]! * 256 + this.#pending[3]!;
        if (length > MAX_HANDSHAKE_MESSAGE) {
          throw new Fatal("illegal_parameter", "handshake message too long");
        }
        if (this.#pending.length >= 4 + length) {
          const message = this.#pending.slice(0, 4 + length);
          this.#pending = this.#pending.slice(4 + length);
          return { type: message[0]!, message };
        }
      }
      const { type, header, body } = await this.#records.next();
      if (type === CHANGE_CIPHER_SPEC) {
        // §5: a change_cipher_spec of the single byte 1 may come and is dropped; any other is
        // unexpected_message. It is never protected.
        if (body.length !== 1 || body[0] !== 1) {
          throw new Fatal("unexpected_message", "bad change_cipher_spec");
        }
        if (this.#transcript.length === 0) {
          throw new Fatal("unexpected_message", "change_cipher_spec first");
        }
        continue;
      }
      let contentType = type;
      let content = body;
      if (this.#read) {
        // §5.2: once the handshake keys are in place, everything else is protected.
        if (type !== CONTENT_APPLICATION_DATA) {
          if (type === ALERT) this.#peerAlert(body);
          throw new Fatal("unexpected_message", "unprotected record after ServerHello");
        }
        try {
          ({ type: contentType, content } = await this.#read.open(header, body));
        } catch (e) {
          if (e instanceof RecordError) throw new Fatal(alertName(e.alert) as AlertName, e.message);
          throw e;
        }
      } else if (type === CONTENT_APPLICATION_DATA) {
        throw new Fatal("unexpected_message", "application data before the handshake");
      }
      if (contentType === ALERT) this.#peerAlert(content);
      if (contentType !== HANDSHAKE) {
        throw new Fatal("unexpected_message", `record of content type ${contentType}`);
      }
      // §5.1: handshake records are never empty.
      if (content.length === 0) throw new Fatal("unexpected_message", "empty handshake record");
      this.#pending = concat(this.#pending, content);
    }
  }

  #peerAlert(body: Uint8Array): never {
    const name = body.length === 2 ? alertName(body[1]!) : "malformed alert";
    throw new PeerGone(`the client sent ${name}`, name);
  }

  /** A ClientHello, all alone in its records (§5.1: not spanning a key change). */
  async #clientHello(): Promise<{ message: Uint8Array; hello: Hello }> {
    const { type, message } = await this.#message();
    if (type !== CLIENT_HELLO) throw new Fatal("unexpected_message", "not a ClientHello");
    if (this.#pending.length > 0) {
      throw new Fatal("unexpected_message", "data after the ClientHello");
    }
    return { message, hello: parseHello(message.subarray(4)) };
  }

  #hash(): Promise<Uint8Array> {
    return sha256(concat(...this.#transcript));
  }

  /** RFC 8446 §4.1.3: ServerHello (or HelloRetryRequest) extensions and all. */
  #serverHello(random: Uint8Array, hello: Hello, keyShare: Uint8Array): Uint8Array {
    return handshakeMessage(
      SERVER_HELLO,
      u16(0x0303),
      random,
      vec(1, hello.sessionId),
      u16(TLS_AES_128_GCM_SHA256),
      Uint8Array.of(0),
      vec(2, extension(EXT_SUPPORTED_VERSIONS, u16(TLS13)), extension(EXT_KEY_SHARE, keyShare)),
    );
  }

  async run(): Promise<void> {
    let { message, hello } = await this.#clientHello();
    let chosen = negotiate(hello);
    if (!chosen.share) {
      // §4.1.4: HelloRetryRequest for the group; the transcript starts over with
      // message_hash(ClientHello1) (§4.4.1).
      const hrr = this.#serverHello(HRR_RANDOM, hello, u16(chosen.group));
      this.#transcript = [handshakeMessage(MESSAGE_HASH, await sha256(message)), hrr];
      await this.#record(HANDSHAKE, hrr);
      await this.#compatCcs(hello);
      const group = chosen.group;
      ({ message, hello } = await this.#clientHello());
      chosen = negotiate(hello);
      // §4.1.2: the second ClientHello carries the share asked for, and only that one.
      if (chosen.group !== group || !chosen.share) {
        throw new Fatal("illegal_parameter", "the second ClientHello lacks the requested share");
      }
      this.#transcript.push(message);
    } else {
      this.#transcript = [message];
    }
    const { share, shared } = await keyExchange(chosen.group, chosen.share!);
    const serverHello = this.#serverHello(
      crypto.getRandomValues(new Uint8Array(32)),
      hello,
      concat(u16(chosen.group), vec(2, share)),
    );
    await this.#record(HANDSHAKE, serverHello);
    this.#transcript.push(serverHello);
    await this.#compatCcs(hello);
    // §7.1: the handshake traffic secrets over ClientHello...ServerHello.
    const hs = await handshakeSecrets(shared, await this.#hash());
    this.#write = await RecordProtection.of(hs.server);
    this.#read = await RecordProtection.of(hs.client);
    // §4.3.1 EncryptedExtensions: the ALPN protocol selected (RFC 7301 §3.1: exactly one).
    const ee = handshakeMessage(
      ENCRYPTED_EXTENSIONS,
      vec(2, extension(EXT_ALPN, vec(2, vec(1, new TextEncoder().encode(ACME_TLS_ALPN))))),
    );
    // §4.4.2 Certificate: empty certificate_request_context, one CertificateEntry.
    const cert = handshakeMessage(
      CERTIFICATE,
      vec(1),
      vec(3, vec(3, this.challenge.certDer), vec(2)),
    );
    this.#transcript.push(ee, cert);
    // §4.4.3 CertificateVerify: 64 spaces, the context string, 0, Transcript-Hash(...Certificate).
    const signed = concat(
      new Uint8Array(64).fill(0x20),
      new TextEncoder().encode("TLS 1.3, server CertificateVerify"),
      Uint8Array.of(0),
      await this.#hash(),
    );
    const signature = new Uint8Array(
      await crypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-256" },
        this.challenge.privateKey,
        signed,
      ),
    );
    const verify = handshakeMessage(
      CERTIFICATE_VERIFY,
      u16(ECDSA_SECP256R1_SHA256),
      vec(2, p1363ToDer(signature)),
    );
    this.#transcript.push(verify);
    // §4.4.4 Finished over ...CertificateVerify, with the server handshake secret.
    const finished = handshakeMessage(
      FINISHED,
      await finishedVerifyData(hs.server, await this.#hash()),
    );
    this.#transcript.push(finished);
    await this.#record(HANDSHAKE, concat(ee, cert, verify, finished));
    const serverFinishedHash = await this.#hash();
    const app = await applicationSecrets(hs.handshake, serverFinishedHash);
    // §4.4.4: the client's Finished, over ClientHello...server Finished.
    const expected = await finishedVerifyData(hs.client, serverFinishedHash);
    const reply = await this.#message();
    if (reply.type !== FINISHED) throw new Fatal("unexpected_message", "not a Finished");
    if (this.#pending.length > 0) throw new Fatal("unexpected_message", "data after the Finished");
    const got = reply.message.subarray(4);
    let diff = got.length ^ expected.length;
    for (let i = 0; i < Math.min(got.length, expected.length); i++) diff |= got[i]! ^ expected[i]!;
    if (diff !== 0) throw new Fatal("decrypt_error", "the client's Finished does not verify");
    // §6.1: close_notify under the server application traffic keys, and nothing else.
    this.#write = await RecordProtection.of(app.server);
    await this.alert("close_notify");
  }
}

/**
 * Answer one tls-alpn-01 validation handshake on `conn` with `challenge` (see the module
 * documentation), then close the connection. The ClientHello is read from `conn` (a listener
 * that peeked at it gives the bytes back with `Connection.unread`). Every read ends by
 * `deadline` (a `Date.now()` time). Never throws for anything the peer does.
 */
export async function respondTlsAlpn(
  conn: TlsAlpnConnection,
  challenge: TlsAlpnChallenge,
  deadline: number,
): Promise<TlsAlpnOutcome> {
  const handshake = new Handshake(conn, challenge, deadline);
  try {
    await handshake.run();
    return { ok: true };
  } catch (e) {
    if (e instanceof PeerGone) {
      return {
        ok: false,
        reason: e.message,
        ...(e.alert ? { alert: e.alert, fromPeer: true } : {}),
      };
    }
    const fatal = e instanceof Fatal ? e : new Fatal("internal_error", String(e));
    await handshake.alert(fatal.alert).catch(() => {});
    return { ok: false, reason: fatal.message, alert: fatal.alert };
  } finally {
    conn.close();
  }
}
