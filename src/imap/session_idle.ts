/**
 * IDLE (RFC 2177) for the IMAP session: `+ idling` continuation, then changes to the selected
 * mailbox are pushed as they happen (EXPUNGE is allowed: a command is in progress, RFC 3501
 * §7.4.1), until the client sends `DONE` (anything else is BAD and ends IDLE). The transport
 * runs the keepalive timer; {@link idleKeepalive} gives the line it sends (RFC 2177 §3: the
 * server may send untagged responses at any time during IDLE).
 *
 * @module
 */

import type { SessionContext } from "./session_context.ts";

/** IDLE command: continuation, and what is already pending. */
export function idleStart(ctx: SessionContext, tag: string): void {
  ctx.idleTag = tag;
  ctx.raw("+ idling\r\n");
  ctx.action({ kind: "idle-start" });
  ctx.flushUpdates(true);
}

/** A line read during IDLE. */
export function idleLine(ctx: SessionContext, line: string): void {
  const tag = ctx.idleTag!;
  ctx.idleTag = null;
  ctx.flushUpdates(true);
  if (line.trim().toUpperCase() === "DONE") ctx.status(tag, "OK", "IDLE terminated");
  else ctx.status(tag, "BAD", "Expected DONE");
  ctx.action({ kind: "idle-stop" });
}

/** Pending changes of the selected mailbox, sent while idling. */
export function idleUpdates(ctx: SessionContext): void {
  if (ctx.idleTag !== null) ctx.flushUpdates(true);
}

/** The keepalive line during IDLE. */
export function idleKeepalive(ctx: SessionContext): void {
  if (ctx.idleTag !== null) ctx.status("*", "OK", "Still here");
}
