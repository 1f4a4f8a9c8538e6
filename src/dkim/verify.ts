/**
 * DKIM verification (RFC 6376 §6, RFC 8463, RFC 8301).
 *
 * {@linkcode verifyMessage} evaluates each DKIM-Signature field of a message, top to bottom,
 * and returns one result per field in the words of RFC 8601 §2.7.1:
 *
 * - `pass`: the signature verified;
 * - `fail`: the body hash or the signature did not verify (RFC 6376 §6.1.3);
 * - `permerror`: the signature or its key cannot be used: syntax, a missing or revoked key, a
 *   policy rule of §6.1.1/§6.1.2 (From not signed, i= outside d=, expired), rsa-sha1 or an RSA
 *   key under 1024 bits (RFC 8301);
 * - `temperror`: the key could not be fetched now (DNS trouble, §6.1.2 TEMPFAIL);
 * - `policy`: not evaluated by our choice: a t= too far in the future, or a signature past
 *   {@linkcode MAX_SIGNATURES}.
 *
 * Choices the RFC leaves open:
 *
 * - **l=** (body length): a signature that covers only a prefix of the body passes, as §3.4.5
 *   prescribes, but the result says so (`bodyLengthLimited`, `unsignedBodyOctets`): content
 *   appended after signing is not authenticated (§8.2), and a caller may discount it.
 * - **t=y** (testing key, §3.6.1): the result is reported as computed, with `testing: true`;
 *   "Verifiers MUST NOT treat messages from Signers in testing mode differently from unsigned
 *   email", so policy layers (DMARC, filters) should not reward or punish on such a result.
 * - **Several key records** at one name (§6.1.2: the verifier "can choose one"): the first record
 *   that is a well-formed key record is used.
 *
 * @module
 */

import type { Resolver } from "../dns/resolver.ts";
import {
  type Canonicalization,
  canonicalizeBody,
  type HeaderField,
  headerHashInput,
  selectHeaders,
  splitMessage,
} from "./canonicalize.ts";
import { readRsaPublicKey } from "./_der.ts";
import { parseTagList, splitColonList } from "./tag_list.ts";
import { asciiDomain, asciiLower, bytesEqual, fromBase64, latin1Bytes, sha256 } from "./_util.ts";

/** A DKIM result (RFC 8601 §2.7.1). */
export type DkimStatus = "pass" | "fail" | "neutral" | "policy" | "temperror" | "permerror";

/** The outcome for one DKIM-Signature field. */
export interface DkimResult {
  result: DkimStatus;
  /** The signing domain (d=), as written; "" if absent. */
  domain: string;
  /** The selector (s=); "" if absent. */
  selector: string;
  /** The signature algorithm (a=); "" if absent. */
  algorithm: string;
  /** The agent or user identifier (i=), when the signature has one. */
  identity?: string;
  /**
   * Why the result is not "pass", in RFC 6376 §6.1's words ("body hash did not verify",
   * "key revoked", ...), optionally followed by ": " and details.
   */
  reason?: string;
  /** Whether the signature has l=: it then covers only part of the body (RFC 6376 §8.2). */
  bodyLengthLimited?: boolean;
  /** With l=, how many octets of the canonical body come after the signed part. */
  unsignedBodyOctets?: number;
  /** The first 8 characters of b=, for Authentication-Results header.b (RFC 6008 §4). */
  headerB?: string;
  /** The key record has t=y: the signer is testing DKIM (RFC 6376 §3.6.1). */
  testing?: boolean;
  /** The size of the public key in bits, once the key was read. */
  keyBits?: number;
}

/** Options for {@linkcode verifyMessage}. */
export interface VerifyOptions {
  /** Where key records are looked up (TXT at `<s>._domainkey.<d>`). */
  resolver: Resolver;
  /** The time at which to evaluate t= and x=; default now. */
  now?: Date;
}

/** The most signatures evaluated per message; the rest get "policy" without any lookup. */
export const MAX_SIGNATURES = 10;
/**
 * How far t= may lie in the future before a signature is ignored, in seconds. Generous on
 * purpose: a signer whose clock is off by a mis-set time zone (up to 14 hours) still makes
 * valid signatures, and a timestamp proves nothing a verifier relies on. (Real mail in the
 * vectors is stamped 5.3 hours after the time it is verified at.)
 */
export const MAX_CLOCK_SKEW_SECONDS = 24 * 60 * 60;
/** RFC 8301 §3.2: "Verifiers MUST NOT consider signatures using RSA keys of less than 1024 bits
 * as valid signatures." */
const MIN_RSA_BITS = 1024;
/** The largest RSA key we spend time on; RFC 8301 §3.2 requires support up to 4096. */
const MAX_RSA_BITS = 8192;

/** A non-pass outcome, carried by exception inside this module. */
class Outcome extends Error {
  constructor(readonly result: DkimStatus, readonly reason: string) {
    super(reason);
  }
}

const permerror = (reason: string) => new Outcome("permerror", reason);

/** A public key ready to verify with. */
interface PublicKey {
  kind: "rsa" | "ed25519";
  key: CryptoKey;
  bits: number;
  /** Acceptable hash algorithms (h=), lower-case; undefined: all. */
  hashes?: string[];
  /** Flags (t=), lower-case. */
  flags: string[];
}

/** A key lookup: the usable record's key, or the outcome for every signature using it. */
type KeyLookup = { ok: true; key: PublicKey } | { ok: false; outcome: Outcome };

/** The parsed, validated tags of one signature. */
interface Signature {
  algorithm: "rsa-sha256" | "ed25519-sha256";
  headerC: Canonicalization;
  bodyC: Canonicalization;
  /** d= in ASCII, lower-case. */
  domain: string;
  selector: string;
  /** The domain part of i=, lower-case. */
  identityDomain: string;
  names: string[];
  length?: number;
  bodyHash: Uint8Array;
  signature: Uint8Array;
}

/** Per-message caches: canonical bodies by algorithm, key lookups by name. */
interface Context {
  resolver: Resolver;
  now: number;
  headers: HeaderField[];
  body: Uint8Array;
  bodies: Map<Canonicalization, Uint8Array>;
  keys: Map<string, Promise<KeyLookup>>;
}

/**
 * Verifies every DKIM-Signature field of a message.
 *
 * @example
 * ```ts
 * import { verifyMessage } from "./verify.ts";
 * import { StubResolver } from "../dns/stub_resolver.ts";
 * const resolver = new StubResolver({ nameservers: [{ host: "127.0.0.1", port: 53 }] });
 * const results = await verifyMessage(new Uint8Array(), { resolver }); // []
 * ```
 *
 * @param message The message as received (CRLF line endings), header and body.
 * @param opts The resolver and the verification time.
 * @returns One result per DKIM-Signature field, top to bottom; empty when there is none.
 */
export async function verifyMessage(
  message: Uint8Array,
  opts: VerifyOptions,
): Promise<DkimResult[]> {
  const { headers, body } = splitMessage(message);
  const ctx: Context = {
    resolver: opts.resolver,
    now: Math.floor((opts.now ?? new Date()).getTime() / 1000),
    headers,
    body,
    bodies: new Map(),
    keys: new Map(),
  };
  const fields = headers.filter((f) => f.key === "dkim-signature");
  return await Promise.all(fields.map((field, i) => {
    if (i < MAX_SIGNATURES) return verifyField(ctx, field);
    const base = describe(field);
    return { ...base, result: "policy" as const, reason: "too many signatures, not evaluated" };
  }));
}

/** What can be said about a signature field without validating it. */
function describe(field: HeaderField): DkimResult {
  const out: DkimResult = { result: "neutral", domain: "", selector: "", algorithm: "" };
  let tags: Map<string, string>;
  try {
    tags = parseTagList(fieldValue(field));
  } catch {
    return out;
  }
  out.domain = tags.get("d") ?? "";
  out.selector = tags.get("s") ?? "";
  out.algorithm = tags.get("a") ?? "";
  const i = tags.get("i");
  if (i !== undefined) out.identity = i;
  const b = tags.get("b");
  if (b !== undefined) out.headerB = b.replace(/[ \t\r\n]+/g, "").slice(0, 8);
  if (tags.has("l")) out.bodyLengthLimited = true;
  return out;
}

/** A field's value: everything after the colon. */
function fieldValue(field: HeaderField): string {
  return field.raw.slice(field.raw.indexOf(":") + 1);
}

async function verifyField(ctx: Context, field: HeaderField): Promise<DkimResult> {
  const out = describe(field);
  try {
    const sig = parseSignature(field, ctx.now);
    const lookup = await fetchKey(ctx, `${sig.selector}._domainkey.${sig.domain}`);
    if (!lookup.ok) throw lookup.outcome;
    const key = lookup.key;
    out.keyBits = key.bits;
    if (key.flags.includes("y")) out.testing = true;
    checkKey(sig, key);

    // §6.1.3 step 1: the body hash.
    let canonical = ctx.bodies.get(sig.bodyC);
    if (!canonical) {
      canonical = canonicalizeBody(ctx.body, sig.bodyC);
      ctx.bodies.set(sig.bodyC, canonical);
    }
    let covered = canonical;
    if (sig.length !== undefined) {
      // §3.5 l=: "This value MUST NOT be larger than the actual number of octets in the
      // canonicalized message body."
      if (sig.length > canonical.length) {
        throw permerror(
          `signature syntax error: l=${sig.length} exceeds the body (${canonical.length} octets)`,
        );
      }
      covered = canonical.subarray(0, sig.length);
      out.unsignedBodyOctets = canonical.length - sig.length;
    }
    if (!bytesEqual(await sha256(covered), sig.bodyHash)) {
      // §6.1.3: "If the hash does not match, the Verifier MUST ignore the signature and return
      // PERMFAIL (body hash did not verify)". RFC 8601 reports a failed check as "fail".
      throw new Outcome("fail", "body hash did not verify");
    }

    // §6.1.3 step 2: the header hash and the signature (§3.7).
    const data = latin1Bytes(
      headerHashInput(selectHeaders(ctx.headers, sig.names), field.raw, sig.headerC),
    ) as Uint8Array<ArrayBuffer>;
    const signature = sig.signature as Uint8Array<ArrayBuffer>;
    let valid: boolean;
    if (key.kind === "rsa") {
      valid = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key.key, signature, data);
    } else {
      // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the header data.
      const digest = await sha256(data) as Uint8Array<ArrayBuffer>;
      valid = await crypto.subtle.verify("Ed25519", key.key, signature, digest);
    }
    if (!valid) throw new Outcome("fail", "signature did not verify");
    out.result = "pass";
    delete out.reason;
  } catch (e) {
    if (e instanceof Outcome) {
      out.result = e.result;
      out.reason = e.reason;
    } else {
      // Never let one odd signature abort the others; whatever it was, it did not pass
      // (RFC 8601 §2.7.1 neutral: "not otherwise able to be processed").
      out.result = "neutral";
      out.reason = `verifier error: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return out;
}

/** Parses and validates a DKIM-Signature field (RFC 6376 §3.5, §6.1.1). */
function parseSignature(field: HeaderField, now: number): Signature {
  let tags: Map<string, string>;
  try {
    tags = parseTagList(fieldValue(field));
  } catch (e) {
    throw permerror(`signature syntax error: ${(e as Error).message}`);
  }
  // §6.1.1: "The version ... is incompatible with this specification ... PERMFAIL
  // (incompatible version)".
  const v = tags.get("v");
  if (v !== undefined && v !== "1") throw permerror(`incompatible version: v=${v}`);
  // §6.1.1: "If any tag listed as "required" in Section 3.5 is omitted from the DKIM-Signature
  // header field, the Verifier MUST ignore the DKIM-Signature header field and return PERMFAIL
  // (signature missing required tag)."
  const missing = ["v", "a", "b", "bh", "d", "h", "s"].filter((t) => !tags.has(t));
  if (missing.length > 0) {
    throw permerror(`signature missing required tag: ${missing.join(", ")}`);
  }
  const a = asciiLower(tags.get("a")!);
  // RFC 8301 §3.1: "rsa-sha1 MUST NOT be used for signing or verifying."
  if (a === "rsa-sha1") throw permerror("rsa-sha1 not acceptable");
  if (a !== "rsa-sha256" && a !== "ed25519-sha256") {
    throw permerror(`signature algorithm not supported: a=${a}`);
  }

  // §3.5 c=: "header/body"; a missing body part means "simple", a missing c= "simple/simple".
  const c = /^(simple|relaxed)(?:\/(simple|relaxed))?$/.exec(asciiLower(tags.get("c") ?? "simple"));
  if (!c) throw permerror(`signature syntax error: c=${tags.get("c")}`);

  // §3.5 q=: "dns/txt" is the only method defined; other methods are unknown to us.
  const q = tags.get("q");
  if (q !== undefined && !splitColonList(q).some((m) => asciiLower(m) === "dns/txt")) {
    throw permerror(`signature syntax error: unsupported query method q=${q}`);
  }

  const domain = asciiDomain(tags.get("d")!);
  if (domain === null) throw permerror(`signature syntax error: d=${tags.get("d")}`);
  const selector = asciiDomain(tags.get("s")!);
  if (selector === null) throw permerror(`signature syntax error: s=${tags.get("s")}`);

  const names = splitColonList(tags.get("h")!);
  if (names.some((n) => !/^[\x21-\x39\x3b-\x7e]+$/.test(n))) {
    throw permerror(`signature syntax error: h=${tags.get("h")}`);
  }
  // §6.1.1: "If the "h=" tag does not include the From header field, the Verifier MUST ignore
  // the DKIM-Signature header field and return PERMFAIL (From field not signed)."
  if (!names.some((n) => asciiLower(n) === "from")) throw permerror("From field not signed");

  // §6.1.1: "Verifiers MUST confirm that the domain specified in the "d=" tag is the same as or
  // a parent domain of the domain part of the "i=" tag. If not, the DKIM-Signature header field
  // MUST be ignored, and the Verifier should return PERMFAIL (domain mismatch)."
  let identityDomain = domain;
  const i = tags.get("i");
  if (i !== undefined) {
    const at = i.lastIndexOf("@");
    const iDomain = at < 0 ? null : asciiDomain(i.slice(at + 1));
    if (iDomain === null) throw permerror(`signature syntax error: i=${i}`);
    if (iDomain !== domain && !iDomain.endsWith(`.${domain}`)) {
      throw permerror(`domain mismatch: i=${i} is not within d=${domain}`);
    }
    identityDomain = iDomain;
  }

  // §3.5: l= is 1*76DIGIT, t= and x= are 1*12DIGIT.
  const l = tags.get("l");
  if (l !== undefined && !/^\d{1,76}$/.test(l)) throw permerror(`signature syntax error: l=${l}`);
  const t = tags.get("t");
  const x = tags.get("x");
  for (const [name, value] of [["t", t], ["x", x]] as const) {
    if (value !== undefined && !/^\d{1,12}$/.test(value)) {
      throw permerror(`signature syntax error: ${name}=${value}`);
    }
  }
  // §3.5 x=: "The value of the "x=" tag MUST be greater than the value of the "t=" tag if both
  // are present."
  if (t !== undefined && x !== undefined && Number(x) < Number(t)) {
    throw permerror(`signature syntax error: x=${x} is before t=${t}`);
  }
  // §3.5 x=: "Signatures MAY be considered invalid if the verification time at the Verifier is
  // past the expiration date"; §6.1.1: "PERMFAIL (signature expired)".
  if (x !== undefined && now > Number(x)) throw permerror(`signature expired: x=${x}`);
  // §3.5 t=: a timestamp in the future is not meaningful; beyond clock skew we ignore it.
  if (t !== undefined && Number(t) > now + MAX_CLOCK_SKEW_SECONDS) {
    throw new Outcome("policy", `signature timestamp in the future: t=${t}`);
  }

  const bodyHash = fromBase64(tags.get("bh")!);
  if (!bodyHash || bodyHash.length === 0) throw permerror("signature syntax error: bh= not base64");
  const signature = fromBase64(tags.get("b")!);
  if (!signature || signature.length === 0) throw permerror("signature syntax error: b= empty");

  const sig: Signature = {
    algorithm: a,
    headerC: c[1] as Canonicalization,
    bodyC: (c[2] ?? "simple") as Canonicalization,
    domain,
    selector,
    identityDomain,
    names,
    bodyHash,
    signature,
  };
  if (l !== undefined) sig.length = Number(l);
  return sig;
}

/** Looks a key record up once per message (§6.1.2). */
function fetchKey(ctx: Context, name: string): Promise<KeyLookup> {
  let pending = ctx.keys.get(name);
  if (!pending) {
    pending = lookupKey(ctx.resolver, name);
    ctx.keys.set(name, pending);
  }
  return pending;
}

async function lookupKey(resolver: Resolver, name: string): Promise<KeyLookup> {
  const r = await resolver.lookup(name, "TXT");
  if (r.kind === "temporary") {
    // §6.1.2: "If the query for the public key fails to respond, the Verifier MAY seek a later
    // verification attempt by returning TEMPFAIL (key unavailable)."
    return { ok: false, outcome: new Outcome("temperror", `key unavailable: ${r.reason}`) };
  }
  if (r.kind !== "ok" || r.records.length === 0) {
    // §6.1.2: "If the query for the public key fails because the corresponding key record does
    // not exist, the Verifier MUST immediately return PERMFAIL (no key for signature)."
    return { ok: false, outcome: permerror(`no key for signature: no TXT record at ${name}`) };
  }
  // §6.1.2: with several records the Verifier "can choose one of the key records or may cycle
  // through the key records": we take the first well-formed one.
  let first: Outcome | undefined;
  for (const record of r.records) {
    try {
      return { ok: true, key: await parseKeyRecord(record) };
    } catch (e) {
      if (!(e instanceof Outcome)) throw e;
      first ??= e;
    }
  }
  return { ok: false, outcome: first! };
}

/** Parses a key record (RFC 6376 §3.6.1) and imports its key. */
async function parseKeyRecord(record: string): Promise<PublicKey> {
  let tags: Map<string, string>;
  try {
    tags = parseTagList(record);
  } catch (e) {
    // §6.1.2: "If the result returned from the query does not adhere to the format defined in
    // this specification, the Verifier MUST ignore the key record and return PERMFAIL (key
    // syntax error)."
    throw permerror(`key syntax error: ${(e as Error).message}`);
  }
  // §3.6.1 v=: "If specified, this tag MUST be set to "DKIM1" ... This tag MUST be the first tag
  // in the record. Records beginning with a "v=" tag with any other value MUST be discarded."
  const v = tags.get("v");
  if (v !== undefined && (v !== "DKIM1" || tags.keys().next().value !== "v")) {
    throw permerror(`key syntax error: v=${v}`);
  }
  const p = tags.get("p");
  if (p === undefined) throw permerror("key syntax error: no p= tag");
  // §6.1.2: "If the public-key data (the "p=" tag) is empty, then this key has been revoked and
  // the Verifier MUST treat this as a failed signature check and return PERMFAIL (key
  // revoked)."
  if (p.replace(/[ \t\r\n]+/g, "") === "") throw permerror("key revoked");
  const k = asciiLower(tags.get("k") ?? "rsa");
  // §3.6.1 s=: "*" or a colon-separated list including "email"; "Unrecognized service types
  // MUST be ignored", so a key for other services only is no key for email.
  const services = splitColonList(tags.get("s") ?? "*").map(asciiLower);
  if (!services.includes("*") && !services.includes("email")) {
    throw permerror(`inappropriate service type: s=${tags.get("s")}`);
  }
  const data = fromBase64(p);
  if (!data) throw permerror("key syntax error: p= is not base64");
  const h = tags.get("h");
  const out = {
    flags: splitColonList(tags.get("t") ?? "").map(asciiLower),
    ...(h === undefined ? {} : { hashes: splitColonList(h).map(asciiLower) }),
  };
  if (k === "rsa") {
    const info = readRsaPublicKey(data);
    if (!info) throw permerror("key syntax error: p= is not an RSA public key");
    if (info.bits > MAX_RSA_BITS) {
      throw permerror(`inappropriate key algorithm: ${info.bits}-bit RSA key is too large`);
    }
    try {
      const key = await crypto.subtle.importKey(
        "spki",
        info.spki as Uint8Array<ArrayBuffer>,
        { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        false,
        ["verify"],
      );
      return { kind: "rsa", key, bits: info.bits, ...out };
    } catch (e) {
      throw permerror(`key syntax error: ${(e as Error).message}`);
    }
  }
  if (k === "ed25519") {
    // RFC 8463 §4.2: p= is the raw 32-byte public key.
    if (data.length !== 32) throw permerror("key syntax error: p= is not a 32-byte Ed25519 key");
    try {
      const key = await crypto.subtle.importKey(
        "raw",
        data as Uint8Array<ArrayBuffer>,
        { name: "Ed25519" },
        false,
        ["verify"],
      );
      return { kind: "ed25519", key, bits: 256, ...out };
    } catch (e) {
      throw permerror(`key syntax error: ${(e as Error).message}`);
    }
  }
  // §3.6.1 k=: "Unrecognized key types MUST be ignored."
  throw permerror(`inappropriate key algorithm: k=${tags.get("k")}`);
}

/** The checks that need both the signature and the key (§6.1.2, RFC 8301 §3.2). */
function checkKey(sig: Signature, key: PublicKey): void {
  // §6.1.2: "If the public-key data is not suitable for use with the algorithm and key types
  // defined by the "a=" and "k=" tags ..., the Verifier MUST immediately return PERMFAIL
  // (inappropriate key algorithm)."
  const wanted = sig.algorithm === "rsa-sha256" ? "rsa" : "ed25519";
  if (key.kind !== wanted) {
    throw permerror(`inappropriate key algorithm: a=${sig.algorithm} with a ${key.kind} key`);
  }
  // §6.1.2: "If the "h=" tag exists in the public-key record and the hash algorithm implied by
  // the "a=" tag ... is not included ..., the Verifier MUST ignore the key record and return
  // PERMFAIL (inappropriate hash algorithm)."
  if (key.hashes && !key.hashes.includes("sha256")) {
    throw permerror(`inappropriate hash algorithm: key allows ${key.hashes.join(":")}`);
  }
  // §3.6.1 t=s: "the "i=" domain MUST NOT be a subdomain of "d="."
  if (key.flags.includes("s") && sig.identityDomain !== sig.domain) {
    throw permerror(`domain mismatch: key has t=s and i= is in a subdomain of d=${sig.domain}`);
  }
  if (key.kind === "rsa" && key.bits < MIN_RSA_BITS) {
    throw permerror(`key too small: ${key.bits}-bit RSA key (RFC 8301 §3.2)`);
  }
}
