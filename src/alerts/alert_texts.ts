/**
 * The words of each alert: what happened, since when, and the commands that fix it. Kept
 * together so that every alert reads the same way.
 *
 * @module
 */

import type { Alert } from "./alerter.ts";

const cfg = (configPath: string) => configPath.startsWith("(") ? "" : ` --config ${configPath}`;

/** An account reached its submission rate limit (the story's 1,007 mails). */
export function rateLimitAlert(o: {
  account: string;
  reason: string;
  since: Date;
  usage: { messages: number; recipients: number };
  held: number | null;
  logins: readonly { ip: string; logins: number; last: Date }[];
  configPath: string;
}): Alert {
  const c = cfg(o.configPath);
  const ips = o.logins.length === 0
    ? ["  (no login recorded in the last day)"]
    : o.logins.map((l) => `  ${l.ip}: ${l.logins} login(s), last ${l.last.toISOString()}`);
  return {
    key: `rate-limit:${o.account}`,
    subject: `${o.account} reached its sending limit` +
      (o.held !== null ? "; its queued mail is held" : ""),
    body: [
      `The account ${o.account} reached its sending limit (${o.reason}) at ${o.since.toISOString()}.`,
      `In the last hour it submitted ${o.usage.messages} message(s); in the last day ${o.usage.recipients} recipient(s).`,
      "New submissions get 451 4.7.1 until the limit allows them again.",
      o.held !== null
        ? `Its ${o.held} message(s) still waiting in the outbound queue are held: nothing more leaves.`
        : "Its mail already in the outbound queue is still being delivered (rate_limits.on_limit: defer).",
      "",
      "It logged in from:",
      ...ips,
      "",
      "If you did not send this mail, the password has leaked:",
      `  postie user lock ${o.account}${c}        # no more logins`,
      `  postie user passwd ${o.account}${c}      # a new password`,
      `  postie queue list${c}                     # look at what it sent`,
      `  postie queue delete ID${c}                # drop the spam, one by one`,
      "If the mail is legitimate:",
      `  postie queue release --account ${o.account}${c}`,
      "and raise rate_limits in the config if it happens often.",
    ].join("\n"),
  };
}

/** An account is locked out after too many failed logins. */
export function lockoutAlert(
  o: { account: string; failures: number; ip: string; windowSeconds: number; configPath: string },
): Alert {
  const c = cfg(o.configPath);
  return {
    key: `auth-lockout:${o.account}`,
    subject: `Password guessing on ${o.account}: logins refused for now`,
    body: [
      `${o.failures} failed logins for ${o.account} within ${o.windowSeconds} s, the last from ${o.ip}.`,
      "Further attempts are refused without checking the password until the window passes.",
      "If the owner of the account just mistyped, nothing needs doing. Otherwise:",
      `  postie user passwd ${o.account}${c}   # a strong new password`,
      `  postie user lock ${o.account}${c}     # if it may already be known`,
    ].join("\n"),
  };
}

/** The outbound queue is larger than `alerts.queue_size`. */
export function queueAlert(o: { size: number; limit: number; configPath: string }): Alert {
  const c = cfg(o.configPath);
  return {
    key: "queue-size",
    subject: `${o.size} messages wait in the outbound queue`,
    body: [
      `The outbound queue holds ${o.size} messages (alerts.queue_size is ${o.limit}).`,
      "Either receivers are not accepting our mail, or an account sends far more than usual.",
      `  postie queue list${c}    # who sends, and the last error of each recipient`,
      `  postie check${c}         # DNS, PTR and blocklists`,
    ].join("\n"),
  };
}

/** A share of delivery attempts got 5xx: we are being refused. */
export function bounceAlert(o: { permanent: number; total: number; share: number }): Alert {
  return {
    key: "bounce-share",
    subject: `Receivers refuse ${Math.round((100 * o.permanent) / o.total)}% of our mail`,
    body: [
      `In the last hour ${o.permanent} of ${o.total} delivery attempts got a 5xx reply (alerts.bounce_share is ${o.share}%).`,
      "That is what it looks like when our address or domain is blocklisted, or when SPF, DKIM",
      "or PTR are wrong. The replies are in the queue (postie queue list) and the DSNs; check:",
      "  postie check",
    ].join("\n"),
  };
}

/** Our address is on a DNS blocklist. */
export function dnsblAlert(o: { listed: readonly string[] }): Alert {
  return {
    key: `dnsbl:${o.listed.join(",")}`,
    subject: `Our address is on a blocklist: ${o.listed.join("; ")}`,
    body: [
      "A DNS blocklist lists an address this server sends from:",
      ...o.listed.map((l) => `  ${l}`),
      "Receivers that use it refuse our mail. Find out why (an open relay, a leaked account:",
      "postie queue list, postie relay-check), stop the cause, then ask the list for removal",
      "(each list has a lookup page). postie check shows the lists again.",
    ].join("\n"),
  };
}

/** Free space in data_dir is low. */
export function diskAlert(o: { dataDir: string; freeMb: number; minMb: number }): Alert {
  return {
    key: "disk",
    subject: `Only ${o.freeMb} MB free in ${o.dataDir}`,
    body: [
      `${o.dataDir} has ${o.freeMb} MB free (alerts.min_free_mb is ${o.minMb}).`,
      "When it is full, postie refuses new mail with 452 4.3.1 (nothing accepted is lost),",
      "but mail stops arriving. Free space or grow the disk; large mailboxes are in mail/.",
    ].join("\n"),
  };
}
