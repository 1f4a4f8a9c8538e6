/**
 * Forwarding the careful way, at the end of DATA: a copy of a message for a local address goes
 * on to an external target (an alias target, an account's forward) or, for a bounce to one of
 * our SRS addresses, back to the sender it stands for.
 *
 * - Loops (RFC 5321 §6.3): a message that carries our own `Delivered-To` for a forwarding
 *   address, that has been received by this host several times, or that has 100 `Received`
 *   fields is refused with `554 5.4.6`: the previous server bounces it once, and it never
 *   cycles between two servers.
 * - Only mail that passed our checks is forwarded: mail failing DMARC with a policy of
 *   quarantine or reject (RFC 7489 §6.6.2) is not (forwarding it would pass spoofed mail on
 *   under our name). It is kept in Junk where the forwarding account keeps a copy, otherwise
 *   refused with `550 5.7.1`.
 * - The copy is the message unmodified below our trace fields, so the author's DKIM signature
 *   still verifies at the target and DMARC passes there by DKIM alignment. The envelope sender
 *   becomes our SRS address (SPF then passes at the target for our domain), and we add our own
 *   DKIM signature for the primary domain (the target can tell a forwarder it trusts).
 *
 * @module
 */

import type { DmarcOutcome } from "../dmarc/dmarc.ts";
import type { ForwardTarget } from "../delivery/router.ts";
import type { MailboxRef } from "../delivery/maildir.ts";
import { signMessage } from "../dkim/mod.ts";
import { headerValues } from "../smtp/headers.ts";
import { refusal, type Reply } from "../smtp/reply.ts";
import { concat } from "../util/bytes.ts";
import type { SessionView } from "./session_options.ts";
import { forwardKey } from "./envelope.ts";

/** RFC 5321 §6.3: "normally at least 100 Received entries". */
export const MAX_RECEIVED = 100;
/** A message this host received this often before has looped whatever its other fields say. */
const MAX_OWN_HOPS = 4;

/**
 * Whether the message has looped through us (see the module documentation); the refusal then.
 */
export function loopRefusal(
  view: SessionView,
  forwards: readonly ForwardTarget[],
  content: readonly Uint8Array[],
): Reply | undefined {
  const host = view.options.config.hostname.toLowerCase();
  const received = headerValues(content, "received");
  const ours =
    received.filter((r) => new RegExp(`\\bby\\s+${host.replaceAll(".", "\\.")}\\b`, "i").test(r))
      .length;
  const delivered = new Set(
    headerValues(content, "delivered-to").map((v) => v.trim().toLowerCase()),
  );
  const looped = forwards.find((f) => delivered.has(f.via.toLowerCase()));
  if (received.length < MAX_RECEIVED && ours < MAX_OWN_HOPS && !looped) return undefined;
  view.options.log.warning("mail loop: {why}", {
    event: "mail_loop",
    why: looped
      ? `Delivered-To: ${looped.via} is already there`
      : `${received.length} Received fields, ${ours} of them ours`,
  });
  return refusal(
    "mail_loop",
    554,
    "5.4.6",
    `Routing loop detected: the message has passed through ${host} before (RFC 5321 6.3)`,
  );
}

/**
 * The DMARC rule for forwards. Returns a refusal, or the forwards to send (none when every
 * forwarding address keeps a copy, which applyDmarc has put into Junk).
 */
export function forwardsAfterDmarc(
  view: SessionView,
  forwards: readonly ForwardTarget[],
  dmarc: DmarcOutcome | null,
): { refusal: Reply } | { send: ForwardTarget[] } {
  if (!dmarc || dmarc.result !== "fail" || dmarc.disposition === "none") {
    return { send: [...forwards] };
  }
  const { config } = view.options;
  const modeOf = (via: string) => {
    const domain = via.slice(via.lastIndexOf("@") + 1);
    return config.dmarc.domains.get(domain) ?? config.dmarc.mode;
  };
  // "monitor" records only: its forwards go on as before.
  const send = forwards.filter((f) => f.srsBounce || modeOf(f.via) === "monitor");
  const held = forwards.filter((f) => !send.includes(f));
  if (held.some((f) => !f.keepCopy)) {
    return {
      refusal: refusal(
        "dmarc_reject",
        550,
        "5.7.1",
        `Not forwarded: the message fails the DMARC policy of ${dmarc.policyDomain} (RFC 7489)`,
      ),
    };
  }
  if (held.length > 0) {
    view.options.log.info("not forwarded (DMARC {disposition}), kept in Junk: {targets}", {
      event: "forward_withheld",
      disposition: dmarc.disposition,
      targets: held.map((f) => f.target).join(","),
    });
  }
  return { send };
}

/** The envelope sender of a forwarded copy (RFC 5321 §3.9.1 leaves it to the forwarder). */
function forwardSender(view: SessionView, from: string): string {
  if (from === "") return "";
  const domain = from.slice(from.lastIndexOf("@") + 1).toLowerCase();
  // Our own domains' SPF already names us; SRS only for other senders.
  if (view.options.router.isLocalDomain(domain)) return from;
  return view.options.srs ? view.options.srs.forward(from) : from;
}

/**
 * Put the forwarded copies into the outbound queue, one per forwarding address (its
 * `Delivered-To` above our trace fields). Durable before the 250 like any queued mail. They
 * count toward the per-target forwarding limit, not toward any account's submission limit.
 * @returns the queue ids.
 */
export async function enqueueForwards(
  view: SessionView,
  forwards: readonly ForwardTarget[],
  from: string,
  trace: string,
  content: readonly Uint8Array[],
): Promise<string[]> {
  const o = view.options;
  const byVia = new Map<string, ForwardTarget[]>();
  for (const f of forwards) byVia.set(f.via, [...(byVia.get(f.via) ?? []), f]);
  const signature = await forwarderSignature(view, content);
  const ids: string[] = [];
  for (const [via, list] of byVia) {
    const bounce = list.every((f) => f.srsBounce);
    ids.push(
      await o.queue!.enqueue({
        // A bounce keeps the null sender (RFC 5321 §4.5.5); it never bounces again.
        sender: bounce ? "" : forwardSender(view, from),
        recipients: list.map((f) => f.target),
        header: `${bounce ? "" : `Delivered-To: ${via}\r\n`}${trace}${bounce ? "" : signature}`,
        content,
      }),
    );
    for (const f of list) if (!f.srsBounce) o.rateLimiter?.record(forwardKey(f.target), 1);
  }
  return ids;
}

// Our DKIM signature for the primary domain over the message as it is (RFC 6376 §5).
async function forwarderSignature(
  view: SessionView,
  content: readonly Uint8Array[],
): Promise<string> {
  const domain = view.options.router.primaryDomain;
  const keys = view.options.dkimKeys?.get(domain);
  if (!keys || keys.length === 0) return "";
  try {
    return await signMessage(concat([...content]), keys, { domain, now: view.now() });
  } catch (e) {
    view.options.log.warning("forwarded copy not signed: {error}", {
      event: "dkim_sign_failed",
      error: String(e),
    });
    return "";
  }
}

/** The mailboxes and forwards of a transaction's recipients. */
export function splitRecipients(
  resolutions: readonly ({ mailboxes: MailboxRef[]; forwards?: ForwardTarget[] } | null)[],
): { boxes: Map<string, MailboxRef>; forwards: ForwardTarget[] } {
  const boxes = new Map<string, MailboxRef>();
  const forwards = new Map<string, ForwardTarget>();
  for (const r of resolutions) {
    if (!r) continue;
    for (const b of r.mailboxes) boxes.set(b.address, b);
    for (const f of r.forwards ?? []) if (!forwards.has(f.target)) forwards.set(f.target, f);
  }
  return { boxes, forwards: [...forwards.values()] };
}
