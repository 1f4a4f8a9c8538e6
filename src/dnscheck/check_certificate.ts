/**
 * The certificate section of `postie check`: which certificate postie serves (from
 * ../tls/served_certificate.ts), whether it names the hostname (RFC 6125 §6.4), how long it
 * stays valid (WARN under 14 days, WRONG once expired), and with ACME the certificate
 * manager's last error and next attempt (`<data_dir>/acme/state.json`).
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import { acmePaths, readAcmeState } from "../acme/acme_state.ts";
import {
  type CertificateDescription,
  describeCertificate,
  describeServedCertificate,
} from "../tls/served_certificate.ts";
import type { CheckItem } from "./check.ts";

/** Options for {@linkcode checkCertificate}. */
export interface CertificateCheckOptions {
  /** @default new Date() */
  now?: Date;
}

const DAY_MS = 86400_000;
/** Less validity than this is a warning (ACME renews at a third of the lifetime left). */
export const WARN_DAYS = 14;

const SOURCE_TEXT = {
  tls_files: "tls.cert_file",
  acme: "ACME",
  self_signed: "self-signed",
} as const;

/** Whether `name` matches `pattern`, a DNS name or a left-most wildcard (RFC 6125 §6.4.3). */
export function nameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase(), n = name.toLowerCase();
  if (p === n) return true;
  if (!p.startsWith("*.")) return false;
  const dot = n.indexOf(".");
  return dot > 0 && n.slice(dot + 1) === p.slice(2);
}

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Why the ACME certificate on disk is not the one served (expired, unreadable), if it exists. */
async function acmeNotServed(dataDir: string, now: Date): Promise<string | undefined> {
  const file = acmePaths(dataDir).cert;
  let pem: string;
  try {
    pem = await Deno.readTextFile(file);
  } catch {
    return undefined;
  }
  try {
    const d = await describeCertificate(pem, { source: "acme", certFile: file });
    if (d.notAfter.getTime() <= now.getTime()) return `${file} expired on ${day(d.notAfter)}`;
    return `${acmePaths(dataDir).certKey} is missing`;
  } catch (e) {
    return (e as Error).message;
  }
}

function certificateItem(
  host: string,
  d: CertificateDescription,
  note: string | undefined,
): CheckItem {
  const what = "Certificate";
  const detail = `${SOURCE_TEXT[d.source]} (${d.certFile}), issuer ${d.issuer}, names ` +
    d.names.join(", ") + (note ? `; ${note}` : "");
  if (!d.names.some((n) => nameMatches(n, host))) {
    return { what, status: "WRONG", detail, expected: `a certificate for ${host}` };
  }
  if (d.source === "self_signed") {
    return { what, status: "WARN", detail: `${detail}; mail clients refuse a self-signed one` };
  }
  return { what, status: "OK", detail };
}

function expiryItem(d: CertificateDescription, now: Date): CheckItem {
  const what = "Certificate expiry";
  const left = Math.floor((d.notAfter.getTime() - now.getTime()) / DAY_MS);
  if (d.notBefore.getTime() > now.getTime()) {
    return { what, status: "WRONG", detail: `not valid before ${d.notBefore.toISOString()}` };
  }
  if (d.notAfter.getTime() <= now.getTime()) {
    return {
      what,
      status: "WRONG",
      detail: `expired on ${day(d.notAfter)} (${-left} days ago)`,
    };
  }
  const detail = `valid until ${day(d.notAfter)}, ${left} days left`;
  return { what, status: left < WARN_DAYS ? "WARN" : "OK", detail };
}

async function acmeItem(
  config: Pick<Config, "dataDir">,
  served: CertificateDescription | undefined,
): Promise<CheckItem> {
  const what = "ACME";
  let state;
  try {
    state = await readAcmeState(config.dataDir);
  } catch (e) {
    return { what, status: "ERROR", detail: (e as Error).message };
  }
  const next = state?.nextAttempt ? `; next attempt ${state.nextAttempt}` : "";
  const haveAcme = served?.source === "acme";
  if (!state) {
    return haveAcme
      ? { what, status: "OK", detail: "certificate in place" }
      : { what, status: "WARN", detail: "no attempt yet: postie orders the certificate at start" };
  }
  const e = state.lastError;
  if (e && !(state.lastSuccess && Date.parse(state.lastSuccess) >= Date.parse(e.at))) {
    return {
      what,
      // A failing renewal while a valid certificate is served is not yet a failure.
      status: haveAcme ? "WARN" : "WRONG",
      detail: `last error ${e.at}: ${e.type}${e.status ? ` (HTTP ${e.status})` : ""}: ` +
        `${e.detail}; ${state.failures} failure(s) in a row${next}`,
    };
  }
  const success = state.lastSuccess ? `last success ${state.lastSuccess}` : "no error";
  return { what, status: "OK", detail: success + next };
}

/**
 * Check the certificate postie serves.
 *
 * @example
 * ```ts
 * console.log(formatCheck(await checkCertificate(config)));
 * ```
 */
export async function checkCertificate(
  config: Pick<Config, "hostname" | "dataDir" | "tls" | "acme">,
  options: CertificateCheckOptions = {},
): Promise<CheckItem[]> {
  const now = options.now ?? new Date();
  const items: CheckItem[] = [];
  let served: CertificateDescription | undefined;
  try {
    served = await describeServedCertificate(config, { now });
  } catch (e) {
    items.push({ what: "Certificate", status: "ERROR", detail: (e as Error).message });
  }
  const note = config.acme && served?.source !== "acme"
    ? await acmeNotServed(config.dataDir, now)
    : undefined;
  if (served) {
    items.push(certificateItem(config.hostname, served, note));
    items.push(expiryItem(served, now));
  } else if (items.length === 0) {
    items.push({
      what: "Certificate",
      status: "WARN",
      detail: "self-signed, generated at the first start of postie" +
        (config.acme
          ? "; the ACME certificate replaces it once issued"
          : "; mail clients refuse it: enable acme or set tls.cert_file") +
        (note ? `; ${note}` : ""),
    });
  }
  if (config.acme) items.push(await acmeItem(config, served));
  return items;
}
