/**
 * The envelope rules of a mail transaction: MAIL FROM (RFC 5321 §4.1.1.2, its ESMTP
 * parameters, SPF at MAIL) and RCPT TO (§4.1.1.3: recipient lookup and the relay decision).
 * The session checks the command sequence first; these functions say whether the sender or
 * the recipient is accepted.
 *
 * @module
 */

import { refusal, type Reply, reply, SmtpReplyError } from "../smtp/reply.ts";
import { AddressSyntaxError, formatMailbox } from "../smtp/address.ts";
import { parsePathArgument, type PathArgument } from "../smtp/path_argument.ts";
import { checkTransaction } from "../spf/spf.ts";
import type { Hello, SessionView } from "./session_options.ts";
import type { Transaction } from "./transaction.ts";
import { checkRecipientRate, checkSubmitter } from "./submission_policy.ts";
import type { ForwardTarget } from "../delivery/router.ts";

/**
 * MAIL FROM:<path> [parameters], after EHLO/HELO and outside a transaction. Returns the reply,
 * and the new transaction when the sender is accepted. A bad path throws
 * {@link SmtpReplyError} (501 5.1.3).
 */
export async function mailFrom(
  view: SessionView,
  hello: Hello,
  arg: string,
): Promise<{ reply: Reply; tx?: Transaction }> {
  const { options: o, user } = view;
  const refuse = (r: Reply) => ({ reply: r });
  if (o.listener !== "smtp" && !user) {
    // Submission (RFC 6409 §4.3): authentication comes first.
    return refuse(refusal("auth_required", 530, "5.7.0", "Authentication required"));
  }
  if (!/^FROM:/i.test(arg)) return refuse(reply(501, "5.5.4", "Syntax: MAIL FROM:<address>"));
  const parsed = parsePath(arg.slice(5), true);
  let smtputf8 = false;
  for (const [key, value] of parsed.params) {
    if (hello.verb === "HELO") {
      return refuse(reply(555, "5.5.4", "ESMTP parameters need EHLO"));
    }
    switch (key) {
      case "SIZE": {
        // RFC 1870 §6.2
        if (typeof value !== "string" || !/^\d{1,20}$/.test(value)) {
          return refuse(reply(501, "5.5.4", "Invalid SIZE value"));
        }
        if (Number(value) > o.config.limits.maxMessageBytes) {
          return refuse(
            refusal("too_big", 552, "5.3.4", "Message size exceeds fixed maximum message size"),
          );
        }
        break;
      }
      case "BODY":
        // RFC 6152 §3; BINARYMIME is not offered.
        if (
          value !== "7BIT" && value !== "8BITMIME" && value !== "7bit" && value !== "8bitmime"
        ) {
          return refuse(reply(501, "5.5.4", "Unsupported BODY type"));
        }
        break;
      case "AUTH":
        // RFC 4954 §5: accepted and ignored from an authenticated client.
        if (!user) return refuse(reply(555, "5.5.4", "Unsupported parameter AUTH"));
        break;
      case "SMTPUTF8":
        // RFC 6531 §3.4
        if (value !== true) return refuse(reply(501, "5.5.4", "SMTPUTF8 takes no value"));
        smtputf8 = true;
        break;
      default:
        return refuse(reply(555, "5.5.4", `Unsupported parameter ${key}`));
    }
  }
  const from = parsed.mailbox === "postmaster" ? null : parsed.mailbox;
  if (from?.utf8 && !smtputf8) {
    // RFC 6531 §3.5
    return refuse(
      refusal("bad_address", 553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter"),
    );
  }
  const tx: Transaction = { from, smtputf8, rcpts: [] };
  const shown = from ? formatMailbox(from) : "";
  if (user) {
    const refusal = checkSubmitter(view, user, shown);
    if (refusal) return refuse(refusal);
  }
  if (o.resolver && !user && !o.trusted) {
    const refusal = await checkSpf(view, hello, tx, shown);
    if (refusal) return refuse(refusal);
  }
  // Debug only: the accepted message's line carries the sender and the verdicts.
  o.log.debug("mail from <{from}>", {
    event: "mail",
    from: shown,
    ...(tx.spf ? { spf: tx.spf.mailFrom.result, spf_helo: tx.spf.helo.result } : {}),
  });
  return { reply: reply(250, "2.1.0", "Ok"), tx };
}

// RFC 7208 §2.3, §2.4: check HELO and MAIL FROM (a null sender is checked as
// postmaster@<helo>). The verdict goes into the header; policy decides about refusing.
async function checkSpf(
  view: SessionView,
  hello: Hello,
  tx: Transaction,
  from: string,
): Promise<Reply | undefined> {
  const { config, log } = view.options;
  tx.spf = await checkTransaction(view.options.peer.address, from === "" ? null : from, {
    resolver: view.options.resolver!,
    helo: hello.name,
    receivingHost: config.hostname,
  });
  const r = tx.spf.mailFrom;
  if (r.result === "fail" && config.spf.rejectFail) {
    log.info("SPF fail for <{from}>: refused", {
      event: "spf_reject",
      from,
      reason: r.reason,
    });
    // RFC 7372 §3.2: X.7.23 "SPF validation failed"; RFC 7208 §8.4 suggests 550.
    const why = (r.explanation ?? "").replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
    return refusal("spf_fail", 550, "5.7.23", `SPF fail for ${r.domain}: ${why}`);
  }
  if (r.result === "temperror" && config.spf.deferTemperror) {
    // RFC 7208 §8.6: 451 4.4.3
    return refusal(
      "spf_temperror",
      451,
      "4.4.3",
      `SPF temporary error for ${r.domain}, try again later`,
    );
  }
  return undefined;
}

function parsePath(text: string, reverse: boolean): PathArgument {
  try {
    return parsePathArgument(text, { reverse });
  } catch (e) {
    if (e instanceof AddressSyntaxError) {
      throw new SmtpReplyError(501, "5.1.3", `Bad address syntax: ${e.message}`);
    }
    throw e;
  }
}

/**
 * RCPT TO:<path>, inside a transaction before any BDAT. Adds the recipient to `tx` when it is
 * accepted. A bad path throws {@link SmtpReplyError} (501 5.1.3).
 */
export function rcptTo(view: SessionView, tx: Transaction, arg: string): Reply {
  const { options: o, user } = view;
  if (!/^TO:/i.test(arg)) return reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
  const parsed = parsePath(arg.slice(3), false);
  if (parsed.params.size > 0) {
    const key = parsed.params.keys().next().value;
    return reply(555, "5.5.4", `Unsupported parameter ${key}`);
  }
  const mailbox = parsed.mailbox;
  if (mailbox === null) return refusal("bad_address", 501, "5.1.3", "Empty recipient");
  const shown = mailbox === "postmaster" ? "postmaster" : formatMailbox(mailbox);
  if (mailbox !== "postmaster" && mailbox.utf8 && !tx.smtputf8) {
    return refusal(
      "bad_address",
      553,
      "5.6.7",
      "Non-ASCII address requires the SMTPUTF8 parameter",
    );
  }
  if (tx.rcpts.length >= o.config.limits.maxRecipients) {
    // RFC 5321 §4.5.3.1.10
    return refusal("too_many_recipients", 452, "4.5.3", "Too many recipients");
  }
  const res = o.router.resolve(mailbox);
  switch (res.kind) {
    case "nonlocal": {
      // RFC 5321 §3.6.2 / RFC 2505: relaying needs authorization: an authenticated
      // account or a trusted network, nothing else (not MAIL FROM, not HELO). Decided per
      // recipient, at RCPT time, never accept-then-bounce.
      if ((!user && !o.trusted) || !o.queue || mailbox === "postmaster") {
        o.log.info("relay denied <{rcpt}>", { event: "rcpt_rejected", rcpt: shown });
        return refusal("relay_denied", 554, "5.7.1", `<${shown}>: Relay access denied`);
      }
      const limited = checkRecipientRate(view, tx.rcpts.length);
      if (limited) return limited;
      tx.rcpts.push({ mailbox, resolution: null });
      return reply(250, "2.1.5", "Ok");
    }
    case "unknown":
      o.log.info("unknown recipient <{rcpt}>: {reason}", {
        event: "rcpt_rejected",
        rcpt: shown,
        reason: res.reason,
      });
      return refusal(
        "unknown_recipient",
        550,
        "5.1.1",
        `<${shown}>: Recipient address rejected: User unknown`,
      );
    case "local": {
      const limited = checkRecipientRate(view, tx.rcpts.length);
      if (limited) return limited;
      if (res.forwards) {
        const refused = checkForwards(view, tx, shown, res.forwards);
        if (refused) return refused;
      }
      tx.rcpts.push({ mailbox, resolution: res });
      return reply(250, "2.1.5", "Ok");
    }
  }
}

/**
 * A recipient that forwards: the copy needs the queue; a bounce address of ours (SRS) takes
 * only bounces, which have the null sender (RFC 5321 §4.5.5), so that nobody can use it to
 * send to the address it stands for; and each target gets at most
 * `forwarding.max_per_hour` messages (a mail bomb to a forward does not flood the target).
 */
function checkForwards(
  view: SessionView,
  tx: Transaction,
  shown: string,
  forwards: readonly ForwardTarget[],
): Reply | undefined {
  const o = view.options;
  if (!o.queue) {
    return refusal(
      "forward_unavailable",
      550,
      "5.7.1",
      `<${shown}>: Forwarding is not available here`,
    );
  }
  for (const f of forwards) {
    if (f.srsBounce) {
      if (tx.from !== null) {
        o.log.info("SRS address <{rcpt}> refused for a sender that is not null", {
          event: "rcpt_rejected",
          rcpt: shown,
        });
        return refusal(
          "srs_not_bounce",
          550,
          "5.1.1",
          `<${shown}>: This bounce address takes only bounces`,
        );
      }
      continue;
    }
    const used = o.rateLimiter?.usage(forwardKey(f.target)).messages ?? 0;
    if (used >= o.config.forwarding.maxPerHour) {
      o.log.warning("forwarding limit reached for {via} -> {target}", {
        event: "forward_limited",
        via: f.via,
        target: f.target,
        messages: used,
      });
      return refusal(
        "forward_rate_limited",
        451,
        "4.7.1",
        `<${shown}>: Forwarding rate limit reached, try again later`,
      );
    }
  }
  return undefined;
}

/** The rate limiter's key for the messages forwarded to `target` (never an account name). */
export function forwardKey(target: string): string {
  return `forward:${target.toLowerCase()}`;
}
