/**
 * The rules for mail from an authenticated user (message submission, RFC 6409): the envelope
 * sender and the From: header must name the user's own addresses, the hourly message and daily
 * recipient rates hold, and a missing Date or Message-ID is added.
 *
 * @module
 */

import { refusal, type Reply } from "../smtp/reply.ts";
import { headerFieldNames, headerValues } from "../smtp/headers.ts";
import { headerSafe, rfc5322Date } from "../smtp/header_text.ts";
import { fromAddresses, mayUseAddress } from "../policy/senders.ts";
import type { SessionView } from "./session_options.ts";

/**
 * Submission rules at MAIL: the sender (`""` for the null sender) must be the user's, and the
 * hourly message rate holds. Returns the refusal, or undefined.
 */
export function checkSubmitter(view: SessionView, user: string, from: string): Reply | undefined {
  const { config, router, rateLimiter, log } = view.options;
  if (from !== "" && !mayUseAddress(config, router, user, from)) {
    log.warning("sender <{from}> not owned by {user}", {
      event: "sender_rejected",
      from,
      user,
    });
    return refusal(
      "sender_not_owned",
      553,
      "5.7.1",
      `Sender address <${from}> is not owned by ${user}`,
    );
  }
  const v = rateLimiter?.checkMessage(user);
  if (v && !v.ok) {
    log.warning("rate limit for {user}: {reason}", {
      event: "rate_limited",
      user,
      reason: v.reason,
    });
    view.options.onRateLimit?.(user, v.reason, view.options.peer.address);
    return refusal("rate_limited", 451, "4.7.1", `Rate limit: ${v.reason}; try again later`);
  }
  if (v?.warn) {
    log.warning("{user} is near the hourly message limit", {
      event: "rate_warning",
      user,
    });
  }
  return undefined;
}

/**
 * The daily recipient rate at RCPT, for an authenticated user with `accepted` recipients so
 * far in the transaction. Returns the refusal, or undefined (also when nobody is logged in).
 */
export function checkRecipientRate(view: SessionView, accepted: number): Reply | undefined {
  const { user } = view;
  const { rateLimiter, log } = view.options;
  if (!user || !rateLimiter) return undefined;
  const v = rateLimiter.checkRecipient(user, accepted);
  if (!v.ok) {
    log.warning("rate limit for {user}: {reason}", {
      event: "rate_limited",
      user,
      reason: v.reason,
    });
    if (!v.permanent) view.options.onRateLimit?.(user, v.reason, view.options.peer.address);
    return v.permanent
      ? refusal("rate_limited", 550, "5.7.1", `Rate limit: ${v.reason}`)
      : refusal("rate_limited", 451, "4.7.1", `Rate limit: ${v.reason}; try again later`);
  }
  if (v.warn) {
    log.warning("{user} is near the daily recipient limit", {
      event: "rate_warning",
      user,
    });
  }
  return undefined;
}

/** The From: header of a submission must name only the user's addresses. */
export function checkFromHeader(
  view: SessionView,
  user: string,
  parts: readonly Uint8Array[],
): Reply | undefined {
  const { config, router } = view.options;
  const froms = headerValues(parts, "from").flatMap(fromAddresses);
  if (froms.length === 0) {
    return refusal("no_from", 550, "5.6.0", "Message has no From: header field");
  }
  for (const a of froms) {
    if (!mayUseAddress(config, router, user, a)) {
      return refusal(
        "sender_not_owned",
        553,
        "5.7.1",
        `From: address <${headerSafe(a)}> is not owned by ${user}`,
      );
    }
  }
  return undefined;
}

/** RFC 6409 §8.2, §8.3: the Date and Message-ID fields to add when the client did not. */
export function submissionFixups(view: SessionView, parts: readonly Uint8Array[]): string {
  const names = headerFieldNames(parts);
  let out = "";
  if (!names.has("date")) out += `Date: ${rfc5322Date(view.now())}\r\n`;
  if (!names.has("message-id")) {
    const rand = crypto.getRandomValues(new Uint8Array(8)).reduce(
      (acc, b) => acc + b.toString(16).padStart(2, "0"),
      "",
    );
    out += `Message-ID: <${rand}.${view.options.id}@${view.options.config.hostname}>\r\n`;
  }
  return out;
}
