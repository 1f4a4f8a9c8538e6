/**
 * DKIM signing keys: generation, the public key records to publish, and their storage.
 *
 * Keys live in `<dataDir>/dkim/<domain>/<selector>.<rsa|ed25519>.key`, one PKCS#8 PEM file per
 * key (mode 0600, directories 0700), preceded by a few lines of explanatory text that PEM
 * readers skip (RFC 7468 §5.2: "Data before the encapsulation boundaries are permitted"):
 *
 * ```
 * DKIM selector: rsa2026a
 * Domain: example.com
 * Created: 2026-03-01T12:00:00.000Z
 * -----BEGIN PRIVATE KEY-----
 * ...
 * ```
 *
 * The first use for a domain creates an RSA-2048 key (RFC 8301 §3.2: "Signers SHOULD use RSA
 * keys of at least 2048 bits") and an Ed25519 key (RFC 8463), selectors `rsa<year>a` and
 * `ed<year>a`. Rotation adds a selector ({@linkcode keygenSelector}, {@linkcode rotateDomainKeys});
 * old keys stay on disk, so their records can stay published until mail signed with them has
 * been delivered. The newest key of each algorithm signs ({@linkcode activeSigningKeys}).
 *
 * Files are written durably and never overwritten: a temporary file in the same directory is
 * written and fsynced, then linked to its final name (which fails if that name exists, so two
 * processes creating the same selector cannot silently replace each other's key; where hard
 * links are not supported, a rename after an existence check) and removed, and the directory
 * is fsynced.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { join } from "node:path";
import { ED25519_PKCS8_PREFIX, pkcs1PrivateToPkcs8 } from "./_der.ts";
import { asciiDomain, fromBase64, toBase64 } from "./_util.ts";
import { concat } from "../util/bytes.ts";
import { mkdirDurable, syncDir, writeAll } from "../fs/durable.ts";

/** A DKIM signing algorithm we sign with (RFC 6376 §3.3.2, RFC 8463 §3). */
export type DkimAlgorithm = "rsa-sha256" | "ed25519-sha256";

/** A private key to sign with, and the record that publishes its public half. */
export interface DkimSigningKey {
  /** The selector (s=): the key record is at `<selector>._domainkey.<domain>`. */
  selector: string;
  algorithm: DkimAlgorithm;
  /** RSASSA-PKCS1-v1_5 with SHA-256, or Ed25519; usable for "sign". */
  privateKey: CryptoKey;
  /** The TXT record to publish, e.g. "v=DKIM1; k=rsa; p=MIIBIjAN...". */
  dnsRecord: string;
}

/** A key stored for a domain. */
export interface DkimDomainKey extends DkimSigningKey {
  /** When the key was created (from the file's "Created:" line, else its mtime). */
  created: Date;
  /** The key file. */
  path: string;
}

/** A freshly generated key pair. */
export interface GeneratedKey {
  algorithm: DkimAlgorithm;
  /** Extractable, so that it can be stored. */
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The private key as PKCS#8 DER. */
  pkcs8: Uint8Array;
  /** The public key record (RFC 6376 §3.6.1). */
  dnsRecord: string;
}

const FILE_SUFFIX: Record<DkimAlgorithm, string> = {
  "rsa-sha256": "rsa",
  "ed25519-sha256": "ed25519",
};
const KEY_FILE_REGEXP = /^(.+)\.(rsa|ed25519)\.key$/;
const SELECTOR_REGEXP = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;
const RSA_BITS = 2048;
/** RFC 8301 §3.2: "Signers MUST use RSA keys of at least 1024 bits for all keys." */
const MIN_RSA_BITS = 1024;

function webCryptoAlgorithm(a: DkimAlgorithm): RsaHashedImportParams | Algorithm {
  return a === "rsa-sha256" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : { name: "Ed25519" };
}

/**
 * The key record for a private key (RFC 6376 §3.6.1). RSA: p= is the SubjectPublicKeyInfo in
 * base64. Ed25519: p= is the raw 32-byte public key (RFC 8463 §4.2: "the base64 encoding of the
 * public key"), not DER.
 */
function keyRecord(pkcs8: Uint8Array, algorithm: DkimAlgorithm): string {
  const priv = createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
  const pub = createPublicKey(priv);
  const spki = new Uint8Array(pub.export({ format: "der", type: "spki" }));
  if (algorithm === "rsa-sha256") {
    if (pub.asymmetricKeyType !== "rsa") throw new TypeError("Not an RSA key");
    const bits = pub.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw new RangeError(`RSA key too small for DKIM (RFC 8301 §3.2): ${bits} bits`);
    }
    return `v=DKIM1; k=rsa; p=${toBase64(spki)}`;
  }
  if (pub.asymmetricKeyType !== "ed25519") throw new TypeError("Not an Ed25519 key");
  return `v=DKIM1; k=ed25519; p=${toBase64(spki.subarray(spki.length - 32))}`;
}

/**
 * Generates one key pair.
 *
 * @param algorithm RSA (2048 bits, e=65537) or Ed25519.
 * @returns The pair, its PKCS#8 form and its key record.
 */
export async function generateKey(algorithm: DkimAlgorithm): Promise<GeneratedKey> {
  const params = algorithm === "rsa-sha256"
    ? {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: RSA_BITS,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    }
    : { name: "Ed25519" };
  const pair = await crypto.subtle.generateKey(params, true, ["sign", "verify"]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  return {
    algorithm,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    pkcs8,
    dnsRecord: keyRecord(pkcs8, algorithm),
  };
}

/**
 * Generates an RSA-2048 and an Ed25519 key pair.
 *
 * @example
 * ```ts
 * import { generateKeys } from "./keys.ts";
 * const { rsa, ed25519 } = await generateKeys();
 * console.log(rsa.dnsRecord.startsWith("v=DKIM1; k=rsa; p="), ed25519.dnsRecord.length);
 * ```
 */
export async function generateKeys(): Promise<{ rsa: GeneratedKey; ed25519: GeneratedKey }> {
  const [rsa, ed25519] = await Promise.all([
    generateKey("rsa-sha256"),
    generateKey("ed25519-sha256"),
  ]);
  return { rsa, ed25519 };
}

/** Options for {@linkcode importSigningKey}. */
export interface ImportSigningKeyOptions {
  selector: string;
  algorithm: DkimAlgorithm;
}

/**
 * Makes a signing key from a private key given as PEM ("PRIVATE KEY" PKCS#8, or "RSA PRIVATE
 * KEY" PKCS#1), as PKCS#8 DER, or, for Ed25519, as the 32-byte seed (raw or base64, the form
 * RFC 8463 §A and dkimpy use).
 *
 * @param privateKey The key.
 * @param opts Its selector and algorithm.
 * @returns The key with its record.
 * @throws {TypeError} When the key cannot be read or is not of `opts.algorithm`.
 */
export async function importSigningKey(
  privateKey: string | Uint8Array,
  opts: ImportSigningKeyOptions,
): Promise<DkimSigningKey> {
  const pkcs8 = toPkcs8(privateKey, opts.algorithm);
  let key: CryptoKey;
  let dnsRecord: string;
  try {
    dnsRecord = keyRecord(pkcs8, opts.algorithm);
    key = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8 as Uint8Array<ArrayBuffer>,
      webCryptoAlgorithm(opts.algorithm),
      false,
      ["sign"],
    );
  } catch (e) {
    if (e instanceof RangeError) throw e;
    throw new TypeError(`Cannot use the private key as ${opts.algorithm}: ${e}`, { cause: e });
  }
  return { selector: opts.selector, algorithm: opts.algorithm, privateKey: key, dnsRecord };
}

function toPkcs8(input: string | Uint8Array, algorithm: DkimAlgorithm): Uint8Array {
  if (typeof input === "string") {
    const pem = /-----BEGIN ((?:RSA )?PRIVATE KEY)-----([\s\S]*?)-----END \1-----/.exec(input);
    if (pem) {
      const der = fromBase64(pem[2]!);
      if (!der) throw new TypeError("Bad base64 in the PEM private key");
      return pem[1] === "RSA PRIVATE KEY" ? pkcs1PrivateToPkcs8(der) : der;
    }
    const raw = fromBase64(input);
    if (!raw) throw new TypeError("The private key is neither PEM nor base64");
    input = raw;
  }
  if (algorithm === "ed25519-sha256" && input.length === 32) {
    return concat([ED25519_PKCS8_PREFIX, input]);
  }
  return input;
}

/** PEM text of a PKCS#8 key (RFC 7468 §10), with explanatory lines before it. */
function toPem(pkcs8: Uint8Array, preamble: string[]): string {
  const b64 = toBase64(pkcs8).match(/.{1,64}/g)!.join("\n");
  return `${preamble.join("\n")}\n-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

/** The directory of a domain's keys; the domain is checked so it cannot escape `dataDir`. */
function domainDir(dataDir: string, domain: string): string {
  const ascii = asciiDomain(domain);
  if (ascii === null || ascii.includes("_")) {
    throw new TypeError(`Not a domain name: "${domain}"`);
  }
  return join(dataDir, "dkim", ascii);
}

/**
 * Writes `path` durably and only if it does not exist: temporary file, fsync, link to the final
 * name (atomic, fails with AlreadyExists), unlink the temporary name, fsync the directory.
 */
async function writeNewFileDurable(path: string, text: string, dir: string): Promise<void> {
  const tmp = join(dir, `.tmp-${crypto.randomUUID()}`);
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    const data = new TextEncoder().encode(text);
    await writeAll(file, data);
    await file.sync();
  } finally {
    file.close();
  }
  try {
    await Deno.chmod(tmp, 0o600); // whatever the umask did
    try {
      await Deno.link(tmp, path);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) throw e;
      // A file system without hard links: check, then rename (racy only across processes).
      if (await Deno.lstat(path).then(() => true, () => false)) {
        throw new Deno.errors.AlreadyExists(`"${path}" exists`);
      }
      await Deno.rename(tmp, path);
    }
  } finally {
    await Deno.remove(tmp).catch(() => {});
    await syncDir(dir);
  }
}

/**
 * Creates keys for a new selector of `domain`: `<selector>.rsa.key` and/or
 * `<selector>.ed25519.key`. With `algorithm`, one key with exactly that selector. Without it,
 * both keys, with selectors `rsa<selector>` and `ed<selector>`: one selector names one key
 * record, since a verifier that finds two records at a name may use either (RFC 6376
 * §6.1.2), so the two algorithms must not share a selector.
 *
 * @param dataDir The server's data directory.
 * @param domain The signing domain (d=).
 * @param selector The selector, or with no `algorithm` the suffix after "rsa"/"ed" ("2027a").
 * @param algorithm The one algorithm to create a key for.
 * @param now The creation time to record; default now.
 * @returns The keys created.
 * @throws {Deno.errors.AlreadyExists} When a key file of that selector exists.
 * @throws {TypeError} When the domain or selector is malformed.
 */
export async function keygenSelector(
  dataDir: string,
  domain: string,
  selector: string,
  algorithm?: DkimAlgorithm,
  now: Date = new Date(),
): Promise<DkimDomainKey[]> {
  const dir = domainDir(dataDir, domain);
  const wanted: [string, DkimAlgorithm][] = algorithm
    ? [[selector, algorithm]]
    : [[`rsa${selector}`, "rsa-sha256"], [`ed${selector}`, "ed25519-sha256"]];
  for (const [sel] of wanted) {
    if (!SELECTOR_REGEXP.test(sel)) throw new TypeError(`Bad selector: "${sel}"`);
  }
  await mkdirDurable(dir);
  const created: DkimDomainKey[] = [];
  for (const [sel, alg] of wanted) {
    const path = join(dir, `${sel}.${FILE_SUFFIX[alg]}.key`);
    const gen = await generateKey(alg);
    const preamble = [
      `DKIM selector: ${sel}`,
      `Domain: ${domain}`,
      `Created: ${now.toISOString()}`,
    ];
    await writeNewFileDurable(path, toPem(gen.pkcs8, preamble), dir);
    created.push(await readKeyFile(path, sel, alg));
  }
  return created;
}

/** Reads one key file. */
async function readKeyFile(
  path: string,
  selector: string,
  algorithm: DkimAlgorithm,
): Promise<DkimDomainKey> {
  const text = await Deno.readTextFile(path);
  const key = await importSigningKey(text, { selector, algorithm }).catch((e) => {
    throw new TypeError(`DKIM key file "${path}": ${e instanceof Error ? e.message : e}`, {
      cause: e,
    });
  });
  const stamp = /^Created:\s*(\S+)\s*$/m.exec(text.slice(0, text.indexOf("-----BEGIN")));
  let created = stamp ? new Date(stamp[1]!) : new Date(NaN);
  if (Number.isNaN(created.getTime())) created = (await Deno.stat(path)).mtime ?? new Date(0);
  return { ...key, created, path };
}

/**
 * Loads every key of `domain`, oldest first (ties by selector, then algorithm). A domain with
 * no directory has no keys.
 *
 * @param dataDir The server's data directory.
 * @param domain The signing domain.
 * @returns The keys.
 * @throws {TypeError} When a key file cannot be read as a key of its algorithm.
 */
export async function loadDomainKeys(dataDir: string, domain: string): Promise<DkimDomainKey[]> {
  const dir = domainDir(dataDir, domain);
  const keys: DkimDomainKey[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const m = KEY_FILE_REGEXP.exec(entry.name);
      if (!m || !entry.isFile || entry.name.startsWith(".")) continue;
      const algorithm: DkimAlgorithm = m[2] === "rsa" ? "rsa-sha256" : "ed25519-sha256";
      keys.push(await readKeyFile(join(dir, entry.name), m[1]!, algorithm));
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return keys.sort((a, b) =>
    a.created.getTime() - b.created.getTime() || compare(a.selector, b.selector) ||
    compare(a.algorithm, b.algorithm)
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Creations in progress in this process, so that concurrent first uses create one set. */
const creating = new Map<string, Promise<DkimDomainKey[]>>();

/**
 * Loads the keys of `domain`, creating an RSA and an Ed25519 key (selectors `rsa<year>a`,
 * `ed<year>a`) when it has none.
 *
 * @param dataDir The server's data directory.
 * @param domain The signing domain.
 * @param now The time of creation, for the selector's year; default now.
 * @returns Every key of the domain, oldest first; see {@linkcode activeSigningKeys}.
 */
export async function loadOrCreateDomainKeys(
  dataDir: string,
  domain: string,
  now: Date = new Date(),
): Promise<DkimDomainKey[]> {
  const keys = await loadDomainKeys(dataDir, domain);
  if (keys.length > 0) return keys;
  const id = domainDir(dataDir, domain);
  let pending = creating.get(id);
  if (!pending) {
    pending = (async () => {
      try {
        await keygenSelector(dataDir, domain, `${now.getUTCFullYear()}a`, undefined, now);
      } catch (e) {
        // Another process won the race; its keys are on disk.
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      return await loadDomainKeys(dataDir, domain);
    })().finally(() => creating.delete(id));
    creating.set(id, pending);
  }
  return await pending;
}

/**
 * Adds the next pair of selectors for `domain` (`rsa<year><letter>`, `ed<year><letter>`, the
 * first letter that neither algorithm uses yet), which then become the active keys.
 *
 * @param dataDir The server's data directory.
 * @param domain The signing domain.
 * @param now The time of creation; default now.
 * @returns Every key of the domain, oldest first.
 */
export async function rotateDomainKeys(
  dataDir: string,
  domain: string,
  now: Date = new Date(),
): Promise<DkimDomainKey[]> {
  const taken = new Set((await loadDomainKeys(dataDir, domain)).map((k) => k.selector));
  const year = now.getUTCFullYear();
  for (let i = 0; i < 26; i++) {
    const suffix = `${year}${String.fromCharCode(0x61 + i)}`;
    if (taken.has(`rsa${suffix}`) || taken.has(`ed${suffix}`)) continue;
    await keygenSelector(dataDir, domain, suffix, undefined, now);
    return await loadDomainKeys(dataDir, domain);
  }
  throw new RangeError(`No free selector left for ${year}: rsa${year}a to rsa${year}z are used`);
}

/**
 * The keys to sign with: the newest RSA key and the newest Ed25519 key, RSA first (so that a
 * verifier that only checks the top signature sees the algorithm everyone supports).
 *
 * @param keys Keys as returned by {@linkcode loadDomainKeys}, in any order.
 * @returns At most one key per algorithm.
 */
export function activeSigningKeys(keys: readonly DkimDomainKey[]): DkimDomainKey[] {
  const newest = (alg: DkimAlgorithm) =>
    keys.filter((k) => k.algorithm === alg).reduce<DkimDomainKey | undefined>(
      (best, k) =>
        !best || k.created.getTime() > best.created.getTime() ||
          (k.created.getTime() === best.created.getTime() && k.selector > best.selector)
          ? k
          : best,
      undefined,
    );
  return [newest("rsa-sha256"), newest("ed25519-sha256")].filter((k): k is DkimDomainKey =>
    k !== undefined
  );
}
