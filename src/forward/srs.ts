/**
 * The Sender Rewriting Scheme (SRS), as Shevek described it ("Sender Rewriting Scheme", 2004)
 * and as libsrs2 and postsrsd implement it: a forwarder rewrites the envelope sender of mail it
 * passes on into an address at its own domain, so that SPF at the next hop checks the
 * forwarder's domain, and so that bounces come back to the forwarder, which reverses the
 * address and passes the bounce on to the original sender.
 *
 * - SRS0: `local@domain` becomes `SRS0=HHHH=TT=domain=local@ours`, where TT is the day
 *   (days since the epoch mod 1024, two base32 characters) and HHHH the first four characters
 *   of base64 HMAC-SHA1(secret, TT + domain + local).
 * - SRS1: an SRS0 address of another forwarder, `SRS0<opaque>@forwarder1`, becomes
 *   `SRS1=HHHH=forwarder1=<opaque>@ours` (the opaque part keeps its leading separator, hence
 *   the `==`), HHHH over forwarder1 + opaque. An SRS1 address of another forwarder keeps its
 *   forwarder1 and opaque parts and is signed again for us: a bounce skips the middle
 *   forwarders and goes straight back to forwarder1, which checks its own hash and timestamp.
 * - Our own SRS0/SRS1 address forwarded again by us (a loop, or mail to an alias that
 *   forwards again) is left as it is: it already reverses at our domain.
 *
 * Hash and case: like libsrs2, the HMAC input is lower-cased, and the hash is compared without
 * regard to case, so that an address that a relay lower-cased (or upper-cased) still reverses.
 * This folds the 64 base64 characters to 38 classes (about 21 bits for four characters instead
 * of 24); the timestamp limits how long a forged address could be tried. A lower-cased local
 * part reverses to the lower-cased original local part.
 *
 * Like libsrs2, the hash input is the plain concatenation of its parts (no separators between
 * them), so secrets shared with a libsrs2/postsrsd installation give the same addresses.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DAY_MS = 86_400_000;
/** The timestamp counts days modulo this (two base32 characters, 10 bits). */
const TIME_SLOTS = 1024;
const HASH_LENGTH = 4;
/** Separators accepted right after `SRS0`/`SRS1` (libsrs2 lets an installation pick one). */
const SEPARATORS = "=-+";

/** Why {@linkcode Srs.reverse} refused a local part. */
export type SrsRefusal = "not srs" | "syntax" | "hash" | "expired";

/** The outcome of {@linkcode Srs.reverse}. */
export type SrsReverseResult =
  | { ok: true; address: string }
  | { ok: false; reason: SrsRefusal };

/** The options of {@linkcode Srs}. */
export interface SrsOptions {
  /** HMAC secrets: the first one signs, all of them verify (old ones after a rotation). */
  secrets: string[];
  /** Our domain, lower-case: the domain of the addresses {@linkcode Srs.forward} makes. */
  domain: string;
  /** How many days a rewritten address reverses (default 21, at most 1000). */
  maxAgeDays?: number;
  /** The clock (tests). */
  now?: () => Date;
}

type Parsed =
  | { kind: "srs0"; hash: string; time: string; domain: string; local: string }
  | { kind: "srs1"; hash: string; host: string; opaque: string };

/** "SRS0" or "SRS1" when `local` begins with that tag (any case) and a separator. */
function srsTag(local: string): "SRS0" | "SRS1" | undefined {
  const tag = local.slice(0, 4).toUpperCase();
  if (tag !== "SRS0" && tag !== "SRS1") return undefined;
  return local.length > 4 && SEPARATORS.includes(local[4]!) ? tag : undefined;
}

/** Split an SRS local part into its fields; "not srs" or "syntax" when it is not one. */
function parse(local: string): Parsed | "not srs" | "syntax" {
  const tag = srsTag(local);
  if (tag === undefined) return "not srs";
  const body = local.slice(5);
  if (tag === "SRS0") {
    // HHHH=TT=domain=local, the local part may hold "=" itself.
    const m = /^([^=]+)=([^=]+)=([^=]+)=(.+)$/.exec(body);
    if (!m) return "syntax";
    const time = m[2]!;
    if (time.length !== 2 || ![...time.toUpperCase()].every((c) => BASE32.includes(c))) {
      return "syntax";
    }
    return { kind: "srs0", hash: m[1]!, time, domain: m[3]!, local: m[4]! };
  }
  // HHHH=forwarder1=<opaque>, the opaque part begins with its own separator.
  const m = /^([^=]+)=([^=]+)=([=+-].+)$/.exec(body);
  if (!m) return "syntax";
  return { kind: "srs1", hash: m[1]!, host: m[2]!, opaque: m[3]! };
}

/** The address rewriter and reverser of one domain. */
export class Srs {
  readonly #keys: Uint8Array[];
  readonly #domain: string;
  readonly #maxAge: number;
  readonly #now: () => Date;

  /** @throws {RangeError} without a secret, or with maxAgeDays outside 1..1000. */
  constructor(o: SrsOptions) {
    if (o.secrets.length === 0 || o.secrets.some((s) => s.length === 0)) {
      throw new RangeError("SRS needs at least one non-empty secret");
    }
    const maxAge = o.maxAgeDays ?? 21;
    if (!Number.isInteger(maxAge) || maxAge < 1 || maxAge > 1000) {
      throw new RangeError(`SRS maxAgeDays must be an integer in 1..1000, not ${maxAge}`);
    }
    this.#keys = o.secrets.map((s) => new TextEncoder().encode(s));
    this.#domain = o.domain;
    this.#maxAge = maxAge;
    this.#now = o.now ?? (() => new Date());
  }

  /** The first four base64 characters of HMAC-SHA1 over the lower-cased parts. */
  #hash(key: Uint8Array, parts: string[]): string {
    const h = createHmac("sha1", key);
    for (const p of parts) h.update(p.toLowerCase());
    return h.digest("base64").slice(0, HASH_LENGTH);
  }

  /** Whether `given` is the hash of `parts` under one of the secrets, without regard to case. */
  #verify(given: string, parts: string[]): boolean {
    const got = new TextEncoder().encode(given.toLowerCase());
    if (got.length !== HASH_LENGTH) return false;
    let ok = false;
    for (const key of this.#keys) {
      const want = new TextEncoder().encode(this.#hash(key, parts).toLowerCase());
      // Every secret is tried, so the time taken says nothing about which one matched.
      if (timingSafeEqual(got, want)) ok = true;
    }
    return ok;
  }

  #today(): number {
    return Math.floor(this.#now().getTime() / DAY_MS);
  }

  /**
   * Rewrite the envelope sender `local@domain` (validated, domain lower-case) for forwarding.
   * The empty reverse path (bounces) is not rewritten: the caller keeps `<>`.
   */
  forward(sender: string): string {
    const at = sender.lastIndexOf("@");
    const local = sender.slice(0, at);
    const domain = sender.slice(at + 1);
    const key = this.#keys[0]!;
    const ours = this.#domain;
    const tag = srsTag(local);
    if (tag !== undefined && domain === ours) return sender; // ours already: it reverses here
    if (tag === "SRS0") {
      // An SRS0 of another forwarder: the part after "SRS0" is opaque to us (libsrs2 alike).
      const opaque = local.slice(4);
      return `SRS1=${this.#hash(key, [domain, opaque])}=${domain}=${opaque}@${ours}`;
    }
    const p = tag === "SRS1" ? parse(local) : undefined;
    if (typeof p === "object" && p.kind === "srs1") {
      return `SRS1=${this.#hash(key, [p.host, p.opaque])}=${p.host}=${p.opaque}@${ours}`;
    }
    // An ordinary address, or an SRS1 we cannot take apart: wrap it whole.
    const t = this.#today() % TIME_SLOTS;
    const time = BASE32[t >> 5]! + BASE32[t & 31]!;
    return `SRS0=${this.#hash(key, [time, domain, local])}=${time}=${domain}=${local}@${ours}`;
  }

  /**
   * Reverse `local`, the local part of an address at our domain: the address a bounce to it
   * goes to, or why it is refused. The hash is checked before the timestamp, so a forged
   * address is always "hash".
   */
  reverse(local: string): SrsReverseResult {
    const p = parse(local);
    if (p === "not srs" || p === "syntax") return { ok: false, reason: p };
    if (p.kind === "srs1") {
      if (!this.#verify(p.hash, [p.host, p.opaque])) return { ok: false, reason: "hash" };
      // The previous forwarder checks its own hash and timestamp.
      return { ok: true, address: `SRS0${p.opaque}@${p.host}` };
    }
    if (!this.#verify(p.hash, [p.time, p.domain, p.local])) return { ok: false, reason: "hash" };
    const up = p.time.toUpperCase();
    const then = BASE32.indexOf(up[0]!) * 32 + BASE32.indexOf(up[1]!);
    // Age in days across the 1024-day wrap; 1023 is "tomorrow" (a clock a little ahead).
    const age = (this.#today() - then + TIME_SLOTS * 2) % TIME_SLOTS;
    if (age > this.#maxAge && age !== TIME_SLOTS - 1) return { ok: false, reason: "expired" };
    return { ok: true, address: `${p.local}@${p.domain}` };
  }
}
