/**
 * Debian's pebble (the ACME test CA of Let's Encrypt, RFC 8555) for tests: on loopback ports,
 * with its own HTTPS certificate made here (a small CA and a leaf for 127.0.0.1 and localhost),
 * challenge validation against `httpPort`/`tlsPort` on whatever the test DNS server answers,
 * no validation sleeps, authorization reuse off (every order is validated), and a chosen share
 * of nonces refused with badNonce.
 *
 * pebble 2.4.0 has no ACME Renewal Information (RFC 9773): its directory has no `renewalInfo`.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";
import { join } from "node:path";
import { freePort } from "./wait.ts";

/** What {@link startPebble} needs. */
export interface PebbleOptions {
  /** The port pebble's VA connects to for http-01. */
  httpPort: number;
  /** The port pebble's VA connects to for tls-alpn-01. */
  tlsPort: number;
  /** The DNS server pebble resolves names with, "127.0.0.1:PORT". */
  dnsServer: string;
  /** The percentage of good nonces refused as badNonce (PEBBLE_WFE_NONCEREJECT); default 0. */
  nonceRejectPercent?: number;
  /** When given, External Account Binding is required, with these key ids and base64url keys. */
  eab?: Record<string, string>;
  /** Treat every challenge as valid without validating (PEBBLE_VA_ALWAYS_VALID). */
  alwaysValid?: boolean;
}

/** A running pebble. */
export interface Pebble {
  /** The ACME directory URL (HTTPS). */
  directoryUrl: string;
  /** The CA of pebble's own HTTPS (for `caCerts` / a ca_file). */
  caPem: string;
  /** The root that issues the certificates, from the management interface (`/roots/0`). */
  rootPem(): Promise<string>;
  /** What pebble printed so far (for a failing test's message). */
  output(): string;
  /** Stop pebble and remove its files. */
  stop(): Promise<void>;
}

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const b64 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key)).toBase64();
  const lines = b64.replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN PRIVATE KEY-----\n${lines}\n-----END PRIVATE KEY-----\n`;
}

/** A CA and a server certificate for 127.0.0.1 and localhost signed by it. */
async function httpsMaterial(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const now = Date.now();
  const caKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=postie test pebble HTTPS CA",
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 86400_000),
    signingAlgorithm: ALG,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=localhost",
    issuer: ca.subject,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 86400_000),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
      ]),
      new x509.BasicConstraintsExtension(false),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  return {
    caPem: ca.toString("pem") + "\n",
    certPem: leaf.toString("pem") + "\n",
    keyPem: await pkcs8Pem(keys.privateKey),
  };
}

/** Start pebble and wait until its directory answers. */
export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const dir = await Deno.makeTempDir({ prefix: "postie-pebble-" });
  const tls = await httpsMaterial();
  await Deno.writeTextFile(join(dir, "cert.pem"), tls.certPem);
  await Deno.writeTextFile(join(dir, "key.pem"), tls.keyPem);
  const acmePort = await freePort();
  const managementPort = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: join(dir, "cert.pem"),
      privateKey: join(dir, "key.pem"),
      httpPort: opts.httpPort,
      tlsPort: opts.tlsPort,
      ocspResponderURL: "",
      externalAccountBindingRequired: opts.eab !== undefined,
      ...(opts.eab ? { externalAccountMACKeys: opts.eab } : {}),
    },
  };
  await Deno.writeTextFile(join(dir, "pebble-config.json"), JSON.stringify(config, null, 2));
  const child = new Deno.Command("pebble", {
    args: ["-config", join(dir, "pebble-config.json"), "-dnsserver", opts.dnsServer],
    env: {
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_WFE_NONCEREJECT: String(opts.nonceRejectPercent ?? 0),
      PEBBLE_AUTHZREUSE: "0",
      ...(opts.alwaysValid ? { PEBBLE_VA_ALWAYS_VALID: "1" } : {}),
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const drain = (s: ReadableStream<Uint8Array>) =>
    s.pipeTo(new WritableStream({ write: (c) => void (output += decoder.decode(c)) }));
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const client = Deno.createHttpClient({ caCerts: [tls.caPem] });
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    client.close();
    if (!exited) child.kill("SIGTERM");
    await status;
    await drained;
    await Deno.remove(dir, { recursive: true });
  };
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetch(directoryUrl, { client, signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`pebble did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    directoryUrl,
    caPem: tls.caPem,
    async rootPem() {
      const res = await fetch(`https://127.0.0.1:${managementPort}/roots/0`, { client });
      const text = await res.text();
      if (!res.ok) throw new Error(`pebble /roots/0: ${res.status} ${text}`);
      return text;
    },
    output: () => output,
    stop,
  };
}
