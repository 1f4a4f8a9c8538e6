/**
 * The statistics hooks of the SMTP sessions and the delivery worker, made of the event log
 * and the metrics: what a session or the worker reports becomes events (src/events/event_log.ts)
 * and counter increments (src/metrics/metrics.ts). Nothing here throws at its caller: a
 * failure is logged and forgotten.
 *
 * - An accepted message: a "received" event per local account it reached (`to` = the
 *   recipient that led there) and a "sent" event per external recipient (`account` = the
 *   submitter, `queueId` = the outbound queue id that the delivery events carry too); the
 *   accepted counter once per message and direction (inbound, outbound).
 * - A refusal: a "rejected" event and the rejected counter by reason.
 * - A session's first MAIL: the inbound TLS counter (one count per session that sent MAIL).
 * - A delivery attempt: a "delivered", "deferred" or "bounced" event per recipient, the
 *   attempts counter; the outbound TLS counter once per delivery that reached a server.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { AcceptedMessage, Refusal, SessionStats } from "../server/session_options.ts";
import type { DeliveryAttempt, DeliveryStats } from "../queue/worker.ts";
import type { EventLog } from "./event_log.ts";
import type { Metrics } from "../metrics/metrics.ts";

function guarded<A extends unknown[]>(log: Logger, fn: (...a: A) => void): (...a: A) => void {
  return (...a: A) => {
    try {
      fn(...a);
    } catch (e) {
      log.warning("statistics not recorded: {error}", {
        event: "events_failed",
        error: String(e),
      });
    }
  };
}

/** The session hooks ({@link SessionStats}) writing to `events` and `metrics`. */
export function sessionStats(events: EventLog, metrics: Metrics, log: Logger): SessionStats {
  return {
    accepted: guarded(log, (m: AcceptedMessage) => {
      const from = m.from === "" ? {} : { from: m.from };
      if (m.local.length > 0) metrics.accepted.inc({ direction: "inbound" });
      for (const { account, to } of m.local) {
        events.record({ kind: "received", account, to, ...from, ip: m.ip, queueId: m.queueId });
      }
      if (m.remote.length > 0) metrics.accepted.inc({ direction: "outbound" });
      for (const to of m.remote) {
        events.record({
          kind: "sent",
          ...(m.user ? { account: m.user } : {}),
          to,
          ...from,
          ip: m.ip,
          queueId: m.outboundId ?? m.queueId,
        });
      }
    }),
    refused: guarded(log, (r: Refusal) => {
      metrics.rejected.inc({ reason: r.reason });
      events.record({ kind: "rejected", ...r });
    }),
    mailSession: guarded(log, (tls: boolean) => {
      metrics.tlsSessions.inc({ direction: "inbound", tls: tls ? "yes" : "no" });
    }),
  };
}

/** The delivery worker hooks ({@link DeliveryStats}) writing to `events` and `metrics`. */
export function deliveryStats(events: EventLog, metrics: Metrics, log: Logger): DeliveryStats {
  return {
    attempt: guarded(log, (a: DeliveryAttempt) => {
      metrics.deliveries.inc({ result: a.result });
      events.record({
        kind: a.result,
        ...(a.account !== undefined ? { account: a.account } : {}),
        to: a.to,
        ...(a.from === "" ? {} : { from: a.from }),
        queueId: a.queueId,
        ...(a.detail === "" ? {} : { detail: a.detail }),
      });
    }),
    connection: guarded(log, (tls: boolean) => {
      metrics.tlsSessions.inc({ direction: "outbound", tls: tls ? "yes" : "no" });
    }),
  };
}
