/**
 * Certificates for tests: a leaf for chosen names and validity, signed by a throwaway CA (or
 * self-signed), with its PKCS#8 PEM key; a temporary data directory and a config using it.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";
import { Buffer } from "node:buffer";
import { createPrivateKey } from "node:crypto";
import { type Config, validateConfig } from "../../src/config/config.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY_MS = 86400_000;

/** Options of {@linkcode makeCertificate}. */
export interface TestCertificateOptions {
  /** subjectAltName DNS names; the first is also the CN. */
  names: string[];
  /** Days from now (negative: in the past). @default -1 */
  notBeforeDays?: number;
  /** @default 90 */
  notAfterDays?: number;
  /** The issuer's CN; without it the certificate is self-signed. */
  issuerCn?: string;
  /** The leaf's key pair (e.g. one stored as cert-key.pem); default a new P-256 pair. */
  keyPem?: string;
}

/** A certificate (PEM) and its key (PKCS#8 PEM). */
export interface TestCertificate {
  certPem: string;
  keyPem: string;
}

async function importPair(keyPem: string): Promise<CryptoKeyPair> {
  const priv = createPrivateKey(keyPem);
  const jwk = priv.export({ format: "jwk" });
  const privateKey = await crypto.subtle.importKey("jwk", jwk, ALG, true, ["sign"]);
  const { d: _d, ...pub } = jwk;
  const publicKey = await crypto.subtle.importKey("jwk", pub, ALG, true, ["verify"]);
  return { privateKey, publicKey };
}

function pkcs8Pem(der: ArrayBuffer): string {
  return createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" })
    .export({ type: "pkcs8", format: "pem" }) as string;
}

/** Make a certificate for `names`, valid from/to the given days around now. */
export async function makeCertificate(opts: TestCertificateOptions): Promise<TestCertificate> {
  const now = Date.now();
  const keys = opts.keyPem
    ? await importPair(opts.keyPem)
    : await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const common = {
    serialNumber: "01" + crypto.getRandomValues(new Uint8Array(8)).reduce(
      (s, b) => s + b.toString(16).padStart(2, "0"),
      "",
    ),
    notBefore: new Date(now + (opts.notBeforeDays ?? -1) * DAY_MS),
    notAfter: new Date(now + (opts.notAfterDays ?? 90) * DAY_MS),
    signingAlgorithm: ALG,
    extensions: [
      new x509.SubjectAlternativeNameExtension(
        opts.names.map((value) => ({ type: "dns" as const, value })),
      ),
      new x509.BasicConstraintsExtension(false),
    ],
  };
  const subject = `CN=${opts.names[0]}`;
  let cert: x509.X509Certificate;
  if (opts.issuerCn) {
    const ca = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
    cert = await x509.X509CertificateGenerator.create({
      ...common,
      subject,
      issuer: `CN=${opts.issuerCn}`,
      publicKey: keys.publicKey,
      signingKey: ca.privateKey,
    });
  } else {
    cert = await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: subject, keys });
  }
  const keyPem = opts.keyPem ?? pkcs8Pem(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem: cert.toString("pem") + "\n", keyPem };
}

/** Run `fn` with a new temporary directory, removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-tls-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A config for host mail.example.test and domain example.test with data in `dataDir`. */
export function certificateTestConfig(
  dataDir: string,
  extra: Record<string, unknown> = {},
): Config {
  return validateConfig(
    { hostname: "mail.example.test", domains: ["example.test"], data_dir: dataDir, ...extra },
    "(test)",
    dataDir,
  );
}
