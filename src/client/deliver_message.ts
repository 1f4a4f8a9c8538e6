/**
 * The SMTP client for outbound delivery (RFC 5321): one mail transaction per call, to one
 * already-chosen IP address, on a new connection or on one kept from an earlier call. Choosing
 * the address (MX, A/AAAA, null MX) and retrying are the caller's business; the client only
 * speaks the protocol and reports what happened. This module is its entry point for one
 * message on a new connection.
 *
 * The steps of {@link deliverMessage}, in order:
 *
 * 1. Check the envelope locally: no CR, LF or other control character may reach a command
 *    line, and the content may contain no NUL (SMUGGLING.md, "As a sender or relay").
 * 2. Connect with `node:net` (so a source address can be bound; `Deno.connect` cannot), with
 *    TLS from the first byte in `implicit` mode (RFC 8314 §3).
 * 3. Read the 220 greeting (RFC 5321 §3.1, §4.3.1).
 * 4. EHLO, or HELO when EHLO gets a 5xx (RFC 5321 §4.1.1.1, §3.2), and parse the extensions.
 * 5. STARTTLS (RFC 3207) according to {@link ClientTls.mode}, then EHLO again (RFC 3207 §4.2).
 * 6. AUTH PLAIN (RFC 4616) or LOGIN when credentials are given, only over verified TLS.
 * 7. Refuse locally what the server announced it cannot take: a message above its SIZE
 *    (RFC 1870 §6), or one that needs SMTPUTF8 when that is not offered (RFC 6531 §3.4).
 * 8. MAIL, RCPT for each recipient, DATA: in one write when PIPELINING is offered (RFC 2920),
 *    else one command at a time; the content from {@link encodeData}; the final reply.
 * 9. QUIT, without waiting long for the 221.
 *
 * Where each step lives: 1 in `_prepare.ts`, 2 in `connection.ts`, 3 to 5 and 9 in
 * `session.ts`, 6 in `authenticate.ts`, 7 and 8 in `transaction.ts`.
 *
 * `connection_cache.ts`'s `ConnectionCache` does steps 2 to 6 once per connection and then
 * runs several mail transactions (steps 7 and 8) over it before QUIT, as Postfix's connection
 * cache does.
 *
 * @module
 */

import type { ClientOptions, ClientTimeouts, ClientTls, Envelope } from "./client_options.ts";
import type { DeliveryResult, RecipientResult } from "./delivery_result.ts";
import { closeSession, openSession } from "./session.ts";
import { runTransaction } from "./transaction.ts";
import { type Attempt, newAttempt, toResult } from "./_attempt.ts";
import { prepare } from "./_prepare.ts";

/**
 * Deliver one message to one server in one transaction.
 *
 * Never throws for anything the network or the server does: every outcome is in the result.
 * Temporary failures (4xx, timeouts, lost connections, TLS trouble) have `permanent: false`.
 * In `opportunistic` mode (and without `auth`) a failed STARTTLS handshake is retried once on a
 * new connection without TLS, as Postfix does at its "may" level.
 *
 * @example
 * ```ts
 * const r = await deliverMessage(
 *   { host: "192.0.2.25", port: 25, helo: "mx.example.org", tls: { mode: "opportunistic" } },
 *   { from: "a@example.org", to: ["b@example.com"], size: 120, smtputf8: false, eightBit: false },
 *   [new TextEncoder().encode("Subject: hi\r\n\r\nhello\r\n")],
 * );
 * if (r.recipients.every((x) => x.ok)) console.log("delivered");
 * ```
 *
 * @param opts Where and how to connect.
 * @param env The envelope.
 * @param content The message (any line endings; see {@link encodeData}).
 * @returns One result per recipient, in `env.to` order, plus connection facts.
 * @throws {TypeError} for options that are a programming error: `host` not an IP literal, a bad
 * port, or a `helo` name that could not be sent.
 */
export async function deliverMessage(
  opts: ClientOptions,
  env: Envelope,
  content: readonly Uint8Array[],
): Promise<DeliveryResult> {
  const p = prepare(opts, env, content);
  if ("done" in p) return p.done;
  let attempt = await attemptDelivery(opts, opts.tls.mode, env, content, p.timeouts, p.results);
  if (attempt.tlsHandshakeFailed && opts.tls.mode === "opportunistic" && !opts.auth) {
    // Opportunistic TLS (RFC 3207 §4.1 lets a client go on without TLS): a server whose TLS
    // is broken still gets the mail, in plain text, on a new connection. Not with credentials,
    // which never go out in clear: the handshake failure stays a temporary one.
    attempt = await attemptDelivery(opts, "none", env, content, p.timeouts, p.results);
  }
  return toResult(env, attempt);
}

/** One connection, one transaction, QUIT. Fills `results` for the recipients answered. */
async function attemptDelivery(
  opts: ClientOptions,
  mode: ClientTls["mode"],
  env: Envelope,
  content: readonly Uint8Array[],
  timeouts: ClientTimeouts,
  initial: readonly (RecipientResult | undefined)[],
): Promise<Attempt> {
  const attempt = newAttempt(initial);
  const s = await openSession(opts, mode, timeouts, attempt);
  if (!s) return attempt;
  const outcome = await runTransaction(s, env, content, timeouts, attempt);
  await closeSession(s.conn, outcome !== "broken");
  return attempt;
}
