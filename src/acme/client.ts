/**
 * A small ACME client (RFC 8555) on WebCrypto and fetch: registers (or finds again) the account
 * of an account key, gets a certificate for a set of DNS names by http-01 (§8.3) or tls-alpn-01
 * (RFC 8737), and asks ACME Renewal Information (RFC 9773) when to renew.
 *
 * Issuing, step by step (§7.1):
 * 1. newOrder with the names as `dns` identifiers (§7.4);
 * 2. for each authorization that is not yet valid (§7.5): pick the requested challenge, put its
 *    answer into the {@link ChallengeStore} that the HTTP listeners serve, tell the CA to
 *    validate by POSTing `{}` (§7.5.1), poll the authorization until it is decided, and take the
 *    answer away again whatever happened;
 * 3. once the order is `ready`, finalize it with a CSR for the certificate key (§7.4);
 * 4. poll the order until `valid` and download the PEM chain (§7.4.2).
 *
 * Every poll honours `Retry-After` and gives up at a deadline, so nothing waits forever.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";
import { log as logger, type Logger } from "../log/logger.ts";
import { AcmeProblem, parseRetryAfter } from "./acme_problem.ts";
import { ariCertId } from "./ari_cert_id.ts";
import type { ChallengeStore } from "./challenges.ts";
import { createCsr } from "./csr.ts";
import {
  b64url,
  externalAccountBinding,
  type ExternalAccountKey,
  jwkThumbprint,
  keyAuthorization,
} from "./jws.ts";
import { AcmeTransport } from "./_transport.ts";
import { tlsAlpnCertificate } from "./tls_alpn_certificate.ts";

/** Options of {@link AcmeClient}. */
export interface AcmeClientOptions {
  /** The CA's directory URL (RFC 8555 §7.1.1). */
  directoryUrl: string;
  /** The account key (see `loadOrCreateAccountKey`). */
  accountKey: CryptoKeyPair;
  /** Extra CA certificates (PEM) trusted for the directory's own HTTPS, e.g. a test CA's. */
  caCerts?: string[];
  /** Where the steps are logged; default `log("acme")`. */
  log?: Logger;
  /** The clock, in ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** How long one authorization or order may take to be decided; default 5 minutes. */
  pollTimeoutMs?: number;
  /** The wait between polls when the CA gives no Retry-After; default 1 s. */
  pollIntervalMs?: number;
}

/** The challenge types this client answers. */
export type ChallengeType = "http-01" | "tls-alpn-01";

/** What {@link AcmeClient.issue} needs. */
export interface IssueRequest {
  /** The DNS names, the first one becomes the subject's CN. */
  names: string[];
  /** How to prove control of the names. */
  challenge: ChallengeType;
  /** Where the answers go while the CA validates (served by the HTTP listeners). */
  challenges: ChallengeStore;
  /** The certificate's own key pair (ECDSA P-256). */
  certKey: CryptoKeyPair;
  /** The ARI certificate identifier of the certificate this one replaces (RFC 9773 §5). */
  replaces?: string;
}

/** A certificate the CA issued. */
export interface IssuedCertificate {
  /** The full chain, leaf first, PEM. */
  certPem: string;
  notBefore: Date;
  notAfter: Date;
}

/** When the CA suggests renewing (RFC 9773 §4.2). */
export interface RenewalWindow {
  start: Date;
  end: Date;
  /** When to ask again (the response's Retry-After), if the CA said. */
  retryAfter?: Date;
  /** A page explaining why the window moved, if the CA gave one. */
  explanationUrl?: string;
}

interface Challenge {
  type: string;
  url: string;
  token?: string;
  status?: string;
  error?: unknown;
}

interface Authorization {
  status: string;
  identifier: { type: string; value: string };
  challenges: Challenge[];
}

interface Order {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: unknown;
}

// A DNS name of LDH labels (RFC 1123 §2.1, RFC 5890 A-labels), at least two labels.
const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Lower-case, de-duplicate and check the names. @throws TypeError naming the bad one */
function checkNames(names: readonly string[]): string[] {
  const out = [...new Set(names.map((n) => n.toLowerCase().replace(/\.$/, "")))];
  if (out.length === 0) throw new TypeError("no names to issue a certificate for");
  for (const n of out) {
    // http-01 and tls-alpn-01 cannot prove a wildcard (RFC 8555 §7.1.3, RFC 8737 §3).
    if (!DNS_NAME.test(n)) throw new TypeError(`not a DNS name this client can validate: ${n}`);
  }
  return out;
}

function isObject<T>(v: unknown, key: string): v is T {
  return typeof v === "object" && v !== null && key in v;
}

/** An ACME client for one CA and one account key; see the module documentation. */
export class AcmeClient {
  readonly #t: AcmeTransport;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #pollTimeoutMs: number;
  readonly #pollIntervalMs: number;

  constructor(options: AcmeClientOptions) {
    this.#log = options.log ?? logger("acme");
    this.#now = options.now ?? Date.now;
    this.#pollTimeoutMs = options.pollTimeoutMs ?? 300_000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#t = new AcmeTransport({
      directoryUrl: options.directoryUrl,
      accountKey: options.accountKey,
      caCerts: options.caCerts,
      log: this.#log,
      now: this.#now,
    });
  }

  /** The account URL, once {@link account} has run. */
  get accountUrl(): string | undefined {
    return this.#t.kid;
  }

  /** How many requests were sent again after a badNonce refusal (RFC 8555 §6.5). */
  get badNonceRetries(): number {
    return this.#t.badNonceRetries;
  }

  /**
   * Register the account of the account key, agreeing to the terms of service, or find it
   * again when the CA knows the key already (RFC 8555 §7.3, §7.3.1).
   * @param opts.email a contact address (`mailto:`), optional
   * @param opts.eab the External Account Binding the CA requires, if any (§7.3.4)
   * @returns the account URL
   * @throws AcmeProblem e.g. `externalAccountRequired`; TypeError for a bad email or EAB key
   */
  async account(opts: { email?: string; eab?: ExternalAccountKey } = {}): Promise<string> {
    const dir = await this.#t.directory();
    const payload: Record<string, unknown> = { termsOfServiceAgreed: true };
    if (opts.email !== undefined) {
      if (!/^[^\s@,?]+@[^\s@,?]+$/.test(opts.email)) {
        throw new TypeError(`not an email address: ${opts.email}`);
      }
      payload.contact = [`mailto:${opts.email}`];
    }
    if (opts.eab) {
      try {
        payload.externalAccountBinding = await externalAccountBinding(
          opts.eab,
          await this.#t.jwk(),
          dir.newAccount,
        );
      } catch (e) {
        throw new TypeError(`EAB key ${opts.eab.kid}: ${(e as Error).message}`);
      }
    }
    const res = await this.#t.post(dir.newAccount, payload, { jwk: true });
    if (!res.location) throw new Error(`newAccount ${dir.newAccount}: no Location in the answer`);
    this.#t.kid = res.location;
    this.#log.info("ACME account {outcome} {account}", {
      outcome: res.status === 201 ? "registered" : "found",
      account: res.location,
    });
    return res.location;
  }

  /**
   * Get a certificate for `req.names`, proving control by `req.challenge`; runs
   * {@link account} first (without contact or EAB) when it has not run.
   * @throws TypeError for bad names; AcmeProblem for the CA's refusals, a failed challenge
   *   carrying the CA's problem for it; Error when a poll passes its deadline
   */
  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    const names = checkNames(req.names);
    if (this.#t.kid === undefined) await this.account();
    const dir = await this.#t.directory();
    const payload: Record<string, unknown> = {
      identifiers: names.map((value) => ({ type: "dns", value })),
    };
    if (req.replaces !== undefined) payload.replaces = req.replaces; // RFC 9773 §5
    const created = await this.#t.post(dir.newOrder, payload);
    const orderUrl = created.location;
    if (!orderUrl || !isObject<Order>(created.body, "authorizations")) {
      throw new Error(`newOrder ${dir.newOrder}: no order in the answer`);
    }
    let order = created.body;
    this.#log.info("ACME order {order} for {names} by {challenge}", {
      order: orderUrl,
      names: names.join(","),
      challenge: req.challenge,
    });
    for (const authzUrl of order.authorizations) {
      await this.#authorize(authzUrl, req, orderUrl);
    }
    order = await this.#poll<Order>(orderUrl, "order", ["pending"]);
    if (order.status !== "ready") throw this.#orderProblem(order, orderUrl, "not ready");
    const csr = await createCsr(names, req.certKey);
    this.#log.debug("ACME order {order} finalizing", { order: orderUrl });
    await this.#t.post(order.finalize, { csr: b64url(csr) });
    order = await this.#poll<Order>(orderUrl, "order", ["ready", "processing"]);
    if (order.status !== "valid" || !order.certificate) {
      throw this.#orderProblem(order, orderUrl, "not valid after finalize");
    }
    // RFC 8555 §7.4.2: the chain, leaf first.
    const res = await this.#t.post(order.certificate, undefined, {
      accept: "application/pem-certificate-chain",
    });
    const issued = await this.#checkChain(String(res.body), names, req.certKey);
    this.#log.info("ACME order {order} issued {certificate}, valid until {notAfter}", {
      order: orderUrl,
      certificate: order.certificate,
      notAfter: issued.notAfter.toISOString(),
    });
    return issued;
  }

  /** Answer one authorization (RFC 8555 §7.5) unless it is valid already. */
  async #authorize(authzUrl: string, req: IssueRequest, orderUrl: string): Promise<void> {
    const authz = (await this.#t.post(authzUrl, undefined)).body as Authorization;
    const name = authz.identifier?.value ?? "?";
    if (authz.status === "valid") {
      this.#log.debug("ACME order {order}: {name} is authorized already", {
        order: orderUrl,
        name,
      });
      return;
    }
    if (authz.status !== "pending") {
      throw new AcmeProblem(
        { type: "about:blank", detail: `authorization for ${name} is ${authz.status}` },
        undefined,
        authzUrl,
      );
    }
    const challenge = authz.challenges?.find((c) => c.type === req.challenge);
    if (!challenge || typeof challenge.token !== "string") {
      const offered = (authz.challenges ?? []).map((c) => c.type).join(", ");
      throw new Error(`${authzUrl}: the CA offers no ${req.challenge} for ${name} (${offered})`);
    }
    const thumbprint = await jwkThumbprint(await this.#t.jwk());
    const keyAuth = keyAuthorization(challenge.token, thumbprint);
    if (req.challenge === "http-01") {
      req.challenges.setHttp(challenge.token, keyAuth);
    } else {
      req.challenges.setTlsAlpn(name, await tlsAlpnCertificate(name, keyAuth));
    }
    try {
      this.#log.info("ACME order {order}: validating {name} by {challenge}", {
        order: orderUrl,
        name,
        challenge: req.challenge,
      });
      await this.#t.post(challenge.url, {}); // RFC 8555 §7.5.1: ready to be validated
      const done = await this.#poll<Authorization>(authzUrl, "authorization", ["pending"]);
      if (done.status !== "valid") {
        const failed = done.challenges?.find((c) => c.type === req.challenge);
        throw AcmeProblem.from(
          failed?.error ?? { detail: `authorization is ${done.status}` },
          0,
          undefined,
          `${req.challenge} for ${name}`,
        );
      }
      this.#log.info("ACME order {order}: {name} authorized", { order: orderUrl, name });
    } finally {
      if (req.challenge === "http-01") req.challenges.deleteHttp(challenge.token);
      else req.challenges.deleteTlsAlpn(name);
    }
  }

  /**
   * POST-as-GET `url` until its status leaves `waiting`, honouring Retry-After (RFC 8555
   * §7.5.1), within the poll deadline.
   */
  async #poll<T extends { status: string }>(
    url: string,
    what: string,
    waiting: readonly string[],
  ): Promise<T> {
    const deadline = this.#now() + this.#pollTimeoutMs;
    for (;;) {
      const res = await this.#t.post(url, undefined);
      const body = res.body as T;
      if (!isObject<T>(body, "status")) throw new Error(`${url}: the ${what} has no status`);
      if (!waiting.includes(body.status)) return body;
      const now = this.#now();
      if (now >= deadline) {
        throw new Error(
          `${url}: the ${what} is still ${body.status} after ${this.#pollTimeoutMs / 1000} s`,
        );
      }
      const retryAt = parseRetryAfter(res.headers.get("retry-after"), now)?.getTime();
      const wait = retryAt === undefined ? this.#pollIntervalMs : Math.max(0, retryAt - now);
      await new Promise((r) => setTimeout(r, Math.min(wait, deadline - now)));
    }
  }

  #orderProblem(order: Order, url: string, what: string): AcmeProblem {
    const problem = order.error ?? { detail: `order is ${order.status}` };
    return AcmeProblem.from(problem, 0, undefined, `order ${url} ${what}`);
  }

  /** The chain must start with a certificate for our key and for all the names. */
  async #checkChain(
    pem: string,
    names: readonly string[],
    certKey: CryptoKeyPair,
  ): Promise<IssuedCertificate> {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
    const first = blocks[0];
    if (first === undefined) throw new Error("the CA sent no certificate");
    const leaf = new x509.X509Certificate(first);
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", certKey.publicKey));
    if (b64url(new Uint8Array(leaf.publicKey.rawData)) !== b64url(spki)) {
      throw new Error("the CA's certificate is not for the certificate key");
    }
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
    const have = new Set(san?.names.items.map((n) => n.value.toLowerCase()) ?? []);
    const missing = names.filter((n) => !have.has(n));
    if (missing.length > 0) throw new Error(`the CA's certificate lacks ${missing.join(", ")}`);
    return {
      certPem: blocks.join("\n") + "\n",
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
    };
  }

  /**
   * When the CA suggests renewing `certPem` (RFC 9773 §4.2), or null when the directory has no
   * `renewalInfo` or the certificate has no Authority Key Identifier.
   * @throws AcmeProblem for an error answer; Error for a malformed window
   */
  async renewalInfo(certPem: string): Promise<RenewalWindow | null> {
    const { renewalInfo } = await this.#t.directory();
    if (renewalInfo === undefined) return null;
    const id = ariCertId(certPem);
    if (id === undefined) return null;
    const url = `${renewalInfo.replace(/\/$/, "")}/${id}`;
    const res = await this.#t.get(url); // RFC 9773 §4.1: an unauthenticated GET
    const body = res.body as { suggestedWindow?: { start?: unknown; end?: unknown } };
    const start = new Date(String(body?.suggestedWindow?.start));
    const end = new Date(String(body?.suggestedWindow?.end));
    // RFC 9773 §4.2: a window whose end is not after its start is invalid.
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) {
      throw new Error(`${url}: no valid suggestedWindow in the answer`);
    }
    const window: RenewalWindow = { start, end };
    const retryAfter = parseRetryAfter(res.headers.get("retry-after"), this.#now());
    if (retryAfter) window.retryAfter = retryAfter;
    const explanation = (body as { explanationURL?: unknown }).explanationURL;
    if (typeof explanation === "string") window.explanationUrl = explanation;
    this.#log.debug("ACME renewal window {id} {start} to {end}", {
      id,
      start: start.toISOString(),
      end: end.toISOString(),
    });
    return window;
  }

  /** Release the HTTP client (call when done with this client). */
  close(): void {
    this.#t.close();
  }
}
