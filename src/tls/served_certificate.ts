/**
 * Which certificate postie serves, decided in one place for the server, `postie check` and
 * `postie dns`. In this order:
 *
 * 1. `tls.cert_file` / `tls.key_file` when configured;
 * 2. `<data_dir>/acme/cert.pem` with `cert-key.pem` when `acme` is enabled and that
 *    certificate exists and has not expired;
 * 3. the self-signed `<data_dir>/tls/selfsigned-cert.pem` (./certificate.ts generates it at
 *    the first start).
 *
 * Also: a description of a certificate (subject, issuer, names, validity, the SHA-256 of its
 * SubjectPublicKeyInfo, which is the `TLSA 3 1 1` association data of RFC 6698 §2.1), and the
 * key a TLSA record should pin.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { pathExists } from "../fs/path_exists.ts";
import { acmePaths } from "../acme/acme_state.ts";

/** Where the served certificate comes from. */
export type CertificateSource = "tls_files" | "acme" | "self_signed";

/** The files of the served certificate. */
export interface ServedCertificateFiles {
  source: CertificateSource;
  /** PEM chain, leaf first. */
  certFile: string;
  /** PEM private key. */
  keyFile: string;
}

/** A parsed certificate (the leaf of a chain). */
export interface CertificateDescription {
  source: CertificateSource;
  certFile: string;
  /** Distinguished names as text, e.g. "CN=mail.example.com". */
  subject: string;
  issuer: string;
  /** The DNS names of subjectAltName (RFC 6125 §6.4.4: the CN only when there are none). */
  names: string[];
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex (TLSA selector 1, type 1). */
  spkiSha256: string;
}

/** The parts of the config that decide. */
export type ServedCertificateConfig = Pick<Config, "dataDir" | "tls" | "acme">;

/** Options of {@linkcode servedCertificateFiles} and {@linkcode describeServedCertificate}. */
export interface ServedCertificateOptions {
  /** The time to judge expiry at. @default new Date() */
  now?: Date;
}

const PEM_CERT_REGEXP = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(der: BufferSource): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", der));
}

/**
 * Parse the first certificate of a PEM chain.
 *
 * @throws {TypeError} when the text holds no parsable certificate.
 */
export async function describeCertificate(
  pem: string,
  where: { source: CertificateSource; certFile: string },
): Promise<CertificateDescription> {
  const block = PEM_CERT_REGEXP.exec(pem)?.[0];
  if (!block) throw new TypeError(`"${where.certFile}" holds no PEM certificate`);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(block);
  } catch (e) {
    throw new TypeError(`"${where.certFile}": bad certificate: ${(e as Error).message}`);
  }
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  let names = san?.names.items.filter((n) => n.type === "dns").map((n) => n.value.toLowerCase()) ??
    [];
  if (names.length === 0) {
    const cn = cert.subjectName.getField("CN")[0];
    if (cn) names = [cn.toLowerCase()];
  }
  return {
    ...where,
    subject: cert.subject,
    issuer: cert.issuer,
    names,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    spkiSha256: await sha256Hex(cert.publicKey.rawData),
  };
}

/** SHA-256 of the SubjectPublicKeyInfo of a PEM private key (PKCS#8, SEC1 or PKCS#1), hex. */
export async function keySpkiSha256(keyPem: string): Promise<string> {
  const spki = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
  return await sha256Hex(new Uint8Array(spki));
}

/** The self-signed certificate's files (./certificate.ts). */
export function selfSignedFiles(dataDir: string): { certFile: string; keyFile: string } {
  const dir = join(dataDir, "tls");
  return { certFile: join(dir, "selfsigned-cert.pem"), keyFile: join(dir, "selfsigned-key.pem") };
}

/** The ACME certificate, when acme is enabled and it exists with its key and has not expired. */
async function usableAcmeCertificate(
  config: ServedCertificateConfig,
  now: Date,
): Promise<CertificateDescription | undefined> {
  if (!config.acme) return undefined;
  const files = acmePaths(config.dataDir);
  let pem: string;
  try {
    pem = await Deno.readTextFile(files.cert);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  if (!(await pathExists(files.certKey))) return undefined;
  // A damaged file is not served; the self-signed one is, and `postie check` says why.
  const d = await describeCertificate(pem, { source: "acme", certFile: files.cert }).catch(
    () => undefined,
  );
  return d && d.notAfter.getTime() > now.getTime() ? d : undefined;
}

/**
 * The files of the certificate to serve now.
 *
 * @example
 * ```ts
 * const { certFile, keyFile, source } = await servedCertificateFiles(config);
 * ```
 */
export async function servedCertificateFiles(
  config: ServedCertificateConfig,
  options: ServedCertificateOptions = {},
): Promise<ServedCertificateFiles> {
  if (config.tls.certFile && config.tls.keyFile) {
    return { source: "tls_files", certFile: config.tls.certFile, keyFile: config.tls.keyFile };
  }
  if (await usableAcmeCertificate(config, options.now ?? new Date())) {
    const files = acmePaths(config.dataDir);
    return { source: "acme", certFile: files.cert, keyFile: files.certKey };
  }
  return { source: "self_signed", ...selfSignedFiles(config.dataDir) };
}

/**
 * The served certificate, parsed.
 *
 * @returns undefined when it is the self-signed one and has not been generated yet (postie
 * generates it at the first start).
 * @throws when a configured file cannot be read or parsed.
 */
export async function describeServedCertificate(
  config: ServedCertificateConfig,
  options: ServedCertificateOptions = {},
): Promise<CertificateDescription | undefined> {
  const files = await servedCertificateFiles(config, options);
  let pem: string;
  try {
    pem = await Deno.readTextFile(files.certFile);
  } catch (e) {
    if (files.source === "self_signed" && e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  return await describeCertificate(pem, files);
}

/** The key a `TLSA 3 1 1` record pins, and where it comes from. */
export interface PinnedKey {
  spkiSha256: string;
  /** The file the key was read from. */
  file: string;
  source: CertificateSource;
}

/**
 * The key a TLSA record should name: with acme, `cert-key.pem` (it outlives certificates and
 * is in use from the first ACME certificate on); else the served certificate's key.
 *
 * @returns undefined when that key does not exist yet.
 */
export async function pinnedKey(
  config: ServedCertificateConfig,
  options: ServedCertificateOptions = {},
): Promise<PinnedKey | undefined> {
  if (config.acme && !config.tls.certFile) {
    const file = acmePaths(config.dataDir).certKey;
    try {
      return {
        spkiSha256: await keySpkiSha256(await Deno.readTextFile(file)),
        file,
        source: "acme",
      };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }
  const d = await describeServedCertificate(config, options);
  return d && { spkiSha256: d.spkiSha256, file: d.certFile, source: d.source };
}
