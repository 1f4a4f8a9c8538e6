/**
 * The answers to ACME challenges that are pending right now, shared between the ACME client
 * (which puts them here before telling the CA to validate, and removes them afterwards) and the
 * HTTP listeners (which serve them):
 *
 * - http-01 (RFC 8555 §8.3): `GET /.well-known/acme-challenge/<token>` on port 80 answers the
 *   key authorization as `text/plain`.
 * - tls-alpn-01 (RFC 8737 §3): a TLS handshake that offers only the ALPN protocol `acme-tls/1`
 *   with the name in SNI gets the self-signed certificate carrying the `acmeIdentifier`
 *   extension for that name, from postie's own TLS 1.3 responder (tls_alpn_responder.ts).
 *
 * @module
 */

import type { TlsAlpnChallenge } from "./tls_alpn_responder.ts";

/** The pending challenge answers; see the module documentation. */
export class ChallengeStore {
  readonly #http = new Map<string, string>();
  readonly #alpn = new Map<string, TlsAlpnChallenge>();

  /** Answer `GET /.well-known/acme-challenge/<token>` with `keyAuthorization`. */
  setHttp(token: string, keyAuthorization: string): void {
    this.#http.set(token, keyAuthorization);
  }

  /** The key authorization for `token`, if that challenge is pending. */
  http(token: string): string | undefined {
    return this.#http.get(token);
  }

  /** The http-01 challenge for `token` is over. */
  deleteHttp(token: string): void {
    this.#http.delete(token);
  }

  /**
   * Serve `challenge` (the acmeIdentifier certificate and its key) to `acme-tls/1` handshakes
   * for `name`.
   */
  setTlsAlpn(name: string, challenge: TlsAlpnChallenge): void {
    this.#alpn.set(name.toLowerCase(), challenge);
  }

  /** The tls-alpn-01 challenge for `name` (case-insensitive), if it is pending. */
  tlsAlpn(name: string): TlsAlpnChallenge | undefined {
    return this.#alpn.get(name.toLowerCase());
  }

  /** The tls-alpn-01 challenge for `name` is over. */
  deleteTlsAlpn(name: string): void {
    this.#alpn.delete(name.toLowerCase());
  }
}
