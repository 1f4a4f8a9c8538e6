/**
 * The TLS context listeners hand to new handshakes. It is a holder rather than a value so that
 * a config reload (and later a renewed ACME certificate) can swap it: every handshake that
 * starts afterwards, implicit TLS or STARTTLS, uses the new certificate, while connections
 * already encrypted keep the one they negotiated.
 *
 * @module
 */

import type tls from "node:tls";

/** The current server-side TLS context, or null when TLS is not configured. */
export class TlsContext {
  #current: tls.SecureContext | null;

  /** Start with `initial` (null: no TLS until {@link replace} gives one). */
  constructor(initial: tls.SecureContext | null = null) {
    this.#current = initial;
  }

  /** The context for a handshake starting now. */
  get current(): tls.SecureContext | null {
    return this.#current;
  }

  /** Use `next` for every handshake from now on. */
  replace(next: tls.SecureContext | null): void {
    this.#current = next;
  }
}
