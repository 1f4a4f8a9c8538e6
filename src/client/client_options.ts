/**
 * What a caller of the SMTP client gives it: where and how to deliver ({@link ClientOptions},
 * with its TLS policy and per-stage timeouts) and the envelope of the one transaction
 * ({@link Envelope}). Shared by `deliver_message.ts` and `connection_cache.ts`.
 *
 * @module
 */

/** TLS policy for one delivery. */
export interface ClientTls {
  /**
   * - `opportunistic`: STARTTLS when offered; an unverified certificate is recorded in the
   *   result and delivery goes on; no STARTTLS means plain text (RFC 3207 §4).
   * - `required`: STARTTLS must be offered and the certificate must verify for `servername`;
   *   otherwise a temporary failure (4.7.5).
   * - `none`: never STARTTLS.
   * - `implicit`: TLS from the start (RFC 8314 §3, port 465 smarthosts); the certificate must
   *   verify, as in `required`.
   */
  mode: "opportunistic" | "required" | "none" | "implicit";
  /**
   * SNI and the name the certificate must match. Without it no SNI is sent and the
   * certificate is checked against the IP address.
   */
  servername?: string;
  /** PEM certificates to trust instead of the default roots. @default the runtime's roots */
  caCerts?: string[];
}

/** Timeouts per stage in milliseconds. */
export interface ClientTimeouts {
  /** TCP connect (and the TLS handshake in `implicit` mode). @default 30000 */
  connect: number;
  /** The 220 greeting, RFC 5321 §4.5.3.2.1. @default 300000 */
  greeting: number;
  /** EHLO/HELO, STARTTLS (and its handshake) and AUTH replies. @default 300000 */
  ehlo: number;
  /** The MAIL reply, RFC 5321 §4.5.3.2.2. @default 300000 */
  mail: number;
  /** Each RCPT reply, RFC 5321 §4.5.3.2.3. @default 300000 */
  rcpt: number;
  /** The reply to DATA (354), RFC 5321 §4.5.3.2.4. @default 120000 */
  data: number;
  /** Each write of the content, RFC 5321 §4.5.3.2.5. @default 180000 */
  dataBlock: number;
  /** The reply after the final ".", RFC 5321 §4.5.3.2.6. @default 600000 */
  dataEnd: number;
}

/** Where and how to deliver. */
export interface ClientOptions {
  /** IP literal to connect to. */
  host: string;
  port: number;
  /** Our hostname, sent in EHLO/HELO: a domain or an address literal such as "[192.0.2.1]". */
  helo: string;
  tls: ClientTls;
  /** Source IP to bind (outbound.source_ipv4/ipv6). */
  localAddress?: string;
  /**
   * Smarthost credentials: AUTH PLAIN, or LOGIN if only that is offered. Sent only over TLS
   * whose certificate verified; in plain text the result is a permanent failure and nothing is
   * sent, with an unverified certificate a temporary one.
   */
  auth?: { username: string; password: string };
  /** Per-stage timeouts in ms; defaults from RFC 5321 §4.5.3.2. */
  timeouts?: Partial<ClientTimeouts>;
}

/** The envelope of one transaction. */
export interface Envelope {
  /** Reverse-path; "" for the null sender. */
  from: string;
  to: string[];
  /** Message size in octets (with CRLF line endings), for SIZE (RFC 1870). */
  size: number;
  /** The message or the addresses need SMTPUTF8 (RFC 6531). */
  smtputf8: boolean;
  /** The content has 8-bit octets (BODY=8BITMIME, RFC 6152). */
  eightBit: boolean;
}

/** The timeouts used where {@link ClientOptions.timeouts} says nothing. */
export const DEFAULT_TIMEOUTS: ClientTimeouts = {
  connect: 30_000,
  greeting: 5 * 60_000, // RFC 5321 §4.5.3.2.1
  ehlo: 5 * 60_000,
  mail: 5 * 60_000, // RFC 5321 §4.5.3.2.2
  rcpt: 5 * 60_000, // RFC 5321 §4.5.3.2.3
  data: 2 * 60_000, // RFC 5321 §4.5.3.2.4
  dataBlock: 3 * 60_000, // RFC 5321 §4.5.3.2.5
  dataEnd: 10 * 60_000, // RFC 5321 §4.5.3.2.6
};
