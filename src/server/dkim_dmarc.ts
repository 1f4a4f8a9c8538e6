/**
 * DKIM and DMARC at the end of a message: verifying every signature and the From domain's
 * DMARC policy for mail from the outside (RFC 6376 §6, RFC 7489 §6.6), applying that policy
 * per recipient domain, and signing mail we originate (RFC 6376 §5).
 *
 * @module
 */

import type { MailboxRef } from "../delivery/maildir.ts";
import { type DkimResult, signMessage, verifyMessage } from "../dkim/mod.ts";
import {
  aligned,
  asciiDomain,
  authorDomain,
  type DmarcOutcome,
  type DmarcPolicy,
  evaluateDmarc,
} from "../dmarc/dmarc.ts";
import { headerValues } from "../smtp/headers.ts";
import { refusal, type Reply } from "../smtp/reply.ts";
import type { SessionView } from "./session_options.ts";
import type { Transaction } from "./transaction.ts";
import { concat } from "../util/bytes.ts";

/** What {@linkcode verifyInbound} found. */
export interface InboundVerdict {
  dkim: DkimResult[];
  dmarc: DmarcOutcome | null;
  /** The RFC5322.From domain, when there is exactly one. */
  fromDomain?: string;
}

/**
 * The DKIM results of every signature, and DMARC for the From domain. Needs the session's
 * resolver and the transaction's SPF verdict (made at MAIL).
 */
export async function verifyInbound(
  view: SessionView,
  tx: Transaction,
  content: readonly Uint8Array[],
): Promise<InboundVerdict> {
  const resolver = view.options.resolver!;
  const message = concat(content);
  const dkim = await verifyMessage(message, { resolver, now: view.now() });
  const author = authorDomain(headerValues(content, "from"));
  if (author.domain === null) {
    return {
      dkim,
      dmarc: { result: "permerror", disposition: "none", reason: author.reason },
    };
  }
  const spf = tx.spf!;
  const spfDomain = spf.identity.slice(spf.identity.lastIndexOf("@") + 1);
  const dmarc = await evaluateDmarc({
    fromDomain: author.domain,
    spf: { result: spf.mailFrom.result, domain: spfDomain },
    dkim: dkim.map((d) => ({ result: d.result, domain: d.domain })),
  }, { resolver });
  dmarc.policyDomain ??= author.domain;
  // A pass (or no policy) is in the message_accepted line; anything else gets its own line.
  const level = dmarc.result === "pass" || dmarc.result === "none" ? "debug" : "info";
  view.options.log[level]("DMARC {result} for {domain}", {
    event: "dmarc",
    result: dmarc.result,
    domain: author.domain,
    disposition: dmarc.disposition,
    dkim: dkim.map((d) => `${d.domain}:${d.result}`),
  });
  return { dkim, dmarc, fromDomain: author.domain };
}

/**
 * Record the DMARC evaluation of a received message for the aggregate reports (RFC 7489
 * §7.2) when the session has a log and a policy record applied (pass or fail). `applied` is
 * what was done: the disposition after our local dmarc mode (RFC 7489 §6.7 allows a local
 * policy; it is reported as `local_policy`).
 */
export function recordEvaluation(
  view: SessionView,
  tx: Transaction,
  verdict: InboundVerdict,
  applied: DmarcPolicy,
): void {
  const sink = view.options.dmarcLog;
  const { dmarc, fromDomain } = verdict;
  if (!sink || !dmarc?.record || !dmarc.policyDomain || !fromDomain || !tx.spf) return;
  const from = asciiDomain(fromDomain) ?? fromDomain.toLowerCase();
  const r = dmarc.record;
  const p = r.p ?? "none";
  const spf = tx.spf;
  const spfDomain = spf.identity.slice(spf.identity.lastIndexOf("@") + 1).toLowerCase();
  const pass = (s: string) => s.trim().toLowerCase() === "pass";
  const dkimAligned = verdict.dkim.some((d) => pass(d.result) && aligned(d.domain, from, r.adkim));
  const spfAligned = pass(spf.mailFrom.result) && aligned(spfDomain, from, r.aspf);
  // RFC 7489 Appendix C PolicyOverrideType: pct= sampling, or our own dmarc mode.
  const override = applied !== dmarc.disposition
    ? "local_policy"
    : dmarc.sampledOut
    ? "sampled_out"
    : undefined;
  try {
    sink.record({
      time: view.now(),
      sourceIp: view.options.peer.address,
      headerFrom: from,
      envelopeFrom: tx.from ? spfDomain : "",
      policyDomain: dmarc.policyDomain,
      policy: { p, sp: r.sp ?? p, pct: r.pct, adkim: r.adkim, aspf: r.aspf },
      rua: r.rua,
      disposition: applied,
      ...(override ? { override } : {}),
      dkimAligned: dkimAligned ? "pass" : "fail",
      spfAligned: spfAligned ? "pass" : "fail",
      dkim: verdict.dkim.map((d) => ({
        domain: d.domain.toLowerCase(),
        selector: d.selector,
        result: d.result,
      })),
      spf: { domain: spfDomain, scope: tx.from ? "mfrom" : "helo", result: spf.mailFrom.result },
    });
  } catch (e) {
    // A full disk or a locked database must not cost the message.
    view.options.log.warning("DMARC evaluation not recorded: {error}", {
      event: "dmarc_record_failed",
      error: String(e),
    });
  }
}

/**
 * The sender domain's DMARC policy, as each recipient domain's dmarc mode allows: reject
 * (550 5.7.1) only when every mailbox would reject; otherwise quarantined mailboxes get the
 * message in their Junk folder (`boxes` is updated in place).
 */
export function applyDmarc(
  view: SessionView,
  dmarc: DmarcOutcome | null,
  boxes: Map<string, MailboxRef>,
): Reply | undefined {
  if (!dmarc || dmarc.result !== "fail" || dmarc.disposition === "none") return undefined;
  const { config } = view.options;
  let rejectAll = boxes.size > 0;
  for (const [key, box] of boxes) {
    const mode = config.dmarc.domains.get(box.domain) ?? config.dmarc.mode;
    if (mode === "monitor") {
      rejectAll = false;
      continue;
    }
    if (dmarc.disposition === "reject" && mode === "enforce") continue;
    rejectAll = false;
    boxes.set(key, { ...box, folder: "Junk" });
  }
  if (rejectAll) {
    return refusal(
      "dmarc_reject",
      550,
      "5.7.1",
      `Message rejected by the DMARC policy of ${dmarc.policyDomain} (RFC 7489)`,
    );
  }
  return undefined;
}

/**
 * What {@linkcode applyDmarc} did, as one disposition for the aggregate report: reject when
 * it refused the message, quarantine when some mailbox got it in Junk, else none (a failing
 * message without local mailboxes keeps the policy's disposition).
 */
export function appliedDisposition(
  dmarc: DmarcOutcome | null,
  refusal: Reply | undefined,
  boxes: ReadonlyMap<string, MailboxRef>,
): DmarcPolicy {
  if (!dmarc) return "none";
  if (refusal) return "reject";
  if (dmarc.result !== "fail" || dmarc.disposition === "none" || boxes.size === 0) {
    return dmarc.disposition;
  }
  return [...boxes.values()].some((b) => b.folder === "Junk") ? "quarantine" : "none";
}

/**
 * DKIM-Signature fields for mail we originate: the From domain's keys when it is local, else
 * the envelope sender's domain's; "" when neither has keys (or signing fails, which is logged).
 * `fixups` are the header fields the submission adds above `content`.
 */
export async function signOutbound(
  view: SessionView,
  fixups: string,
  content: readonly Uint8Array[],
  from: string,
): Promise<string> {
  const keys = view.options.dkimKeys;
  if (!keys) return "";
  const author = authorDomain(headerValues(content, "from"));
  const envelope = from.slice(from.lastIndexOf("@") + 1).toLowerCase();
  const domain = author.domain && keys.has(author.domain)
    ? author.domain
    : keys.has(envelope)
    ? envelope
    : undefined;
  if (!domain) return "";
  const message = concat([new TextEncoder().encode(fixups), ...content]);
  try {
    return await signMessage(message, keys.get(domain)!, { domain, now: view.now() });
  } catch (e) {
    view.options.log.warning("not signed: {error}", {
      event: "dkim_sign_failed",
      error: String(e),
    });
    return "";
  }
}
