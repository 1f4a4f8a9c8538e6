/**
 * TLS material: the configured certificate and key files, or a self-signed certificate
 * generated into `<data_dir>/tls/` on first start so that STARTTLS works out of the box.
 * Peers on the Internet accept self-signed certificates for opportunistic STARTTLS (RFC 3207);
 * mail clients need a real certificate, which is what `tls.cert_file`/`tls.key_file` are for.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";
import tls from "node:tls";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { syncDir, writeDurably } from "../fs/durable.ts";

/** PEM certificate chain and private key. */
export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  /** Where they came from, for the log. */
  source: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n` +
    `-----END ${label}-----\n`;
}

/** Generate a self-signed ECDSA P-256 certificate for `hostname`, valid for ten years. */
export async function generateSelfSigned(hostname: string): Promise<TlsMaterial> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const now = new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: crypto.getRandomValues(new Uint8Array(8)).reduce(
      (s, b) => s + b.toString(16).padStart(2, "0"),
      "01",
    ),
    name: `CN=${hostname}`,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + 10 * 365 * 86400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: hostname }]),
      new x509.BasicConstraintsExtension(false),
    ],
  });
  const keyDer = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: cert.toString("pem") + "\n", keyPem: pem("PRIVATE KEY", keyDer), source: "" };
}

/**
 * Load the configured certificate, or the generated one (creating it when missing).
 * @returns the material and whether it was generated just now.
 */
export async function loadTlsMaterial(
  config: Config,
): Promise<{ material: TlsMaterial; generated: boolean }> {
  if (config.tls.certFile && config.tls.keyFile) {
    return {
      material: {
        certPem: await Deno.readTextFile(config.tls.certFile),
        keyPem: await Deno.readTextFile(config.tls.keyFile),
        source: config.tls.certFile,
      },
      generated: false,
    };
  }
  const dir = join(config.dataDir, "tls");
  const certPath = join(dir, "selfsigned-cert.pem");
  const keyPath = join(dir, "selfsigned-key.pem");
  try {
    return {
      material: {
        certPem: await Deno.readTextFile(certPath),
        keyPem: await Deno.readTextFile(keyPath),
        source: certPath,
      },
      generated: false,
    };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const m = await generateSelfSigned(config.hostname);
  await writeDurably(keyPath, m.keyPem, 0o600);
  await writeDurably(certPath, m.certPem, 0o644);
  await syncDir(dir);
  return { material: { ...m, source: certPath }, generated: true };
}

/**
 * Build a node:tls context from PEM material.
 * @throws when the PEM is invalid or the key is not the certificate's (a pair caught between
 *   two writes of a renewal).
 */
export function secureContext(m: TlsMaterial): tls.SecureContext {
  if (!new X509Certificate(m.certPem).checkPrivateKey(createPrivateKey(m.keyPem))) {
    throw new Error(`${m.source || "certificate"}: the private key does not match the certificate`);
  }
  return tls.createSecureContext({ cert: m.certPem, key: m.keyPem, minVersion: "TLSv1.2" });
}
