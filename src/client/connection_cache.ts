/**
 * Connection reuse for outbound delivery ({@link ConnectionCache}): one SMTP session carries
 * several mail transactions to the same server (RFC 5321 §3.3), ended with RSET when one was
 * left open (§4.1.1.5), and QUIT after a limit, an idle time, or on close.
 *
 * @module
 */

import type { ClientOptions, ClientTimeouts, Envelope } from "./client_options.ts";
import type { DeliveryResult } from "./delivery_result.ts";
import { closeSession, openSession, type Outcome, type Session } from "./session.ts";
import { runTransaction } from "./transaction.ts";
import { newAttempt, toResult } from "./_attempt.ts";
import { prepare } from "./_prepare.ts";

/** Limits of a {@link ConnectionCache}. */
export interface ConnectionCacheOptions {
  /**
   * Most mail transactions over one connection before QUIT.
   * @default 100
   */
  maxTransactions?: number;
  /**
   * How long an unused connection stays open, ms (Postfix: `smtp_connection_cache_time_limit`,
   * 2 s).
   * @default 2000
   */
  idleMs?: number;
}

/**
 * Connection reuse for outbound delivery, as Postfix's `smtp_connection_cache`: after a mail
 * transaction the session is kept open, and the next message for the same server (same IP,
 * port, source address, HELO name, TLS policy and name, credentials) goes over it. RFC 5321
 * §3.3 lets a client start a new transaction with MAIL once the previous one ended with the
 * reply to the final "." (§4.1.1.4); a transaction left open (every recipient refused) is
 * ended with RSET (§4.1.1.5) first, and a session in any other state is not reused. After
 * {@link ConnectionCacheOptions.maxTransactions} transactions, after
 * {@link ConnectionCacheOptions.idleMs} without use, and on {@link ConnectionCache.close}, a
 * cached session is ended with QUIT.
 *
 * A cached connection the server dropped (or answered 421 on) before the new transaction got
 * any reply is not the message's fault: the transaction is made again on a fresh connection
 * within the same {@link ConnectionCache.deliver} call, so it costs no extra attempt. Only a
 * transaction that may have reached the server (the MAIL reply came) is reported as it ended.
 *
 * @example
 * ```ts ignore
 * const cache = new ConnectionCache();
 * const r1 = await cache.deliver(opts, env1, [content1]); // connects, EHLO, STARTTLS, ...
 * const r2 = await cache.deliver(opts, env2, [content2]); // MAIL FROM on the same connection
 * await cache.close(); // QUIT
 * ```
 */
export class ConnectionCache {
  readonly #idle = new Map<string, Session[]>();
  readonly #closing = new Set<Promise<void>>();
  readonly #maxTransactions: number;
  readonly #idleMs: number;
  #closed = false;
  #connections = 0;
  #transactions = 0;

  constructor(options: ConnectionCacheOptions = {}) {
    this.#maxTransactions = Math.max(1, options.maxTransactions ?? 100);
    this.#idleMs = Math.max(0, options.idleMs ?? 2000);
  }

  /** Connections opened and transactions made so far (diagnostics and tests). */
  get stats(): { connections: number; transactions: number; idle: number } {
    let idle = 0;
    for (const list of this.#idle.values()) idle += list.length;
    return { connections: this.#connections, transactions: this.#transactions, idle };
  }

  /**
   * Deliver one message as {@link deliverMessage} does, over a cached session to the same
   * server when there is one.
   */
  async deliver(
    opts: ClientOptions,
    env: Envelope,
    content: readonly Uint8Array[],
  ): Promise<DeliveryResult> {
    const p = prepare(opts, env, content);
    if ("done" in p) return p.done;
    const key = cacheKey(opts);
    for (let s = this.#take(key); s; s = this.#take(key)) {
      const attempt = newAttempt(p.results, s);
      const outcome = await runTransaction(s, env, content, p.timeouts, attempt);
      const f = attempt.failure;
      if (f && attempt.early && (f.broken || (f.fromServer && f.code === 421))) {
        // The server dropped the idle session (or is saying goodbye): try a fresh one.
        this.#close(s, outcome !== "broken");
        continue;
      }
      this.#transactions++;
      await this.#release(key, s, outcome, p.timeouts);
      return toResult(env, attempt);
    }
    let attempt = newAttempt(p.results);
    let s = await openSession(opts, opts.tls.mode, p.timeouts, attempt);
    if (!s && attempt.tlsHandshakeFailed && opts.tls.mode === "opportunistic" && !opts.auth) {
      // As in deliverMessage: a broken STARTTLS gets one more try in plain text.
      attempt = newAttempt(p.results);
      s = await openSession(opts, "none", p.timeouts, attempt);
    }
    if (!s) return toResult(env, attempt);
    this.#connections++;
    this.#transactions++;
    const outcome = await runTransaction(s, env, content, p.timeouts, attempt);
    await this.#release(key, s, outcome, p.timeouts);
    return toResult(env, attempt);
  }

  /** QUIT every cached session; later deliveries still work but are not cached. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [key, list] of this.#idle) {
      this.#idle.delete(key);
      for (const s of list) this.#close(s, s.conn.usable);
    }
    while (this.#closing.size > 0) await Promise.all([...this.#closing]);
  }

  /** A cached session for `key` that still looks alive, or undefined. */
  #take(key: string): Session | undefined {
    const list = this.#idle.get(key);
    for (let s = list?.pop(); s; s = list?.pop()) {
      clearTimeout(s.idleTimer);
      delete s.idleTimer;
      if (s.conn.usable) return s;
      this.#close(s, false); // closed by the server, or it said something (421) while idle
    }
    this.#idle.delete(key);
    return undefined;
  }

  /** After a transaction: keep the session for the next message, or end it. */
  async #release(key: string, s: Session, outcome: Outcome, t: ClientTimeouts): Promise<void> {
    let reusable = outcome === "clean" || outcome === "rset";
    if (reusable && (this.#closed || s.transactions >= this.#maxTransactions)) reusable = false;
    if (reusable && outcome === "rset") {
      // RFC 5321 §4.1.1.5: RSET ends the open transaction; only a 250 makes it clean.
      try {
        await s.conn.write("RSET\r\n", t.mail, "RSET");
        reusable = (await s.conn.readReply(t.mail, "RSET", false)).code === 250;
      } catch {
        this.#close(s, false);
        return;
      }
    }
    if (!reusable || this.#closed) {
      this.#close(s, outcome !== "broken");
      return;
    }
    s.idleTimer = setTimeout(() => {
      const list = this.#idle.get(key);
      const i = list?.indexOf(s) ?? -1;
      if (i >= 0) list!.splice(i, 1);
      if (list?.length === 0) this.#idle.delete(key);
      this.#close(s, s.conn.usable);
    }, this.#idleMs);
    let list = this.#idle.get(key);
    if (!list) this.#idle.set(key, list = []);
    list.push(s);
  }

  /** End a session in the background (QUIT when `quit`); close() waits for it. */
  #close(s: Session, quit: boolean): void {
    clearTimeout(s.idleTimer);
    const p = closeSession(s.conn, quit).finally(() => this.#closing.delete(p));
    this.#closing.add(p);
  }
}

/** Sessions are shared only between deliveries that would open the very same one. */
function cacheKey(o: ClientOptions): string {
  return JSON.stringify([
    o.host,
    o.port,
    o.localAddress ?? "",
    o.helo,
    o.tls.mode,
    o.tls.servername ?? "",
    o.tls.caCerts ?? null,
    o.auth?.username ?? null,
    o.auth?.password ?? null,
  ]);
}
