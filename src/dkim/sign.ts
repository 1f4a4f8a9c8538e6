/**
 * DKIM signing (RFC 6376 §5, RFC 8463, RFC 8301).
 *
 * {@linkcode signMessage} returns the DKIM-Signature header field(s) to prepend to a message,
 * one per key: with an RSA and an Ed25519 key the message is dual-signed (RFC 8463 §5 suggests
 * signing with both while Ed25519 support spreads). Defaults: `c=relaxed/relaxed` (survives the
 * re-folding and whitespace changes relays make), `t=` set, no `l=` (RFC 6376 §8.2: a body
 * length limit lets anyone append content), and an `h=` list that covers the identity- and
 * content-bearing fields present, with From, To, Subject and Date listed once more than they
 * occur: the extra name signs "no further instance", so a field of that name added later breaks
 * the signature (over-signing, §8.15, §5.4.2).
 *
 * @module
 */

import {
  type Canonicalization,
  canonicalizeBody,
  type HeaderField,
  headerHashInput,
  selectHeaders,
  splitMessage,
} from "./canonicalize.ts";
import type { DkimSigningKey } from "./keys.ts";
import { asciiDomain, latin1Bytes, sha256, toBase64 } from "./_util.ts";

/**
 * Header fields signed when present (RFC 6376 §5.4.1's list, plus Message-ID, the MIME fields
 * and Sender). Every field whose name starts with "List-" is signed too (RFC 8058 §4 requires
 * List-Unsubscribe and List-Unsubscribe-Post to be signed).
 */
export const DEFAULT_SIGNED_HEADERS: readonly string[] = [
  "from",
  "sender",
  "reply-to",
  "subject",
  "date",
  "message-id",
  "to",
  "cc",
  "in-reply-to",
  "references",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "content-disposition",
  "resent-date",
  "resent-from",
  "resent-sender",
  "resent-to",
  "resent-cc",
  "resent-message-id",
];

/** Fields listed once more than they occur (over-signed, RFC 6376 §8.15). */
export const OVERSIGNED_HEADERS: readonly string[] = ["from", "to", "subject", "date"];

/** Options for {@linkcode signMessage}. */
export interface SignOptions {
  /** The signing domain (d=). */
  domain: string;
  /** The signature time (t=); default now. */
  now?: Date;
  /**
   * The names of the fields to sign, replacing {@linkcode DEFAULT_SIGNED_HEADERS} (and the
   * List-* rule). Each is signed for every instance present; From is always included, and
   * From, To, Subject and Date are over-signed when listed.
   */
  headers?: string[];
  /**
   * Header/body canonicalization (RFC 6376 §3.4).
   * @default {"relaxed/relaxed"}
   */
  canonicalization?: `${Canonicalization}/${Canonicalization}`;
  /**
   * Add l= with the canonical body length (RFC 6376 §3.4.5). Discouraged (§8.2).
   * @default {false}
   */
  bodyLength?: boolean;
}

/** The longest line we emit, without its CRLF (RFC 5322 §2.1.1: "SHOULD be no more than 78"). */
const MAX_LINE = 78;

/**
 * The h= names for a message: each signed name once per instance present, in order of first
 * appearance, then once more for over-signed names (which also covers absent ones).
 */
export function signedHeaderNames(
  headers: readonly HeaderField[],
  names?: readonly string[],
): string[] {
  const wanted = names ? new Set([...names.map((n) => n.toLowerCase()), "from"]) : undefined;
  const take = (key: string) =>
    wanted ? wanted.has(key) : DEFAULT_SIGNED_HEADERS.includes(key) || key.startsWith("list-");
  const counts = new Map<string, number>();
  for (const f of headers) {
    if (f.key !== "" && take(f.key)) counts.set(f.key, (counts.get(f.key) ?? 0) + 1);
  }
  for (const n of OVERSIGNED_HEADERS) if (take(n) && !counts.has(n)) counts.set(n, 0);
  const out: string[] = [];
  for (const [name, count] of counts) {
    const extra = OVERSIGNED_HEADERS.includes(name) ? 1 : 0;
    for (let i = 0; i < count + extra; i++) out.push(name);
  }
  return out;
}

/**
 * Signs header data (RFC 6376 §3.7) with one key: RSASSA-PKCS1-v1_5 over SHA-256 (§3.3.2), or
 * Ed25519 over the SHA-256 hash of the data (RFC 8463 §3: "signs the hash with the PureEdDSA
 * variant Ed25519").
 *
 * @param data The header hash input as Latin-1 text.
 * @param key The key.
 * @returns The signature in base64 (the b= value, unfolded).
 */
export async function signHeaderData(data: string, key: DkimSigningKey): Promise<string> {
  const bytes = latin1Bytes(data) as Uint8Array<ArrayBuffer>;
  const algo = key.privateKey.algorithm;
  if (key.algorithm === "rsa-sha256") {
    const rsa = algo as RsaHashedKeyAlgorithm;
    if (rsa.name !== "RSASSA-PKCS1-v1_5" || (rsa.hash as Algorithm).name !== "SHA-256") {
      throw new TypeError(`Key "${key.selector}" is not an RSASSA-PKCS1-v1_5 SHA-256 key`);
    }
    // RFC 8301 §3.2: "Signers MUST use RSA keys of at least 1024 bits for all keys."
    if (rsa.modulusLength < 1024) {
      throw new RangeError(`Key "${key.selector}" is too small: ${rsa.modulusLength} bits`);
    }
    const sig = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key.privateKey, bytes);
    return toBase64(new Uint8Array(sig));
  }
  if (algo.name !== "Ed25519") throw new TypeError(`Key "${key.selector}" is not an Ed25519 key`);
  const digest = await sha256(bytes) as Uint8Array<ArrayBuffer>;
  return toBase64(new Uint8Array(await crypto.subtle.sign("Ed25519", key.privateKey, digest)));
}

/**
 * Lays out a DKIM-Signature field up to and including "b=", folded at 78 characters, with b= on
 * a line of its own (so that its value can be folded without moving other tags).
 */
function layoutField(tags: string[], names: string[], bh: string): string {
  const lines: string[] = [];
  let line = "DKIM-Signature:";
  const put = (text: string, glue: string) => {
    if (line.length + glue.length + text.length <= MAX_LINE) line += glue + text;
    else {
      lines.push(line);
      line = " " + text;
    }
  };
  for (const t of tags) put(`${t};`, " ");
  // h= may fold around its colons (RFC 6376 §3.5: hdr-name *( [FWS] ":" [FWS] hdr-name )).
  names.forEach((n, i) => {
    const text = `${i === 0 ? "h=" : ""}${n}${i === names.length - 1 ? ";" : ":"}`;
    put(text, i === 0 ? " " : "");
  });
  put(`bh=${bh};`, " ");
  lines.push(line, " b=");
  return lines.join("\r\n");
}

/** Folds a b= value after the " b=" that ends `field`. */
function appendFoldedB(field: string, b: string): string {
  let out = field + b.slice(0, MAX_LINE - 3);
  for (let i = MAX_LINE - 3; i < b.length; i += MAX_LINE - 1) {
    out += "\r\n " + b.slice(i, i + MAX_LINE - 1);
  }
  return out + "\r\n";
}

/**
 * Signs a message with each key.
 *
 * @example
 * ```ts
 * import { generateKeys, signMessage } from "./mod.ts";
 * const { ed25519 } = await generateKeys();
 * const key = { selector: "ed2026a", ...ed25519 };
 * const msg = new TextEncoder().encode("From: a@example.com\r\nSubject: hi\r\n\r\nHello\r\n");
 * const fields = await signMessage(msg, [key], { domain: "example.com" });
 * const signed = new Uint8Array([...new TextEncoder().encode(fields), ...msg]);
 * ```
 *
 * @param message The message, header and body, with CRLF line endings, as it will be sent.
 * @param keys The keys; one signature each, in this order.
 * @param opts The signing domain and options.
 * @returns The DKIM-Signature field(s), each ending in CRLF, to put before the message's first
 * line; "" when `keys` is empty.
 * @throws {TypeError} When the message has no From field (RFC 6376 §5.4: "The From header field
 * MUST be signed"), the domain or a selector is malformed, or a key is not of its algorithm.
 */
export async function signMessage(
  message: Uint8Array,
  keys: readonly DkimSigningKey[],
  opts: SignOptions,
): Promise<string> {
  if (keys.length === 0) return "";
  const domain = asciiDomain(opts.domain);
  if (domain === null) throw new TypeError(`Bad signing domain: "${opts.domain}"`);
  const { headers, body } = splitMessage(message);
  if (!headers.some((f) => f.key === "from")) {
    throw new TypeError("The message has no From field, which DKIM must sign (RFC 6376 §5.4)");
  }
  const c = opts.canonicalization ?? "relaxed/relaxed";
  const [ch, cb] = c.split("/") as [Canonicalization, Canonicalization];
  const names = signedHeaderNames(headers, opts.headers);
  const canonicalBody = canonicalizeBody(body, cb);
  const bh = toBase64(await sha256(canonicalBody));
  const t = Math.floor((opts.now ?? new Date()).getTime() / 1000);

  let out = "";
  for (const key of keys) {
    const selector = asciiDomain(key.selector);
    if (selector === null) throw new TypeError(`Bad selector: "${key.selector}"`);
    // Tag order follows RFC 6376 §3.5's list; b= comes last so it can be folded freely.
    const tags = [`v=1`, `a=${key.algorithm}`, `c=${c}`, `d=${domain}`, `s=${selector}`, `t=${t}`];
    if (opts.bodyLength) tags.push(`l=${canonicalBody.length}`);
    const field = layoutField(tags, names, bh);
    const data = headerHashInput(selectHeaders(headers, names), field, ch);
    out += appendFoldedB(field, await signHeaderData(data, key));
  }
  return out;
}
