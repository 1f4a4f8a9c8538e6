/**
 * The certificate manager's {@link Issuer} made of the ACME client: per attempt it loads the
 * account key (made once), registers or finds the account (with External Account Binding when
 * configured, RFC 8555 §7.3.4), remembers the account URL (for CAA `accounturi`, RFC 8657 §3),
 * and orders the certificate with the configured challenge. A CA problem (RFC 8555 §6.7)
 * becomes an {@link IssueFailure} with the CA's words; anything else (the CA unreachable, a
 * bad CA file) becomes one too, so every failure is reported the same way.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import { log as makeLog } from "../log/logger.ts";
import type { IssueFailure, Issuer } from "../tls/cert_manager.ts";
import { AcmeClient } from "./client.ts";
import { AcmeProblem, isRateLimited } from "./acme_problem.ts";
import { loadOrCreateAccountKey } from "./account_key.ts";
import { acmePaths, readAcmeAccount, writeAccountRecord } from "./acme_state.ts";
import type { ChallengeStore } from "./challenges.ts";

/** Options of {@link acmeIssuer} beyond the config. */
export interface AcmeIssuerOptions {
  challenges: ChallengeStore;
  /** Poll deadline per authorization and order (tests shorten it). */
  pollTimeoutMs?: number;
}

async function client(config: Config, o: AcmeIssuerOptions): Promise<AcmeClient> {
  const acme = config.acme!;
  const accountKey = await loadOrCreateAccountKey(acmePaths(config.dataDir).accountKey);
  return new AcmeClient({
    directoryUrl: acme.directory,
    accountKey,
    ...(acme.caFile ? { caCerts: [await Deno.readTextFile(acme.caFile)] } : {}),
    log: makeLog("acme"),
    ...(o.pollTimeoutMs ? { pollTimeoutMs: o.pollTimeoutMs } : {}),
  });
}

/** Describe any failure of an order. */
export function describeFailure(e: unknown): IssueFailure {
  if (e instanceof AcmeProblem) {
    return {
      type: e.type,
      detail: e.message,
      ...(e.status ? { status: e.status } : {}),
      rateLimited: isRateLimited(e),
      ...(e.retryAfter ? { retryAfter: e.retryAfter } : {}),
    };
  }
  const err = e as Error;
  const inner = err?.cause instanceof Error ? err.cause.message : "";
  const cause = inner && !err.message.includes(inner) ? `: ${inner}` : "";
  return {
    type: err?.name ?? "Error",
    detail: `${err?.message ?? String(e)}${cause}`,
    rateLimited: false,
  };
}

/** The ACME issuer for `config` (which has `acme`). */
export function acmeIssuer(config: Config, o: AcmeIssuerOptions): Issuer {
  const acme = config.acme;
  if (!acme) throw new Error("acme is not enabled");
  return {
    async issue(names, key, signal) {
      const c = await client(config, o);
      const onAbort = () => c.close();
      signal.addEventListener("abort", onAbort);
      try {
        const eab = acme.eab
          ? { kid: acme.eab.kid, hmacKey: (await Deno.readTextFile(acme.eab.hmacKeyFile)).trim() }
          : undefined;
        const url = await c.account({
          ...(acme.email ? { email: acme.email } : {}),
          ...(eab ? { eab } : {}),
        });
        const known = await readAcmeAccount(config.dataDir).catch(() => undefined);
        if (known?.url !== url || known.directory !== acme.directory) {
          await writeAccountRecord(config.dataDir, { directory: acme.directory, url });
        }
        const issued = await c.issue({
          names,
          challenge: acme.challenge,
          challenges: o.challenges,
          certKey: key,
        });
        return { certPem: issued.certPem };
      } finally {
        signal.removeEventListener("abort", onAbort);
        c.close();
      }
    },
    async renewalWindow(certPem) {
      const c = await client(config, o);
      try {
        return await c.renewalInfo(certPem);
      } finally {
        c.close();
      }
    },
    describe: describeFailure,
  };
}
