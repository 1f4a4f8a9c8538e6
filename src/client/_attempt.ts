/**
 * What one attempt at a delivery gathers as it goes (per-recipient replies, the failure that
 * ended it, TLS facts, the server's name), and how that becomes the {@link DeliveryResult}
 * handed back. Private to src/client.
 *
 * @module
 */

import type { Reply } from "../smtp/reply.ts";
import type { Envelope } from "./client_options.ts";
import type { DeliveryResult, RecipientResult } from "./delivery_result.ts";
import type { Session } from "./session.ts";
import { Failure, replyText } from "./_failure.ts";

/** What one attempt produced, before it is turned into a {@link DeliveryResult}. */
export interface Attempt {
  results: (RecipientResult | undefined)[];
  failure?: Failure;
  /** The failure came before any recipient was tried. */
  early: boolean;
  tls?: DeliveryResult["tls"];
  remoteHost?: string;
  /** STARTTLS handshake failed in opportunistic mode: worth one more try in plain text. */
  tlsHandshakeFailed?: boolean;
}

/**
 * A fresh attempt, starting from the results already known; on a cached session, with its TLS
 * facts and the server's name.
 */
export function newAttempt(
  initial: readonly (RecipientResult | undefined)[],
  s?: Session,
): Attempt {
  const a: Attempt = { results: [...initial], early: true };
  if (s?.tls) a.tls = s.tls;
  if (s?.remoteHost) a.remoteHost = s.remoteHost;
  return a;
}

/** The result for a recipient that a {@link Failure} ended. */
export function recipientFrom(address: string, f: Failure): RecipientResult {
  return {
    address,
    code: f.code,
    ...(f.enhanced ? { enhanced: f.enhanced } : {}),
    text: f.text,
    permanent: f.permanent,
    ok: false,
  };
}

/** The result for a recipient the server answered with `r`. */
export function recipientFromReply(address: string, r: Reply): RecipientResult {
  return {
    address,
    code: r.code,
    ...(r.enhanced ? { enhanced: r.enhanced } : {}),
    text: replyText(r),
    permanent: r.code >= 500,
    ok: r.code >= 200 && r.code < 300,
  };
}

/** The {@link DeliveryResult} of an attempt. */
export function toResult(env: Envelope, attempt: Attempt): DeliveryResult {
  const out: DeliveryResult = { recipients: [] };
  const f = attempt.failure;
  out.recipients = env.to.map((a, i) => {
    const r = attempt.results[i];
    if (r) return r;
    return f ? recipientFrom(a, f) : recipientFrom(
      a,
      new Failure(421, "4.5.0", "no reply recorded for this recipient", false, "RCPT TO"),
    );
  });
  if (f && attempt.early) {
    out.connectionError = {
      text: f.describe(),
      permanent: f.permanent,
      ...(f.fromServer ? { code: f.code } : {}),
    };
  }
  if (attempt.tls) out.tls = attempt.tls;
  if (attempt.remoteHost) out.remoteHost = attempt.remoteHost;
  return out;
}
