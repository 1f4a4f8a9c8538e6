/**
 * The end of a mail transaction: the message content (from DATA or the last BDAT chunk) is
 * refused or accepted. Refused when too big or when it has bare CR, bare LF or NUL (smuggling,
 * RFC 5321 §2.3.8), or by the submission and DMARC rules; accepted once it is durable in the
 * outbound queue and the local mailboxes, with its trace header fields (Return-Path,
 * Delivered-To, Received, Authentication-Results, DKIM-Signature) above it.
 *
 * @module
 */

import { formatMailbox } from "../smtp/address.ts";
import { type DataResult, hasFlaws } from "../smtp/data.ts";
import { authservIdOf, removeHeaderFields } from "../smtp/headers.ts";
import { refusal, type Reply, reply } from "../smtp/reply.ts";
import { DeliveryError } from "../delivery/maildir.ts";
import type { SessionView } from "./session_options.ts";
import type { Transaction } from "./transaction.ts";
import { checkFromHeader, submissionFixups } from "./submission_policy.ts";
import { authenticationHeaders, receivedHeader } from "./trace_headers.ts";
import {
  appliedDisposition,
  applyDmarc,
  recordEvaluation,
  signOutbound,
  verifyInbound,
} from "./dkim_dmarc.ts";
import {
  enqueueForwards,
  forwardsAfterDmarc,
  loopRefusal,
  splitRecipients,
} from "./forward_message.ts";

/**
 * Refuse or accept the content of `tx`, answering once for the whole message (RFC 5321
 * §4.1.1.4). `newId` names the message (its queue id); it is called only for content that
 * passed the size, line-ending and submission checks. The 250 is given only after the message
 * was handed to the queue and the sink (RFC 5321 §6.1). Every outcome is logged.
 */
export async function acceptMessage(
  view: SessionView,
  tx: Transaction,
  newId: () => string,
  { parts, size, tooBig, flaws }: DataResult,
): Promise<Reply> {
  const { options: o, user } = view;
  const from = tx.from ? formatMailbox(tx.from) : "";
  const rcpts = tx.rcpts.map((r) =>
    r.mailbox === "postmaster" ? "postmaster" : formatMailbox(r.mailbox)
  );
  const fail = (r: Reply, reason: string): Reply => {
    o.log.info("message rejected: {reason}", {
      event: "message_rejected",
      reason,
      from,
      rcpts,
      size,
      code: r.code,
    });
    return r;
  };
  if (tooBig) {
    return fail(
      refusal("too_big", 552, "5.3.4", "Message size exceeds fixed maximum message size"),
      "size",
    );
  }
  if (hasFlaws(flaws)) {
    // SMUGGLING.md: refuse content with bare CR / bare LF / NUL (RFC 5321 §2.3.8).
    const what = [flaws.bareCR && "bare CR", flaws.bareLF && "bare LF", flaws.nul && "NUL"]
      .filter(Boolean).join(", ");
    return fail(
      refusal(
        "bad_line_endings",
        550,
        "5.6.0",
        `Message contains ${what}; lines must end in CRLF (RFC 5321 2.3.8)`,
      ),
      "line endings",
    );
  }
  let fixups = "";
  if (user) {
    const problem = checkFromHeader(view, user, parts);
    if (problem) return fail(problem, "From: not owned");
    fixups = submissionFixups(view, parts);
  }
  const queueId = newId();
  const remote = tx.rcpts.filter((r) => r.resolution === null).map((r) =>
    rcpts[tx.rcpts.indexOf(r)]!
  );
  const { boxes, forwards: allForwards } = splitRecipients(tx.rcpts.map((r) => r.resolution));
  let forwards = allForwards;
  const received = receivedHeader(
    view,
    queueId,
    tx.rcpts.length === 1 ? rcpts[0] : undefined,
    tx.smtputf8,
  );
  // RFC 8601 §5: nobody else may speak for our authserv-id.
  const ours = o.config.authservId.toLowerCase();
  const content = removeHeaderFields(
    parts,
    (name, value) => name === "authentication-results" && authservIdOf(value) === ours,
  );
  if (forwards.length > 0) {
    const looped = loopRefusal(view, forwards, parts);
    if (looped) return fail(looped, "mail loop");
  }
  let authResults = "";
  let signature = "";
  let verdicts: Record<string, string> = {};
  if (tx.spf) {
    // Mail from the outside: verify DKIM (RFC 6376 §6), then DMARC (RFC 7489 §6.6).
    const verdict = await verifyInbound(view, tx, content);
    verdicts = {
      spf: tx.spf.mailFrom.result,
      spf_helo: tx.spf.helo.result,
      dkim: verdict.dkim.map((d) => `${d.domain}:${d.result}`).join(",") || "none",
      dmarc: verdict.dmarc?.result ?? "none",
    };
    authResults = authenticationHeaders(view, tx, verdict.dkim, verdict.dmarc);
    const refusal = applyDmarc(view, verdict.dmarc, boxes);
    recordEvaluation(view, tx, verdict, appliedDisposition(verdict.dmarc, refusal, boxes));
    if (refusal) return fail(refusal, "DMARC policy");
    if (forwards.length > 0) {
      const d = forwardsAfterDmarc(view, forwards, verdict.dmarc);
      if ("refusal" in d) return fail(d.refusal, "DMARC policy (forward)");
      forwards = d.send;
    }
  } else if (user || o.trusted) {
    // Mail we originate: sign it (RFC 6376 §5) with the From domain's keys when local.
    signature = await signOutbound(view, fixups, content, from);
  }
  const trace = authResults + received + signature + fixups;
  const returnPath = `Return-Path: <${from}>\r\n`;
  let outboundId: string | undefined;
  let forwardIds: string[] = [];
  try {
    if (forwards.length > 0) {
      forwardIds = await enqueueForwards(view, forwards, from, trace, content);
    }
    if (remote.length > 0) {
      // Durable in the queue before the 250, like local delivery (RFC 5321 §6.1).
      outboundId = await o.queue!.enqueue({
        sender: from,
        recipients: remote,
        ...(user ? { account: user } : {}),
        header: trace,
        content,
      });
    }
    if (boxes.size > 0) {
      await o.sink.deliver(
        [...boxes.values()],
        (box) => `${returnPath}Delivered-To: ${box.address}\r\n${trace}`,
        content,
      );
    }
  } catch (e) {
    if (e instanceof DeliveryError) {
      o.log.error("delivery failed: {error}", {
        event: "delivery_failed",
        error: e.message,
      });
      return fail(refusal("delivery_failed", e.code, e.enhanced, e.message), "delivery failed");
    }
    throw e;
  }
  if (user) o.rateLimiter?.record(user, tx.rcpts.length);
  if (o.stats) {
    // Each local account once: the mailboxes it was stored in, the addresses it went on from.
    const local = new Map<string, string>();
    tx.rcpts.forEach((r, i) => {
      for (const b of r.resolution?.mailboxes ?? []) {
        if (boxes.has(b.address) && !local.has(b.address)) local.set(b.address, rcpts[i]!);
      }
    });
    for (const f of forwards) if (!f.srsBounce && !local.has(f.via)) local.set(f.via, f.via);
    o.stats.accepted({
      queueId,
      from,
      ip: o.peer.address,
      ...(user ? { user } : {}),
      local: [...local].map(([account, to]) => ({ account, to })),
      remote,
      ...(outboundId ? { outboundId } : {}),
    });
  }
  o.log.info("message accepted {id}", {
    event: "message_accepted",
    id: queueId,
    from,
    rcpts,
    mailboxes: [...boxes.keys()],
    size,
    ...(user ? { user } : {}),
    ...(outboundId ? { queued: outboundId, remote } : {}),
    ...(forwardIds.length > 0
      ? { forwarded: forwards.map((f) => `${f.via}->${f.target}`), forwardIds }
      : {}),
    ...verdicts,
  });
  return reply(250, "2.0.0", `Ok: queued as ${queueId}`);
}
