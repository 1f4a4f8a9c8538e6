/**
 * Not-authenticated state of the IMAP session (RFC 3501 §6.2): STARTTLS (§6.2.1), LOGIN
 * (§6.2.3) and AUTHENTICATE PLAIN (§6.2.2, RFC 4616) with an initial response (SASL-IR,
 * RFC 4959 §3).
 *
 * Rules:
 * - Passwords only over TLS: before TLS, LOGIN and AUTHENTICATE are answered
 *   `NO [PRIVACYREQUIRED]` (RFC 5530 §3; RFC 3501 §6.2.3 LOGINDISABLED, §11.1), whoever the
 *   peer is.
 * - The shared guard (src/auth/guard.ts): a blocked IP or account is answered
 *   `NO [UNAVAILABLE]` without checking (RFC 5530) and the connection is closed with BYE; a
 *   failure is answered `NO [AUTHENTICATIONFAILED]` after the guard's growing delay; after
 *   `maxAuthFailures` failures on one connection BYE follows.
 * - The account's mail may still be refused (`NO [LIMIT]`: too many sessions of that
 *   account); the session stays not authenticated.
 * - Success: `OK [CAPABILITY ...]` (RFC 3501 §7.1 CAPABILITY code; the list changes after
 *   login), and the state becomes authenticated.
 *
 * @module
 */

import { type CommandFailed, no, type SessionContext } from "./session_context.ts";
import { bad } from "./session_context.ts";
import { guardedLogin } from "../auth/guard.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** STARTTLS (RFC 3501 §6.2.1): OK, then the transport negotiates TLS. */
export function startTls(ctx: SessionContext, tag: string): void {
  if (ctx.tls) throw bad("TLS is already active");
  if (!ctx.o.tlsAvailable) throw bad("STARTTLS is not available");
  ctx.status(tag, "OK", "Begin TLS negotiation now");
  ctx.action({ kind: "starttls" });
}

function requireTls(ctx: SessionContext): void {
  if (!ctx.tls) throw no("Login is only allowed over TLS (use STARTTLS)", "PRIVACYREQUIRED");
}

/** Check credentials through the guard and log in, or answer the failure. */
async function login(ctx: SessionContext, tag: string, user: string, password: string) {
  const login = await guardedLogin(
    ctx.o.guard,
    ctx.o.peer.address,
    user.toLowerCase(),
    () => ctx.o.checkCredentials(user, password),
    ctx.o.sleep,
  );
  if (login.kind === "blocked") {
    ctx.status(tag, "NO", "Too many failed logins, try again later", "UNAVAILABLE");
    ctx.status("*", "BYE", "Too many failed logins");
    ctx.state = "logout";
    ctx.action({ kind: "close" });
    return;
  }
  if (login.kind === "failed") {
    ctx.status(tag, "NO", "Invalid credentials", "AUTHENTICATIONFAILED");
    ctx.authFailures++;
    if (ctx.authFailures >= (ctx.o.maxAuthFailures ?? 3)) {
      ctx.status("*", "BYE", "Too many failed logins");
      ctx.state = "logout";
      ctx.action({ kind: "close" });
    }
    return;
  }
  const account = login.account;
  // A refusal here (too many sessions: LIMIT) is a tagged NO with its code, still not logged in.
  ctx.mail = await ctx.call(() => ctx.o.openAccount(account));
  ctx.account = account;
  ctx.state = "auth";
  ctx.status(tag, "OK", "Logged in", `CAPABILITY ${ctx.capabilityList()}`);
}

/** LOGIN (RFC 3501 §6.2.3). */
export async function loginCommand(
  ctx: SessionContext,
  tag: string,
  user: string,
  password: string,
): Promise<void> {
  requireTls(ctx);
  await login(ctx, tag, user, password);
}

/** AUTHENTICATE (RFC 3501 §6.2.2), PLAIN only, with or without SASL-IR. */
export async function authenticateCommand(
  ctx: SessionContext,
  tag: string,
  mechanism: string,
  initial: string | undefined,
): Promise<void> {
  requireTls(ctx);
  if (mechanism.toUpperCase() !== "PLAIN") throw no("Unsupported authentication mechanism");
  if (initial === undefined) {
    // RFC 3501 §7.5: an empty challenge is "+ " CRLF.
    ctx.raw("+ \r\n");
    ctx.authTag = tag;
    ctx.action({ kind: "authenticate-continue" });
    return;
  }
  await plain(ctx, tag, initial);
}

/** The client's response line to the AUTHENTICATE continuation. */
export async function authenticateLine(ctx: SessionContext, line: string): Promise<void> {
  const tag = ctx.authTag!;
  ctx.authTag = null;
  // RFC 3501 §6.2.2: "*" cancels; BAD answers it.
  if (line.trim() === "*") {
    ctx.status(tag, "BAD", "Authentication cancelled");
    return;
  }
  try {
    await plain(ctx, tag, line.trim());
  } catch (e) {
    const f = e as CommandFailed;
    if (f.name !== "CommandFailed") throw e;
    ctx.status(tag, f.status, f.message, f.code);
  }
}

/** RFC 4616 §2: [authzid] NUL authcid NUL passwd, base64 (RFC 4648 §4). */
async function plain(ctx: SessionContext, tag: string, b64: string): Promise<void> {
  let text: string;
  try {
    if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new Error("base64");
    text = utf8.decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  } catch {
    throw bad("Invalid base64 in the SASL response");
  }
  const parts = text.split("\0");
  if (parts.length !== 3) throw bad("Invalid SASL PLAIN response");
  const [authz, user, password] = parts as [string, string, string];
  if (authz !== "" && authz !== user) {
    throw no("Acting as another user is not allowed", "AUTHORIZATIONFAILED");
  }
  await login(ctx, tag, user, password);
}
