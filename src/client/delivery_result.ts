/**
 * What the SMTP client reports for one delivery: a {@link RecipientResult} per recipient, and
 * the facts of the connection, in a {@link DeliveryResult}.
 *
 * @module
 */

/**
 * The outcome for one recipient. `code`/`enhanced` are the server's reply when it answered;
 * when the failure is local or the connection broke they are chosen here (421 4.4.x for
 * network trouble, 4.7.5 for TLS, 552 5.3.4 for SIZE, 553 5.6.7 for SMTPUTF8, ...), and
 * {@link DeliveryResult.connectionError} without a `code` tells the two apart.
 */
export interface RecipientResult {
  address: string;
  code: number;
  enhanced?: string;
  text: string;
  permanent: boolean;
  ok: boolean;
}

/** The outcome of {@link deliverMessage}. */
export interface DeliveryResult {
  /** Per recipient, in `to` order; for a transaction-level failure every recipient gets that reply. */
  recipients: RecipientResult[];
  /**
   * Failure before any recipient could be tried (connect/TLS/greeting/EHLO/AUTH/MAIL, or a
   * local refusal for SIZE/SMTPUTF8): the error text and whether it is permanent. `code` is
   * present only when the server sent that reply.
   */
  connectionError?: { text: string; permanent: boolean; code?: number };
  /** The TLS session, when one was established. */
  tls?: { protocol: string; cipher: string; authorized: boolean; authorizationError?: string };
  /** The server's name from its EHLO (else greeting) reply, for logs and DSN Remote-MTA. */
  remoteHost?: string;
}
