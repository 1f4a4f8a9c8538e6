/**
 * What an SMTP session (`Session`, session.ts) is given: its options (config, router, sink,
 * queue, accounts…), and what the rules of each phase read of it (a {@link SessionView}). Kept
 * apart from the state machine so the phase modules (envelope, message acceptance, AUTH)
 * depend on these types and not on the session itself.
 *
 * @module
 */

import type { Config, ListenerKind } from "../config/config.ts";
import type { Logger } from "@logtape/logtape";
import type { Router } from "../delivery/router.ts";
import type { MailboxRef } from "../delivery/maildir.ts";
import type { Resolver } from "../dns/resolver.ts";
import type { AuthGuard, CredentialStore } from "../auth/guard.ts";
import type { RateLimiter } from "../policy/rate_limit.ts";
import type { DkimSigningKey } from "../dkim/mod.ts";
import type { DmarcEvaluation } from "../reports/evaluation_log.ts";

/** Facts about an established TLS layer. */
export interface TlsInfo {
  protocol: string;
  cipher: string;
}

/** Where accepted messages go. */
export interface MessageSink {
  deliver(
    boxes: readonly MailboxRef[],
    headerFor: (box: MailboxRef) => string,
    content: readonly Uint8Array[],
  ): Promise<unknown>;
}

/** The outbound queue, as the session sees it. */
export interface OutboundQueue {
  enqueue(req: {
    sender: string;
    recipients: string[];
    account?: string;
    header: string;
    content: readonly Uint8Array[];
  }): Promise<string>;
}

/** A message the session accepted, as the statistics see it ({@link SessionStats}). */
export interface AcceptedMessage {
  /** The session's id of the message (in "queued as"). */
  queueId: string;
  /** The envelope sender; "" for the null sender. */
  from: string;
  ip: string;
  /** The authenticated submitter, if any. */
  user?: string;
  /**
   * Each local account reached, with the recipient (as given in RCPT) that led there: the
   * mailboxes the message was stored in, and the forwarding addresses it went on from.
   */
  local: { account: string; to: string }[];
  /** The external recipients (relayed through the queue), and their queue id. */
  remote: string[];
  outboundId?: string;
}

/** A command the session refused, as the statistics see it ({@link SessionStats}). */
export interface Refusal {
  /** The short class of the refusal (src/smtp/reply.ts `refusalReason`). */
  reason: string;
  /** The reply as sent, code and text. */
  detail: string;
  ip: string;
  from?: string;
  to?: string;
  /** The authenticated user, or for a failed AUTH the user name that was tried. */
  account?: string;
}

/**
 * Where a session reports what it did, for the event log and the metrics
 * (src/events/stats.ts). Called synchronously; an implementation must not throw.
 */
export interface SessionStats {
  accepted(m: AcceptedMessage): void;
  refused(r: Refusal): void;
  /** The session's first MAIL command: whether the session uses TLS at that point. */
  mailSession(tls: boolean): void;
}

/** Everything a session needs; the transport builds one per connection. */
export interface SessionOptions {
  id: string;
  listener: ListenerKind;
  config: Config;
  peer: { address: string; port: number };
  router: Router;
  sink: MessageSink;
  log: Logger;
  /** STARTTLS may be offered (a certificate is loaded and TLS is not yet active). */
  tlsAvailable: boolean;
  /** Set when the connection is already TLS (implicit TLS, RFC 8314). */
  tls?: TlsInfo;
  /** The resolver for SPF; without it no SPF check is made. */
  resolver?: Resolver;
  /** Accounts for AUTH (submission listeners only). */
  credentials?: CredentialStore;
  authGuard?: AuthGuard;
  rateLimiter?: RateLimiter;
  /** Where mail for other domains goes (authenticated or trusted senders only). */
  queue?: OutboundQueue;
  /** The peer is in relay.trusted_networks: it may relay without authentication. */
  trusted?: boolean;
  /** Active DKIM signing keys per local domain (RFC 6376), for mail we originate. */
  dkimKeys?: ReadonlyMap<string, readonly DkimSigningKey[]>;
  /**
   * An account reached its submission rate limit (the session answers 451 4.7.1 either way):
   * the server holds its queued mail and alerts the owner (`rate_limits.on_limit`).
   */
  onRateLimit?: (account: string, reason: string, ip: string) => void;
  /** An account logged in (AUTH succeeded) from `ip`: remembered for alerts. */
  onLogin?: (account: string, ip: string) => void;
  /**
   * Where the DMARC evaluation of each received message goes, for aggregate reports (RFC 7489
   * §7.2); see src/reports/evaluation_log.ts. Without it nothing is recorded.
   */
  dmarcLog?: { record(e: DmarcEvaluation): void };
  /** Rewrites the envelope sender of forwarded mail (SRS); absent with `forwarding.srs: false`. */
  srs?: { forward(sender: string): string };
  /** Where accepted messages and refusals are reported; without it nothing is. */
  stats?: SessionStats;
  now?: () => Date;
}

/** The client's EHLO or HELO (RFC 5321 §4.1.1.1). */
export interface Hello {
  verb: "EHLO" | "HELO";
  name: string;
}

/** What the session knows at the moment a phase's rules run; the session owns all of it. */
export interface SessionView {
  readonly options: SessionOptions;
  readonly now: () => Date;
  /** The EHLO/HELO, or null before it (and again after STARTTLS, RFC 3207 §4.2). */
  readonly hello: Hello | null;
  readonly tls: TlsInfo | undefined;
  /** The authenticated account (canonical address), RFC 4954; null before AUTH. */
  readonly user: string | null;
}
