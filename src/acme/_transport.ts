/**
 * The HTTP side of the ACME client (RFC 8555 §6): the directory (§7.1.1), anti-replay nonces
 * (§6.5: from HEAD newNonce and from every response's `Replay-Nonce`), signed POSTs and
 * POST-as-GETs (§6.2, §6.3) with `Content-Type: application/jose+json`, the retry of a request
 * the CA refused with `badNonce` (§6.5) and the turning of problem documents into
 * {@link AcmeProblem}s. Private to src/acme.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { AcmeProblem, parseRetryAfter } from "./acme_problem.ts";
import { type EcPublicJwk, publicJwk, signJws } from "./jws.ts";

/** The directory object (RFC 8555 §7.1.1), with ARI's `renewalInfo` (RFC 9773 §3). */
export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert?: string;
  keyChange?: string;
  renewalInfo?: string;
  meta?: { termsOfService?: string; externalAccountRequired?: boolean };
}

/** A response from the CA that was not an error. */
export interface AcmeResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or the text when the body is not JSON. */
  body: unknown;
  /** The `Location` header (the URL of a created account or order). */
  location: string | undefined;
}

/** How often a request refused with badNonce is sent again with a fresh nonce. */
export const BAD_NONCE_RETRIES = 10;
/** No single HTTP exchange with the CA may take longer than this. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Options of {@link AcmeTransport}. */
export interface TransportOptions {
  directoryUrl: string;
  accountKey: CryptoKeyPair;
  caCerts?: string[];
  log: Logger;
  now: () => number;
}

/** Signed requests to one CA with one account key; see the module documentation. */
export class AcmeTransport {
  /** The account URL, once known: requests are signed with `kid` then (RFC 8555 §6.2). */
  kid: string | undefined;
  /** How many requests were sent again after a badNonce refusal. */
  badNonceRetries = 0;

  readonly #opts: TransportOptions;
  readonly #client: Deno.HttpClient | undefined;
  readonly #nonces: string[] = [];
  #directory: Promise<Directory> | undefined;
  #jwk: Promise<EcPublicJwk> | undefined;

  constructor(opts: TransportOptions) {
    this.#opts = opts;
    if (opts.caCerts && opts.caCerts.length > 0) {
      this.#client = Deno.createHttpClient({ caCerts: opts.caCerts });
    }
  }

  /** The account's public JWK. */
  jwk(): Promise<EcPublicJwk> {
    return this.#jwk ??= publicJwk(this.#opts.accountKey.publicKey);
  }

  /** The directory, fetched once (a failed fetch is tried again next time). */
  directory(): Promise<Directory> {
    this.#directory ??= this.#loadDirectory().catch((e) => {
      this.#directory = undefined;
      throw e;
    });
    return this.#directory;
  }

  async #loadDirectory(): Promise<Directory> {
    const res = await this.get(this.#opts.directoryUrl);
    const d = res.body as Partial<Directory> | null;
    if (
      typeof d !== "object" || d === null || typeof d.newNonce !== "string" ||
      typeof d.newAccount !== "string" || typeof d.newOrder !== "string"
    ) {
      throw new AcmeProblem(
        { type: "about:blank", detail: "not an ACME directory", status: res.status },
        undefined,
        `GET ${this.#opts.directoryUrl}`,
      );
    }
    return d as Directory;
  }

  /** An unauthenticated GET (the directory, renewalInfo). @throws AcmeProblem on an error status */
  async get(url: string): Promise<AcmeResponse> {
    return await this.#exchange("GET", url, { method: "GET" });
  }

  /**
   * A signed POST of `payload`, or a POST-as-GET when `payload` is undefined (RFC 8555 §6.3),
   * signed with `kid` once the account is known, else (or with `jwk: true`) with the public JWK.
   * A badNonce refusal is retried up to {@link BAD_NONCE_RETRIES} times.
   * @throws AcmeProblem for every other error response
   */
  async post(
    url: string,
    payload: unknown,
    opts: { jwk?: boolean; accept?: string } = {},
  ): Promise<AcmeResponse> {
    for (let attempt = 0;; attempt++) {
      const nonce = await this.#nonce();
      const key = opts.jwk || this.kid === undefined
        ? { jwk: await this.jwk() }
        : { kid: this.kid };
      const jws = await signJws(this.#opts.accountKey.privateKey, { ...key, nonce, url }, payload);
      try {
        return await this.#exchange("POST", url, {
          method: "POST",
          headers: {
            "content-type": "application/jose+json",
            ...(opts.accept ? { accept: opts.accept } : {}),
          },
          body: JSON.stringify(jws),
        });
      } catch (e) {
        // RFC 8555 §6.5: badNonce is retried with a fresh nonce (the error response carries one).
        if (!(e instanceof AcmeProblem) || !e.is("badNonce") || attempt >= BAD_NONCE_RETRIES) {
          throw e;
        }
        this.badNonceRetries++;
        this.#opts.log.debug("badNonce from {url}, retrying with a fresh nonce", { url, attempt });
      }
    }
  }

  async #nonce(): Promise<string> {
    const pooled = this.#nonces.pop();
    if (pooled !== undefined) return pooled;
    const { newNonce } = await this.directory();
    // RFC 8555 §7.2: HEAD newNonce answers 200 with a Replay-Nonce.
    await this.#exchange("HEAD", newNonce, { method: "HEAD" });
    const fresh = this.#nonces.pop();
    if (fresh === undefined) {
      throw new AcmeProblem(
        { type: "about:blank", detail: "no Replay-Nonce in the answer" },
        undefined,
        `HEAD ${newNonce}`,
      );
    }
    return fresh;
  }

  async #exchange(method: string, url: string, init: RequestInit): Promise<AcmeResponse> {
    const context = `${method} ${url}`;
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        ...(this.#client ? { client: this.#client } : {}),
      });
    } catch (e) {
      throw new Error(`${context}: ${(e as Error).message}`, { cause: e });
    }
    const text = await res.text();
    const nonce = res.headers.get("replay-nonce");
    // RFC 8555 §6.5.1: a nonce is base64url; anything else is not kept.
    if (nonce && /^[A-Za-z0-9_-]+$/.test(nonce)) this.#nonces.push(nonce);
    this.#opts.log.debug("{method} {url} answered {status}", { method, url, status: res.status });
    const type = res.headers.get("content-type") ?? "";
    let body: unknown = text;
    if (/json/i.test(type)) {
      try {
        body = JSON.parse(text);
      } catch {
        // left as text: the error below, or the caller, says it is not what was expected
      }
    }
    const location = res.headers.get("location");
    if (res.status >= 400) {
      const retryAfter = res.status === 429 || res.status === 503
        ? parseRetryAfter(res.headers.get("retry-after"), this.#opts.now())
        : undefined;
      const problem = /problem\+json/i.test(type) && typeof body === "object"
        ? body
        : { detail: `HTTP ${res.status} ${text.slice(0, 200)}`.trim() };
      throw AcmeProblem.from(problem, res.status, retryAfter, context);
    }
    return {
      status: res.status,
      headers: res.headers,
      body,
      location: location === null ? undefined : new URL(location, url).href,
    };
  }

  /** Release the HTTP client that trusts `caCerts`. */
  close(): void {
    this.#client?.close();
  }
}
