/**
 * The SMTP server session (RFC 5321): a protocol machine with no I/O. The transport feeds it
 * command lines, message content and events, and performs the {@link Action}s it returns
 * (send a reply, read DATA, read a BDAT chunk, start TLS). Sockets only move bytes, so every
 * protocol rule can be tested without one.
 *
 * This file is the state machine: command dispatch and sequencing, the session's state,
 * EHLO/HELO, RSET/NOOP/QUIT and the other small verbs, STARTTLS and the error count. Each
 * phase's rules sit beside it: the envelope (envelope.ts), the message content at the end of
 * DATA/BDAT (accept_message.ts) and AUTH (authenticator.ts).
 *
 * @module
 */

import {
  closingReply,
  refusal,
  refusalReason,
  type Reply,
  reply,
  SmtpReplyError,
} from "../smtp/reply.ts";
import { formatMailbox } from "../smtp/address.ts";
import { type DataResult, LineEndingScanner } from "../smtp/data.ts";
import type { Hello, SessionOptions, SessionView, TlsInfo } from "./session_options.ts";
import type { Transaction } from "./transaction.ts";
import { mailFrom, rcptTo } from "./envelope.ts";
import { acceptMessage } from "./accept_message.ts";
import { Authenticator } from "./authenticator.ts";

// The transport's side of the session's API takes its TlsInfo from here.
export type { TlsInfo } from "./session_options.ts";

/** What the session asks the transport to do next. */
export type Action =
  | { kind: "reply"; reply: Reply }
  /** Send the 354 reply, then read DATA content (at most maxBytes kept) and call dataEnd. */
  | { kind: "data"; reply: Reply; maxBytes: number }
  /** Read exactly `size` octets of BDAT content and pass them to bdatChunk. */
  | { kind: "bdat"; size: number; last: boolean; maxBytes: number }
  /** Send the 220 reply, drop any buffered input, run the TLS handshake, call tlsStarted. */
  | { kind: "starttls"; reply: Reply };

const HTTP_VERBS = new Set(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT"]);
/** The commands whose refusals are reported to the statistics (`SessionOptions.stats`). */
const REPORTED = new Set(["MAIL", "RCPT", "DATA", "BDAT", "AUTH"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** One SMTP session. */
export class Session {
  readonly #o: SessionOptions;
  readonly #now: () => Date;
  #hello: Hello | null = null;
  #tls: TlsInfo | undefined;
  #tx: Transaction | null = null;
  #errors = 0;
  #messages = 0;
  #shuttingDown = false;
  /** A MAIL command was seen (its TLS state went to the statistics). */
  #mailSeen = false;
  readonly #auth: Authenticator;

  constructor(options: SessionOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#tls = options.tls;
    this.#auth = new Authenticator(options);
  }

  /** The session id, shown in logs and queue ids. */
  get id(): string {
    return this.#o.id;
  }

  // What the phase rules read of the session, as it is now.
  #view(): SessionView {
    return {
      options: this.#o,
      now: this.#now,
      hello: this.#hello,
      tls: this.#tls,
      user: this.#auth.user,
    };
  }

  /** The 220 greeting (RFC 5321 §4.2, §3.1). */
  greeting(): Reply {
    return reply(220, undefined, `${this.#o.config.hostname} ESMTP postie`);
  }

  /** Reply for a client that talked before the greeting (a pre-greeting spambot check). */
  talkedEarly(): Reply {
    this.#o.log.info("client sent data before the greeting; closing", { event: "early_talker" });
    return closingReply(554, "5.5.1", "Protocol error: client sent data before greeting");
  }

  /** Reply when the client was silent too long (RFC 5321 §4.5.3.2.7). */
  timeout(): Reply {
    this.#o.log.info("timeout; closing", { event: "timeout" });
    return closingReply(421, "4.4.2", `${this.#o.config.hostname} Timeout exceeded, closing`);
  }

  /** Mark the server as stopping: the next command gets 421 4.3.2. */
  shutdown(): Reply {
    this.#shuttingDown = true;
    return closingReply(421, "4.3.2", `${this.#o.config.hostname} Service shutting down`);
  }

  /** Reply for a command line longer than the limit (RFC 5321 §4.5.3.1.4). */
  lineTooLong(): Reply {
    return this.#countError(this.#auth.lineTooLong() ?? reply(500, "5.5.2", "Line too long"));
  }

  /** The TLS handshake completed: forget everything learned before it (RFC 3207 §4.2). */
  tlsStarted(info: TlsInfo): void {
    this.#tls = info;
    this.#hello = null;
    this.#tx = null;
    this.#o.log.info("TLS established {protocol} {cipher}", { event: "tls", ...info });
  }

  /** Handle one command line (without its CRLF). */
  async command(raw: Uint8Array): Promise<Action> {
    if (this.#shuttingDown) return { kind: "reply", reply: this.shutdown() };
    let line: string;
    try {
      line = utf8.decode(raw);
    } catch {
      return this.#replyAction(this.#countError(reply(500, "5.5.2", "Invalid UTF-8 in command")));
    }
    if (this.#auth.inExchange) {
      const r = this.#report("AUTH", await this.#auth.response(line));
      return this.#replyAction(this.#countError(r));
    }
    const sp = line.indexOf(" ");
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? "" : line.slice(sp + 1);
    try {
      const action = await this.#dispatch(verb, arg);
      if (action.kind === "reply") {
        return this.#replyAction(this.#countError(this.#report(verb, action.reply, arg)));
      }
      return action;
    } catch (e) {
      if (e instanceof SmtpReplyError) {
        return this.#replyAction(this.#countError(this.#report(verb, e.reply, arg)));
      }
      this.#o.log.error("internal error in {verb}: {error}", {
        event: "internal_error",
        verb,
        error: String(e),
      });
      const r = refusal("internal_error", 451, "4.3.0", "Internal error, try again later");
      return this.#replyAction(this.#report(verb, r, arg));
    }
  }

  // A refusal of a reported command goes to the statistics (SessionOptions.stats) with its
  // reason, the sender and recipient it concerns, and who is logged in (or tried to). `arg`
  // is the command's argument; `tx` the transaction a message refusal ends.
  #report(verb: string, r: Reply, arg = "", tx: Transaction | null = this.#tx): Reply {
    const stats = this.#o.stats;
    if (!stats || r.code < 400 || !REPORTED.has(verb)) return r;
    const pathOf = (text: string) =>
      (/<([^>]*)>/.exec(text)?.[1] ?? text.slice(text.indexOf(":") + 1).trim()).slice(0, 320);
    const from = verb === "MAIL" ? pathOf(arg) : tx?.from ? formatMailbox(tx.from) : undefined;
    const to = verb === "RCPT"
      ? pathOf(arg)
      : verb === "DATA" || verb === "BDAT"
      ? tx?.rcpts.map((x) => x.mailbox === "postmaster" ? "postmaster" : formatMailbox(x.mailbox))
        .join(", ")
      : undefined;
    const account = this.#auth.user ?? (verb === "AUTH" ? this.#auth.attempted : null);
    stats.refused({
      reason: refusalReason(r),
      detail: `${r.code}${r.enhanced ? ` ${r.enhanced}` : ""} ${r.lines.join(" ")}`,
      ip: this.#o.peer.address,
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      ...(account ? { account } : {}),
    });
    return r;
  }

  #replyAction(r: Reply): Action {
    return { kind: "reply", reply: r };
  }

  // Counts 5xx replies; at the limit the reply becomes 421 and the connection closes.
  #countError(r: Reply): Reply {
    if (r.code < 500) return r;
    this.#errors++;
    if (this.#errors >= this.#o.config.limits.maxErrors) {
      this.#o.log.info("too many errors; closing", { event: "too_many_errors" });
      return closingReply(421, "4.7.0", `${this.#o.config.hostname} Too many errors, closing`);
    }
    return r;
  }

  #dispatch(verb: string, arg: string): Action | Promise<Action> {
    const r = (x: Reply): Action => ({ kind: "reply", reply: x });
    switch (verb) {
      case "EHLO":
      case "HELO":
        return r(this.#helo(verb, arg));
      case "MAIL":
        return this.#mail(arg).then(r);
      case "RCPT":
        return r(this.#rcpt(arg));
      case "DATA":
        return this.#data(arg);
      case "BDAT":
        return this.#bdat(arg);
      case "RSET":
        // RFC 5321 §4.1.1.5
        if (arg !== "") return r(reply(501, "5.5.4", "Syntax: RSET"));
        this.#tx = null;
        return r(reply(250, "2.0.0", "Ok"));
      case "NOOP":
        return r(reply(250, "2.0.0", "Ok"));
      case "QUIT":
        return r(closingReply(221, "2.0.0", `${this.#o.config.hostname} Bye`));
      case "HELP":
        return r(reply(214, "2.0.0", "See RFC 5321; postie speaks ESMTP"));
      case "VRFY":
        // RFC 5321 §3.5.3: 252 says neither yes nor no, so VRFY cannot enumerate users.
        return r(
          reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"),
        );
      case "EXPN":
        return r(reply(502, "5.5.1", "EXPN not available"));
      case "STARTTLS":
        return this.#starttls(arg);
      case "AUTH":
        return this.#auth.command(arg, {
          tls: this.#tls !== undefined,
          hello: this.#hello !== null,
          inTransaction: this.#tx !== null,
        }).then(r);
      default:
        if (HTTP_VERBS.has(verb)) {
          // Cross-protocol attack defence: never keep talking to an HTTP client.
          return r(closingReply(421, "4.7.0", "This is an SMTP server, not HTTP"));
        }
        return r(reply(500, "5.5.2", "Command not recognized"));
    }
  }

  #helo(verb: "EHLO" | "HELO", arg: string): Reply {
    // RFC 5321 §4.1.1.1: a domain or an address literal. Accept any printable token (real
    // clients send bad names), refuse empty or multiple words.
    const name = arg.trim();
    if (!/^[\x21-\x7e]{1,255}$/.test(name)) {
      return reply(501, "5.5.4", `Syntax: ${verb} hostname`);
    }
    this.#hello = { verb, name };
    this.#tx = null; // RFC 5321 §4.1.4: EHLO resets the transaction.
    this.#o.log.debug("{verb} {name}", { event: "helo", verb, name });
    const host = this.#o.config.hostname;
    if (verb === "HELO") return reply(250, undefined, host);
    const ext = [
      `${host} Hello ${name}`,
      "PIPELINING", // RFC 2920
      `SIZE ${this.#o.config.limits.maxMessageBytes}`, // RFC 1870
      "8BITMIME", // RFC 6152
      "SMTPUTF8", // RFC 6531
      "ENHANCEDSTATUSCODES", // RFC 2034
      "CHUNKING", // RFC 3030
    ];
    if (this.#o.tlsAvailable && !this.#tls) ext.push("STARTTLS"); // RFC 3207
    // RFC 4954; only over TLS (RFC 8314 §3), and never on the MX listener.
    if (this.#auth.offered && this.#tls) ext.push("AUTH PLAIN LOGIN");
    return reply(250, undefined, ...ext);
  }

  // RFC 5321 §4.1.4: MAIL after EHLO/HELO, one transaction at a time.
  async #mail(arg: string): Promise<Reply> {
    if (!this.#hello) return reply(503, "5.5.1", "Send EHLO or HELO first");
    if (this.#tx) return reply(503, "5.5.1", "Nested MAIL command");
    if (!this.#mailSeen) {
      this.#mailSeen = true;
      this.#o.stats?.mailSession(this.#tls !== undefined);
    }
    const { reply: answer, tx } = await mailFrom(this.#view(), this.#hello, arg);
    if (tx) this.#tx = tx;
    return answer;
  }

  // RCPT inside a transaction, and not once BDAT content has begun (RFC 3030 §2).
  #rcpt(arg: string): Reply {
    const tx = this.#tx;
    if (!tx) return reply(503, "5.5.1", "Need MAIL before RCPT");
    if (tx.bdat) return reply(503, "5.5.1", "RCPT after BDAT");
    return rcptTo(this.#view(), tx, arg);
  }

  #data(arg: string): Action {
    const tx = this.#tx;
    if (arg !== "") return { kind: "reply", reply: reply(501, "5.5.4", "Syntax: DATA") };
    if (!tx) return { kind: "reply", reply: reply(503, "5.5.1", "Need MAIL before DATA") };
    if (tx.bdat) return { kind: "reply", reply: reply(503, "5.5.1", "DATA after BDAT") };
    if (tx.rcpts.length === 0) {
      // RFC 5321 §3.3: 554 "no valid recipients".
      return { kind: "reply", reply: reply(554, "5.5.1", "No valid recipients") };
    }
    return {
      kind: "data",
      reply: reply(354, undefined, "End data with <CR><LF>.<CR><LF>"),
      maxBytes: this.#o.config.limits.maxMessageBytes,
    };
  }

  /** The DATA content was read up to CRLF.CRLF; answer once for the whole stream. */
  async dataEnd(result: DataResult): Promise<Reply> {
    const tx = this.#tx;
    this.#tx = null;
    if (!tx) return reply(503, "5.5.1", "No transaction");
    return this.#countError(this.#report("DATA", await this.#accept(tx, result), "", tx));
  }

  #bdat(arg: string): Action {
    // RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF
    const m = /^(\d{1,15})(?: (LAST))?$/i.exec(arg);
    if (!m) return { kind: "reply", reply: reply(501, "5.5.4", "Syntax: BDAT size [LAST]") };
    return {
      kind: "bdat",
      size: Number(m[1]),
      last: m[2] !== undefined,
      maxBytes: this.#o.config.limits.maxMessageBytes,
    };
  }

  /**
   * One BDAT chunk was read (exactly the announced size). `chunk` is null when the transport
   * discarded it for being larger than the message size limit.
   */
  async bdatChunk(chunk: Uint8Array | null, size: number, last: boolean): Promise<Reply> {
    const tx = this.#tx;
    if (!tx || tx.rcpts.length === 0) {
      return this.#countError(this.#report(
        "BDAT",
        reply(tx ? 554 : 503, "5.5.1", tx ? "No valid recipients" : "Need MAIL before BDAT"),
      ));
    }
    tx.bdat ??= { parts: [], size: 0, scanner: new LineEndingScanner() };
    const b = tx.bdat;
    b.size += size;
    if (chunk === null || b.size > this.#o.config.limits.maxMessageBytes) {
      this.#tx = null;
      return this.#countError(this.#report(
        "BDAT",
        await this.#accept(tx, { parts: [], size: b.size, tooBig: true, flaws: b.scanner.flaws }),
        "",
        tx,
      ));
    }
    b.scanner.scan(chunk);
    b.parts.push(chunk);
    if (!last) return reply(250, "2.0.0", `${size} octets received`);
    this.#tx = null;
    return this.#countError(this.#report(
      "BDAT",
      await this.#accept(tx, {
        parts: b.parts,
        size: b.size,
        tooBig: false,
        flaws: b.scanner.finish(),
      }),
      "",
      tx,
    ));
  }

  // The transaction ended with its content: refuse or accept it (accept_message.ts).
  #accept(tx: Transaction, content: DataResult): Promise<Reply> {
    return acceptMessage(this.#view(), tx, () => `${this.#o.id}.${++this.#messages}`, content);
  }

  #starttls(arg: string): Action {
    if (arg !== "") return { kind: "reply", reply: reply(501, "5.5.4", "Syntax: STARTTLS") };
    if (this.#tls) return { kind: "reply", reply: reply(503, "5.5.1", "TLS already active") };
    if (!this.#o.tlsAvailable) {
      return { kind: "reply", reply: reply(502, "5.5.1", "STARTTLS not available") };
    }
    return { kind: "starttls", reply: reply(220, "2.0.0", "Ready to start TLS") };
  }
}
