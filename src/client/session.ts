/**
 * The opening and closing of an SMTP session, as the client: the 220 greeting (RFC 5321 §3.1,
 * §4.3.1), EHLO or HELO (§4.1.1.1, §3.2) and its extensions, STARTTLS (RFC 3207) or implicit
 * TLS (RFC 8314 §3) according to the TLS policy, then AUTH (`authenticate.ts`); and QUIT
 * (§4.1.1.10). A {@link Session} is what is left ready for mail transactions.
 *
 * @module
 */

import type { Reply } from "../smtp/reply.ts";
import type { ClientOptions, ClientTimeouts, ClientTls } from "./client_options.ts";
import type { DeliveryResult } from "./delivery_result.ts";
import { Connection } from "./connection.ts";
import { authenticate } from "./authenticate.ts";
import type { Attempt } from "./_attempt.ts";
import { asFailure, errorText, Failure, quitAfter, replyText, unexpected } from "./_failure.ts";

/** How long to wait for the 221 after QUIT before closing anyway. */
const QUIT_WAIT_MS = 2_000;

/**
 * An SMTP session that is ready for mail transactions: greeting read, EHLO (and STARTTLS,
 * EHLO again, AUTH) done.
 */
export interface Session {
  conn: Connection;
  ext: Extensions;
  tls?: DeliveryResult["tls"];
  remoteHost?: string;
  /** Mail transactions attempted on it. */
  transactions: number;
  /** While cached: closes it when it has been idle too long. */
  idleTimer?: ReturnType<typeof setTimeout>;
}

/**
 * How a transaction left the session:
 * - `clean`: no transaction open (it ended with the reply to the final ".", or nothing was
 *   sent): another may start at once (RFC 5321 §3.3, §4.1.1.4);
 * - `rset`: a transaction is still open (MAIL accepted, every recipient refused): RSET
 *   (RFC 5321 §4.1.1.5) makes it clean;
 * - `dirty`: a failure left replies unread or the state unknown: QUIT, do not reuse;
 * - `broken`: the connection is gone (lost, timed out, 421): close without QUIT.
 */
export type Outcome = "clean" | "rset" | "dirty" | "broken";

/** EHLO keywords (upper case) with their parameters (RFC 5321 §4.1.1.1 ehlo-line). */
export type Extensions = Map<string, string[]>;

function parseExtensions(r: Reply): Extensions {
  const ext: Extensions = new Map();
  for (const line of r.lines.slice(1)) {
    const words = line.trim().split(/\s+/);
    let keyword = (words[0] ?? "").toUpperCase();
    let params = words.slice(1);
    // Pre-RFC 4954 servers also say "AUTH=PLAIN LOGIN".
    if (keyword.startsWith("AUTH=")) {
      params = [keyword.slice(5), ...params];
      keyword = "AUTH";
    }
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(keyword)) continue;
    const old = ext.get(keyword);
    ext.set(keyword, old ? [...old, ...params] : params);
  }
  return ext;
}

/** The server's name from a 220 or 250 first line, as printable ASCII. */
function serverName(r: Reply): string | undefined {
  const word = (r.lines[0] ?? "").trim().split(/\s+/)[0] ?? "";
  return /^[\x21-\x7e]{1,255}$/.test(word) ? word : undefined;
}

/**
 * Connect and make the session ready for mail. On failure the connection is closed, the
 * failure is in `attempt`, and the result is undefined.
 */
export async function openSession(
  opts: ClientOptions,
  mode: ClientTls["mode"],
  t: ClientTimeouts,
  attempt: Attempt,
): Promise<Session | undefined> {
  let conn: Connection;
  try {
    conn = await Connection.open(opts, t.connect);
  } catch (e) {
    attempt.failure = asFailure(e);
    return undefined;
  }
  try {
    const ext = await greet(conn, opts, mode, t, attempt);
    const s: Session = { conn, ext, transactions: 0 };
    if (attempt.tls) s.tls = attempt.tls;
    if (attempt.remoteHost) s.remoteHost = attempt.remoteHost;
    return s;
  } catch (e) {
    const f = asFailure(e);
    attempt.failure = f;
    if (f.stage === "STARTTLS handshake" && mode === "opportunistic") {
      attempt.tlsHandshakeFailed = true;
    }
    await closeSession(conn, quitAfter(f));
    return undefined;
  }
}

/**
 * The opening of a session: TLS first in implicit mode, the greeting, EHLO or HELO, STARTTLS
 * (then EHLO again) and AUTH. Returns the extensions; throws a {@link Failure}.
 */
async function greet(
  conn: Connection,
  opts: ClientOptions,
  mode: ClientTls["mode"],
  t: ClientTimeouts,
  attempt: Attempt,
): Promise<Extensions> {
  const recordTls = () => {
    const s = conn.secure!;
    const err = s.authorizationError as unknown;
    attempt.tls = {
      protocol: s.getProtocol() ?? "TLS",
      cipher: s.getCipher()?.name ?? "unknown",
      authorized: s.authorized,
      ...(!s.authorized && err ? { authorizationError: errorText(err) } : {}),
    };
  };
  // `quiet`: nothing was said over TLS yet (implicit TLS), so close without QUIT.
  const checkVerified = (quiet: boolean) => {
    if (!attempt.tls!.authorized) {
      const why = attempt.tls!.authorizationError ?? "not verified";
      throw new Failure(
        421,
        "4.7.5",
        `TLS certificate not verified: ${why}`,
        false,
        "TLS certificate check",
        quiet,
      );
    }
  };

  if (mode === "implicit") {
    // RFC 8314 §3: TLS from the first octet; the certificate must verify.
    await conn.startTls(opts.tls, opts.host, t.connect, "TLS handshake");
    recordTls();
    checkVerified(true);
  }

  // RFC 5321 §3.1, §4.3.1: the greeting is 220; 554 means "no service here".
  const greeting = await conn.readReply(t.greeting, "greeting", true);
  if (greeting.code !== 220) {
    const f = Failure.reply(greeting, "greeting");
    if (greeting.code >= 400) throw f;
    throw new Failure(
      421,
      "4.5.0",
      `unexpected greeting: ${greeting.code} ${f.text}`,
      false,
      "greeting",
    );
  }
  attempt.remoteHost = serverName(greeting);

  let ext = await hello(conn, opts.helo, t.ehlo, attempt);
  const enhanced = () => ext.has("ENHANCEDSTATUSCODES"); // RFC 2034 §3

  if (mode === "opportunistic" || mode === "required") {
    if (ext.has("STARTTLS")) {
      // RFC 3207 §4
      await conn.write("STARTTLS\r\n", t.ehlo, "STARTTLS");
      const r = await conn.readReply(t.ehlo, "STARTTLS", enhanced());
      if (r.code === 220) {
        await conn.startTls(opts.tls, opts.host, t.ehlo, "STARTTLS handshake");
        recordTls();
        if (mode === "required") checkVerified(false);
        // RFC 3207 §4.2: forget what was learnt before TLS and say EHLO again.
        ext = await hello(conn, opts.helo, t.ehlo, attempt);
      } else if (r.code === 421) {
        throw Failure.reply(r, "STARTTLS");
      } else if (mode === "required") {
        throw new Failure(
          421,
          "4.7.5",
          `STARTTLS refused (${r.code} ${replyText(r)}), TLS is required`,
          false,
          "STARTTLS",
        );
      }
      // RFC 3207 §4: after a refused STARTTLS an opportunistic client may go on in clear.
    } else if (mode === "required") {
      throw new Failure(
        421,
        "4.7.5",
        "server does not offer STARTTLS, TLS is required",
        false,
        "EHLO",
      );
    }
  }

  if (opts.auth) await authenticate(conn, opts.auth, ext, t.ehlo, attempt, enhanced());
  return ext;
}

/**
 * EHLO, or HELO when EHLO is refused with 5xx (RFC 5321 §4.1.1.1, §3.2). Returns the
 * extensions (none after HELO).
 */
async function hello(
  conn: Connection,
  name: string,
  timeoutMs: number,
  attempt: Attempt,
): Promise<Extensions> {
  await conn.write(`EHLO ${name}\r\n`, timeoutMs, "EHLO");
  const r = await conn.readReply(timeoutMs, "EHLO", true);
  if (r.code === 250) {
    attempt.remoteHost = serverName(r) ?? attempt.remoteHost;
    return parseExtensions(r);
  }
  if (r.code < 500 || r.code === 554) {
    // 4xx: try later; 554 ("no SMTP service here") would refuse HELO just the same.
    throw unexpected(r, "EHLO");
  }
  await conn.write(`HELO ${name}\r\n`, timeoutMs, "HELO");
  const h = await conn.readReply(timeoutMs, "HELO", true);
  if (h.code !== 250) throw unexpected(h, "HELO");
  attempt.remoteHost = serverName(h) ?? attempt.remoteHost;
  return new Map();
}

/** End a session: QUIT (RFC 5321 §4.1.1.10) unless told not to, then close the socket. */
export async function closeSession(conn: Connection, quit: boolean): Promise<void> {
  if (quit) {
    try {
      // The 221 is not worth waiting long for.
      await conn.write("QUIT\r\n", QUIT_WAIT_MS, "QUIT");
      await conn.readReply(QUIT_WAIT_MS, "QUIT", false);
    } catch {
      // Already done; the server may close without a 221.
    }
  }
  await conn.close();
}
