/**
 * The SMTP server session (RFC 5321): a protocol machine with no I/O. The transport feeds it
 * command lines, message content and events, and performs the {@link Action}s it returns
 * (send a reply, read DATA, read a BDAT chunk, start TLS). Sockets only move bytes, so every
 * protocol rule can be tested without one.
 *
 * @module
 */

import type { Config, ListenerKind } from "../config/config.ts";
import type { Logger } from "@logtape/logtape";
import { closingReply, type Reply, reply, SmtpReplyError } from "../smtp/reply.ts";
import { AddressSyntaxError, formatMailbox, type Mailbox } from "../smtp/address.ts";
import { parsePathArgument } from "../smtp/path_argument.ts";
import { type ContentFlaws, type DataResult, hasFlaws, LineEndingScanner } from "../smtp/data.ts";
import type { Resolution, Router } from "../delivery/router.ts";
import { DeliveryError, type MailboxRef } from "../delivery/maildir.ts";
import type { Resolver } from "../dns/resolver.ts";
import { checkTransaction, type SpfCheck } from "../spf/spf.ts";
import {
  authservIdOf,
  headerFieldNames,
  headerValues,
  removeHeaderFields,
} from "../smtp/headers.ts";
import { type AuthGuard, checkCredentials, type CredentialStore } from "../auth/guard.ts";
import type { RateLimiter } from "../policy/rate_limit.ts";
import { fromAddresses, mayUseAddress } from "../policy/senders.ts";
import { type DkimResult, type DkimSigningKey, signMessage, verifyMessage } from "../dkim/mod.ts";
import { authorDomain, type DmarcOutcome, evaluateDmarc } from "../dmarc/dmarc.ts";

/** What the session asks the transport to do next. */
export type Action =
  | { kind: "reply"; reply: Reply }
  /** Send the 354 reply, then read DATA content (at most maxBytes kept) and call dataEnd. */
  | { kind: "data"; reply: Reply; maxBytes: number }
  /** Read exactly `size` octets of BDAT content and pass them to bdatChunk. */
  | { kind: "bdat"; size: number; last: boolean; maxBytes: number }
  /** Send the 220 reply, drop any buffered input, run the TLS handshake, call tlsStarted. */
  | { kind: "starttls"; reply: Reply };

/** Facts about an established TLS layer. */
export interface TlsInfo {
  protocol: string;
  cipher: string;
}

/** Where accepted messages go. */
export interface MessageSink {
  deliver(
    boxes: readonly MailboxRef[],
    headerFor: (box: MailboxRef) => string,
    content: readonly Uint8Array[],
  ): Promise<unknown>;
}

/** Everything a session needs; the transport builds one per connection. */
export interface SessionOptions {
  id: string;
  listener: ListenerKind;
  config: Config;
  peer: { address: string; port: number };
  router: Router;
  sink: MessageSink;
  log: Logger;
  /** STARTTLS may be offered (a certificate is loaded and TLS is not yet active). */
  tlsAvailable: boolean;
  /** Set when the connection is already TLS (implicit TLS, RFC 8314). */
  tls?: TlsInfo;
  /** The resolver for SPF; without it no SPF check is made. */
  resolver?: Resolver;
  /** Accounts for AUTH (submission listeners only). */
  credentials?: CredentialStore;
  authGuard?: AuthGuard;
  rateLimiter?: RateLimiter;
  /** Where mail for other domains goes (authenticated or trusted senders only). */
  queue?: OutboundQueue;
  /** The peer is in relay.trusted_networks: it may relay without authentication. */
  trusted?: boolean;
  /** Active DKIM signing keys per local domain (RFC 6376), for mail we originate. */
  dkimKeys?: ReadonlyMap<string, readonly DkimSigningKey[]>;
  now?: () => Date;
}

/** The outbound queue, as the session sees it. */
export interface OutboundQueue {
  enqueue(req: {
    sender: string;
    recipients: string[];
    account?: string;
    header: string;
    content: readonly Uint8Array[];
  }): Promise<string>;
}

interface Recipient {
  mailbox: Mailbox | "postmaster";
  /** Local mailboxes, or null for a relayed (remote) recipient. */
  resolution: Extract<Resolution, { kind: "local" }> | null;
}

interface Transaction {
  from: Mailbox | null;
  /** The SPF verdicts (RFC 7208), made at MAIL on the smtp listener. */
  spf?: SpfCheck;
  smtputf8: boolean;
  rcpts: Recipient[];
  /** Set once BDAT was used: DATA is then out of sequence (RFC 3030 §2). */
  bdat?: { parts: Uint8Array[]; size: number; scanner: LineEndingScanner };
}

const HTTP_VERBS = new Set(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Format a date as RFC 5322 §3.3 date-time with a numeric zone. */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, "+0000");
}

// Printable ASCII without the characters that end comments or values in header fields.
function headerSafe(s: string): string {
  return s.replace(/[^\x21-\x7e]|[()\\;"]/g, "?").slice(0, 255);
}

// RFC 5322 §3.2.4 quoted-string for a value (RFC 7208 §9.1 key-value-pair).
function quoteValue(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);
  if (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]+$/.test(clean) && !clean.startsWith(".")) return clean;
  return `"${clean.replace(/(["\\])/g, "\\$1")}"`;
}

function concatParts(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// Strict base64 (RFC 4648 §4) decoded as UTF-8; null when either fails.
function decodeBase64Utf8(text: string): string | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    return utf8.decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
}

/** One SMTP session. */
export class Session {
  readonly #o: SessionOptions;
  readonly #now: () => Date;
  #hello: { verb: "EHLO" | "HELO"; name: string } | null = null;
  #tls: TlsInfo | undefined;
  #tx: Transaction | null = null;
  #errors = 0;
  #messages = 0;
  #shuttingDown = false;
  /** The authenticated account (canonical address), RFC 4954. */
  #user: string | null = null;
  #authExchange: { mech: "PLAIN" | "LOGIN"; username?: string } | null = null;
  #authBlocked = 0;

  constructor(options: SessionOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#tls = options.tls;
  }

  /** The session id, shown in logs and queue ids. */
  get id(): string {
    return this.#o.id;
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
    if (this.#authExchange) {
      // RFC 4954 §4: an over-long line cancels the exchange.
      this.#authExchange = null;
      return this.#countError(reply(500, "5.5.6", "Authentication exchange line is too long"));
    }
    return this.#countError(reply(500, "5.5.2", "Line too long"));
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
    if (this.#authExchange) return this.#replyAction(this.#countError(await this.#authStep(line)));
    const sp = line.indexOf(" ");
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? "" : line.slice(sp + 1);
    try {
      const action = await this.#dispatch(verb, arg);
      if (action.kind === "reply") return this.#replyAction(this.#countError(action.reply));
      return action;
    } catch (e) {
      if (e instanceof SmtpReplyError) return this.#replyAction(this.#countError(e.reply));
      this.#o.log.error("internal error in {verb}: {error}", {
        event: "internal_error",
        verb,
        error: String(e),
      });
      return this.#replyAction(reply(451, "4.3.0", "Internal error, try again later"));
    }
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
        return this.#auth(arg).then(r);
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
    if (this.#authOffered() && this.#tls) ext.push("AUTH PLAIN LOGIN");
    return reply(250, undefined, ...ext);
  }

  async #mail(arg: string): Promise<Reply> {
    if (!this.#hello) return reply(503, "5.5.1", "Send EHLO or HELO first");
    if (this.#tx) return reply(503, "5.5.1", "Nested MAIL command");
    if (this.#o.listener !== "smtp" && !this.#user) {
      // Submission (RFC 6409 §4.3): authentication comes first.
      return reply(530, "5.7.0", "Authentication required");
    }
    if (!/^FROM:/i.test(arg)) return reply(501, "5.5.4", "Syntax: MAIL FROM:<address>");
    const parsed = this.#parsePath(arg.slice(5), true);
    let smtputf8 = false;
    for (const [key, value] of parsed.params) {
      if (this.#hello.verb === "HELO") {
        return reply(555, "5.5.4", "ESMTP parameters need EHLO");
      }
      switch (key) {
        case "SIZE": {
          // RFC 1870 §6.2
          if (typeof value !== "string" || !/^\d{1,20}$/.test(value)) {
            return reply(501, "5.5.4", "Invalid SIZE value");
          }
          if (Number(value) > this.#o.config.limits.maxMessageBytes) {
            return reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
          }
          break;
        }
        case "BODY":
          // RFC 6152 §3; BINARYMIME is not offered.
          if (
            value !== "7BIT" && value !== "8BITMIME" && value !== "7bit" && value !== "8bitmime"
          ) {
            return reply(501, "5.5.4", "Unsupported BODY type");
          }
          break;
        case "AUTH":
          // RFC 4954 §5: accepted and ignored from an authenticated client.
          if (!this.#user) return reply(555, "5.5.4", "Unsupported parameter AUTH");
          break;
        case "SMTPUTF8":
          // RFC 6531 §3.4
          if (value !== true) return reply(501, "5.5.4", "SMTPUTF8 takes no value");
          smtputf8 = true;
          break;
        default:
          return reply(555, "5.5.4", `Unsupported parameter ${key}`);
      }
    }
    const from = parsed.mailbox === "postmaster" ? null : parsed.mailbox;
    if (from?.utf8 && !smtputf8) {
      // RFC 6531 §3.5
      return reply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter");
    }
    const tx: Transaction = { from, smtputf8, rcpts: [] };
    const shown = from ? formatMailbox(from) : "";
    if (this.#user) {
      const refusal = this.#checkSubmitter(shown);
      if (refusal) return refusal;
    }
    if (this.#o.resolver && !this.#user && !this.#o.trusted) {
      const refusal = await this.#checkSpf(tx, shown);
      if (refusal) return refusal;
    }
    this.#tx = tx;
    // Debug only: the accepted message's line carries the sender and the verdicts.
    this.#o.log.debug("mail from <{from}>", {
      event: "mail",
      from: shown,
      ...(tx.spf ? { spf: tx.spf.mailFrom.result, spf_helo: tx.spf.helo.result } : {}),
    });
    return reply(250, "2.1.0", "Ok");
  }

  // RFC 7208 §2.3, §2.4: check HELO and MAIL FROM (a null sender is checked as
  // postmaster@<helo>). The verdict goes into the header; policy decides about refusing.
  async #checkSpf(tx: Transaction, from: string): Promise<Reply | undefined> {
    const { config } = this.#o;
    tx.spf = await checkTransaction(this.#o.peer.address, from === "" ? null : from, {
      resolver: this.#o.resolver!,
      helo: this.#hello!.name,
      receivingHost: config.hostname,
    });
    const r = tx.spf.mailFrom;
    if (r.result === "fail" && config.spf.rejectFail) {
      this.#o.log.info("SPF fail for <{from}>: refused", {
        event: "spf_reject",
        from,
        reason: r.reason,
      });
      // RFC 7372 §3.2: X.7.23 "SPF validation failed"; RFC 7208 §8.4 suggests 550.
      const why = (r.explanation ?? "").replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
      return reply(550, "5.7.23", `SPF fail for ${r.domain}: ${why}`);
    }
    if (r.result === "temperror" && config.spf.deferTemperror) {
      // RFC 7208 §8.6: 451 4.4.3
      return reply(451, "4.4.3", `SPF temporary error for ${r.domain}, try again later`);
    }
    return undefined;
  }

  #parsePath(text: string, reverse: boolean) {
    try {
      return parsePathArgument(text, { reverse });
    } catch (e) {
      if (e instanceof AddressSyntaxError) {
        throw new SmtpReplyError(501, "5.1.3", `Bad address syntax: ${e.message}`);
      }
      throw e;
    }
  }

  #rcpt(arg: string): Reply {
    const tx = this.#tx;
    if (!tx) return reply(503, "5.5.1", "Need MAIL before RCPT");
    if (tx.bdat) return reply(503, "5.5.1", "RCPT after BDAT");
    if (!/^TO:/i.test(arg)) return reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
    const parsed = this.#parsePath(arg.slice(3), false);
    if (parsed.params.size > 0) {
      const key = parsed.params.keys().next().value;
      return reply(555, "5.5.4", `Unsupported parameter ${key}`);
    }
    const mailbox = parsed.mailbox;
    if (mailbox === null) return reply(501, "5.1.3", "Empty recipient");
    const shown = mailbox === "postmaster" ? "postmaster" : formatMailbox(mailbox);
    if (mailbox !== "postmaster" && mailbox.utf8 && !tx.smtputf8) {
      return reply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter");
    }
    if (tx.rcpts.length >= this.#o.config.limits.maxRecipients) {
      // RFC 5321 §4.5.3.1.10
      return reply(452, "4.5.3", "Too many recipients");
    }
    const res = this.#o.router.resolve(mailbox);
    switch (res.kind) {
      case "nonlocal": {
        // RFC 5321 §3.6.2 / RFC 2505: relaying needs authorization: an authenticated
        // account or a trusted network, nothing else (not MAIL FROM, not HELO). Decided per
        // recipient, at RCPT time, never accept-then-bounce.
        if ((!this.#user && !this.#o.trusted) || !this.#o.queue || mailbox === "postmaster") {
          this.#o.log.info("relay denied <{rcpt}>", { event: "rcpt_rejected", rcpt: shown });
          return reply(554, "5.7.1", `<${shown}>: Relay access denied`);
        }
        const limited = this.#checkRecipientRate(tx);
        if (limited) return limited;
        tx.rcpts.push({ mailbox, resolution: null });
        return reply(250, "2.1.5", "Ok");
      }
      case "unknown":
        this.#o.log.info("unknown recipient <{rcpt}>: {reason}", {
          event: "rcpt_rejected",
          rcpt: shown,
          reason: res.reason,
        });
        return reply(550, "5.1.1", `<${shown}>: Recipient address rejected: User unknown`);
      case "local": {
        const limited = this.#checkRecipientRate(tx);
        if (limited) return limited;
        tx.rcpts.push({ mailbox, resolution: res });
        return reply(250, "2.1.5", "Ok");
      }
    }
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
    return this.#countError(
      await this.#finish(tx, result.parts, result.size, result.tooBig, result.flaws),
    );
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
      return this.#countError(
        reply(tx ? 554 : 503, "5.5.1", tx ? "No valid recipients" : "Need MAIL before BDAT"),
      );
    }
    tx.bdat ??= { parts: [], size: 0, scanner: new LineEndingScanner() };
    const b = tx.bdat;
    b.size += size;
    if (chunk === null || b.size > this.#o.config.limits.maxMessageBytes) {
      this.#tx = null;
      return this.#countError(await this.#finish(tx, [], b.size, true, b.scanner.flaws));
    }
    b.scanner.scan(chunk);
    b.parts.push(chunk);
    if (!last) return reply(250, "2.0.0", `${size} octets received`);
    this.#tx = null;
    return this.#countError(await this.#finish(tx, b.parts, b.size, false, b.scanner.finish()));
  }

  async #finish(
    tx: Transaction,
    parts: Uint8Array[],
    size: number,
    tooBig: boolean,
    flaws: ContentFlaws,
  ): Promise<Reply> {
    const from = tx.from ? formatMailbox(tx.from) : "";
    const rcpts = tx.rcpts.map((r) =>
      r.mailbox === "postmaster" ? "postmaster" : formatMailbox(r.mailbox)
    );
    const fail = (r: Reply, reason: string): Reply => {
      this.#o.log.info("message rejected: {reason}", {
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
      return fail(reply(552, "5.3.4", "Message size exceeds fixed maximum message size"), "size");
    }
    if (hasFlaws(flaws)) {
      // SMUGGLING.md: refuse content with bare CR / bare LF / NUL (RFC 5321 §2.3.8).
      const what = [flaws.bareCR && "bare CR", flaws.bareLF && "bare LF", flaws.nul && "NUL"]
        .filter(Boolean).join(", ");
      return fail(
        reply(550, "5.6.0", `Message contains ${what}; lines must end in CRLF (RFC 5321 2.3.8)`),
        "line endings",
      );
    }
    let fixups = "";
    if (this.#user) {
      const problem = this.#checkFromHeader(parts);
      if (problem) return fail(problem, "From: not owned");
      fixups = this.#submissionFixups(parts);
    }
    const queueId = `${this.#o.id}.${++this.#messages}`;
    const boxes = new Map<string, MailboxRef>();
    const remote: string[] = [];
    for (const r of tx.rcpts) {
      if (r.resolution === null) remote.push(rcpts[tx.rcpts.indexOf(r)]!);
      else for (const b of r.resolution.mailboxes) boxes.set(b.address, b);
    }
    const received = this.#receivedHeader(
      queueId,
      tx.rcpts.length === 1 ? rcpts[0] : undefined,
      tx,
    );
    // RFC 8601 §5: nobody else may speak for our authserv-id.
    const ours = this.#o.config.authservId.toLowerCase();
    const content = removeHeaderFields(
      parts,
      (name, value) => name === "authentication-results" && authservIdOf(value) === ours,
    );
    let authResults = "";
    let signature = "";
    let verdicts: Record<string, string> = {};
    if (tx.spf) {
      // Mail from the outside: verify DKIM (RFC 6376 §6), then DMARC (RFC 7489 §6.6).
      const verdict = await this.#verifyInbound(tx, content);
      verdicts = {
        spf: tx.spf.mailFrom.result,
        spf_helo: tx.spf.helo.result,
        dkim: verdict.dkim.map((d) => `${d.domain}:${d.result}`).join(",") || "none",
        dmarc: verdict.dmarc?.result ?? "none",
      };
      authResults = this.#authHeaders(tx, verdict.dkim, verdict.dmarc);
      const refusal = this.#applyDmarc(verdict.dmarc, boxes);
      if (refusal) return fail(refusal, "DMARC policy");
    } else if (this.#user || this.#o.trusted) {
      // Mail we originate: sign it (RFC 6376 §5) with the From domain's keys when local.
      signature = await this.#sign(fixups, content, from);
    }
    const trace = authResults + received + signature + fixups;
    const returnPath = `Return-Path: <${from}>\r\n`;
    let outboundId: string | undefined;
    try {
      if (remote.length > 0) {
        // Durable in the queue before the 250, like local delivery (RFC 5321 §6.1).
        outboundId = await this.#o.queue!.enqueue({
          sender: from,
          recipients: remote,
          ...(this.#user ? { account: this.#user } : {}),
          header: trace,
          content,
        });
      }
      if (boxes.size > 0) {
        await this.#o.sink.deliver(
          [...boxes.values()],
          (box) => `${returnPath}Delivered-To: ${box.address}\r\n${trace}`,
          content,
        );
      }
    } catch (e) {
      if (e instanceof DeliveryError) {
        this.#o.log.error("delivery failed: {error}", {
          event: "delivery_failed",
          error: e.message,
        });
        return fail(reply(e.code, e.enhanced, e.message), "delivery failed");
      }
      throw e;
    }
    if (this.#user) this.#o.rateLimiter?.record(this.#user, tx.rcpts.length);
    this.#o.log.info("message accepted {id}", {
      event: "message_accepted",
      id: queueId,
      from,
      rcpts,
      mailboxes: [...boxes.keys()],
      size,
      ...(this.#user ? { user: this.#user } : {}),
      ...(outboundId ? { queued: outboundId, remote } : {}),
      ...verdicts,
    });
    return reply(250, "2.0.0", `Ok: queued as ${queueId}`);
  }

  // RFC 8601 Authentication-Results and RFC 7208 §9.1 Received-SPF for the SPF verdict.
  #authHeaders(tx: Transaction, dkim: DkimResult[], dmarc: DmarcOutcome | null): string {
    const spf = tx.spf;
    if (!spf) return "";
    const { config, peer } = this.#o;
    const helo = headerSafe(this.#hello?.name ?? "unknown");
    const r = spf.mailFrom;
    const nullSender = tx.from === null;
    const identity = nullSender ? "helo" : "mailfrom";
    const prop = nullSender ? `smtp.helo=${helo}` : `smtp.mailfrom=${quoteValue(spf.identity)}`;
    // RFC 8601 §2.7: one resinfo per method; RFC 6008 header.b tells signatures apart.
    const resinfo = [`spf=${r.result} ${prop}`];
    if (dkim.length === 0) resinfo.push("dkim=none");
    for (const d of dkim) {
      const why = d.reason ? ` (${headerSafe(d.reason).slice(0, 80)})` : "";
      resinfo.push(
        `dkim=${d.result}${why} header.d=${headerSafe(d.domain || "unknown")}` +
          ` header.s=${headerSafe(d.selector || "unknown")} header.a=${
            headerSafe(d.algorithm || "unknown")
          }` +
          (d.headerB ? ` header.b=${headerSafe(d.headerB)}` : ""),
      );
    }
    if (dmarc) {
      const pol = dmarc.policy ? ` (p=${dmarc.policy} dis=${dmarc.disposition})` : "";
      resinfo.push(
        `dmarc=${dmarc.result}${pol} header.from=${headerSafe(dmarc.policyDomain ?? "unknown")}`,
      );
    }
    const ar = `Authentication-Results: ${config.authservId};\r\n\t${resinfo.join(";\r\n\t")}\r\n`;
    const who = headerSafe(spf.identity);
    const ip = peer.address;
    const comments: Record<string, string> = {
      pass: `domain of ${who} designates ${ip} as permitted sender`,
      fail: `domain of ${who} does not designate ${ip} as permitted sender`,
      softfail: `domain of transitioning ${who} does not designate ${ip} as permitted sender`,
      neutral: `${ip} is neither permitted nor denied by domain of ${who}`,
      none: `domain of ${who} does not designate permitted sender hosts`,
      temperror: `error in processing during lookup of ${who}`,
      permerror: `permanent error in processing domain of ${who}`,
    };
    let spfField = `Received-SPF: ${r.result} (${config.hostname}: ${comments[r.result]})\r\n` +
      `\tclient-ip=${ip}; envelope-from=${quoteValue(tx.from ? spf.identity : "")};\r\n` +
      `\thelo=${quoteValue(this.#hello?.name ?? "")}; receiver=${config.hostname};` +
      ` identity=${identity}`;
    if (r.result === "temperror" || r.result === "permerror") {
      spfField += `;\r\n\tproblem=${quoteValue(r.reason)}`;
    }
    return ar + spfField + "\r\n";
  }

  // RFC 5321 §4.4 trace information; "with" keywords from RFC 3848 and RFC 6531 §3.7.3.
  #receivedHeader(id: string, forRcpt: string | undefined, tx: Transaction): string {
    const helo = (this.#hello?.name ?? "unknown").replace(/[^\x21-\x7e]|[()\\]/g, "?");
    let proto = this.#hello?.verb === "EHLO" ? "ESMTP" : "SMTP";
    if (tx.smtputf8) proto = "UTF8" + proto;
    if (this.#tls) proto += "S";
    if (this.#user) proto += "A"; // RFC 3848
    if (this.#user && !this.#o.config.submission.revealClientIp) {
      // The submitting client's address stays private: no "from" clause (RFC 5322 §3.6.7
      // allows it; the clause would carry the user's home or mobile IP).
      const forPart = forRcpt ? `\r\n\tfor <${forRcpt}>` : "";
      return `Received: by ${this.#o.config.hostname} (postie) with ${proto} id ${id}${forPart};` +
        `\r\n\t${rfc5322Date(this.#now())}\r\n`;
    }
    const ip = this.#o.peer.address;
    const literal = ip.includes(":") ? `[IPv6:${ip}]` : `[${ip}]`;
    const tls = this.#tls
      ? `\r\n\t(using ${this.#tls.protocol} with cipher ${this.#tls.cipher})`
      : "";
    const forClause = forRcpt ? `\r\n\tfor <${forRcpt}>` : "";
    return `Received: from ${helo} (${literal})\r\n\tby ${this.#o.config.hostname} (postie) ` +
      `with ${proto} id ${id}${tls}${forClause};\r\n\t${rfc5322Date(this.#now())}\r\n`;
  }

  // DKIM results of every signature, and DMARC for the From domain.
  async #verifyInbound(
    tx: Transaction,
    content: readonly Uint8Array[],
  ): Promise<{ dkim: DkimResult[]; dmarc: DmarcOutcome | null }> {
    const resolver = this.#o.resolver!;
    const message = concatParts(content);
    const dkim = await verifyMessage(message, { resolver, now: this.#now() });
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
    this.#o.log[level]("DMARC {result} for {domain}", {
      event: "dmarc",
      result: dmarc.result,
      domain: author.domain,
      disposition: dmarc.disposition,
      dkim: dkim.map((d) => `${d.domain}:${d.result}`),
    });
    return { dkim, dmarc };
  }

  // The sender domain's DMARC policy, as each recipient domain's dmarc mode allows: reject
  // (550 5.7.1) only when every mailbox would reject; otherwise quarantined mailboxes get the
  // message in their Junk folder.
  #applyDmarc(dmarc: DmarcOutcome | null, boxes: Map<string, MailboxRef>): Reply | undefined {
    if (!dmarc || dmarc.result !== "fail" || dmarc.disposition === "none") return undefined;
    const { config } = this.#o;
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
      return reply(
        550,
        "5.7.1",
        `Message rejected by the DMARC policy of ${dmarc.policyDomain} (RFC 7489)`,
      );
    }
    return undefined;
  }

  // DKIM-Signature fields for mail we originate: the From domain's keys when it is local, else
  // the envelope sender's domain's.
  async #sign(fixups: string, content: readonly Uint8Array[], from: string): Promise<string> {
    const keys = this.#o.dkimKeys;
    if (!keys) return "";
    const author = authorDomain(headerValues(content, "from"));
    const envelope = from.slice(from.lastIndexOf("@") + 1).toLowerCase();
    const domain = author.domain && keys.has(author.domain)
      ? author.domain
      : keys.has(envelope)
      ? envelope
      : undefined;
    if (!domain) return "";
    const message = concatParts([new TextEncoder().encode(fixups), ...content]);
    try {
      return await signMessage(message, keys.get(domain)!, { domain, now: this.#now() });
    } catch (e) {
      this.#o.log.warning("not signed: {error}", { event: "dkim_sign_failed", error: String(e) });
      return "";
    }
  }

  #authOffered(): boolean {
    return this.#o.listener !== "smtp" && this.#o.credentials !== undefined;
  }

  // RFC 4954 §4: AUTH mechanism [initial-response]
  async #auth(arg: string): Promise<Reply> {
    if (!this.#authOffered()) return reply(502, "5.5.1", "AUTH not available");
    if (!this.#tls) {
      return reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
    }
    if (!this.#hello) return reply(503, "5.5.1", "Send EHLO first");
    if (this.#user) return reply(503, "5.5.1", "Already authenticated");
    if (this.#tx) return reply(503, "5.5.1", "AUTH not allowed during a mail transaction");
    if (this.#o.authGuard?.blocked(this.#o.peer.address)) return this.#authRefused();
    const [mechText, initial, extra] = arg.split(" ");
    const mech = (mechText ?? "").toUpperCase();
    if (extra !== undefined || mechText === "") {
      return reply(501, "5.5.4", "Syntax: AUTH mechanism");
    }
    if (mech !== "PLAIN" && mech !== "LOGIN") {
      return reply(504, "5.5.4", "Unrecognized authentication mechanism");
    }
    this.#authExchange = { mech };
    if (initial === undefined) {
      // RFC 4616 §2: an empty challenge for PLAIN; "Username:" for LOGIN.
      return reply(334, undefined, mech === "PLAIN" ? "" : "VXNlcm5hbWU6");
    }
    return await this.#authStep(initial);
  }

  // One client response in the exchange (RFC 4954 §4).
  async #authStep(line: string): Promise<Reply> {
    const ex = this.#authExchange!;
    if (line === "*") {
      this.#authExchange = null;
      return reply(501, "5.7.0", "Authentication cancelled");
    }
    const decoded = decodeBase64Utf8(line === "=" ? "" : line);
    if (decoded === null) {
      this.#authExchange = null;
      return reply(501, "5.5.2", "Cannot decode base64 response");
    }
    let username: string;
    let password: string;
    if (ex.mech === "PLAIN") {
      // RFC 4616 §2: [authzid] NUL authcid NUL passwd
      const parts = decoded.split("\0");
      if (parts.length !== 3) {
        this.#authExchange = null;
        return reply(501, "5.5.2", "Malformed PLAIN response");
      }
      const [authzid, authcid, pw] = parts as [string, string, string];
      username = authcid;
      password = pw;
      if (authzid !== "" && authzid.toLowerCase() !== authcid.toLowerCase()) {
        // Acting for another identity is not supported: treat as a failed login.
        password = "";
      }
    } else if (ex.username === undefined) {
      ex.username = decoded;
      return reply(334, undefined, "UGFzc3dvcmQ6"); // "Password:"
    } else {
      username = ex.username;
      password = decoded;
    }
    this.#authExchange = null;
    return await this.#login(username, password);
  }

  async #login(username: string, password: string): Promise<Reply> {
    const ip = this.#o.peer.address;
    const name = username.toLowerCase().slice(0, 256);
    const guard = this.#o.authGuard;
    if (guard?.blocked(ip, name)) return this.#authRefused();
    const acct = username === "" ? undefined : await checkCredentials(
      this.#o.credentials!,
      username,
      password,
    );
    if (!acct) {
      const delay = guard?.failed(ip, name) ?? 0;
      this.#o.log.warning("authentication failed for {user}", {
        event: "auth_failed",
        user: name,
        delay_ms: delay,
      });
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      return reply(535, "5.7.8", "Authentication credentials invalid");
    }
    guard?.succeeded(ip);
    this.#user = acct.address;
    this.#o.log.info("authenticated as {user}", { event: "auth", user: acct.address });
    return reply(235, "2.7.0", "Authentication successful");
  }

  #authRefused(): Reply {
    this.#authExchange = null;
    this.#o.log.warning("AUTH refused: too many failures", { event: "auth_blocked" });
    if (++this.#authBlocked > 1) {
      return closingReply(421, "4.7.0", "Too many failed authentication attempts, closing");
    }
    return reply(454, "4.7.0", "Too many failed authentication attempts, try again later");
  }

  // Submission rules at MAIL: the sender must be the user's, and the hourly rate holds.
  #checkSubmitter(from: string): Reply | undefined {
    const user = this.#user!;
    if (from !== "" && !mayUseAddress(this.#o.config, this.#o.router, user, from)) {
      this.#o.log.warning("sender <{from}> not owned by {user}", {
        event: "sender_rejected",
        from,
        user,
      });
      return reply(553, "5.7.1", `Sender address <${from}> is not owned by ${user}`);
    }
    const v = this.#o.rateLimiter?.checkMessage(user);
    if (v && !v.ok) {
      this.#o.log.warning("rate limit for {user}: {reason}", {
        event: "rate_limited",
        user,
        reason: v.reason,
      });
      return reply(451, "4.7.1", `Rate limit: ${v.reason}; try again later`);
    }
    if (v?.warn) {
      this.#o.log.warning("{user} is near the hourly message limit", {
        event: "rate_warning",
        user,
      });
    }
    return undefined;
  }

  #checkRecipientRate(tx: Transaction): Reply | undefined {
    const user = this.#user;
    if (!user || !this.#o.rateLimiter) return undefined;
    const v = this.#o.rateLimiter.checkRecipient(user, tx.rcpts.length);
    if (!v.ok) {
      this.#o.log.warning("rate limit for {user}: {reason}", {
        event: "rate_limited",
        user,
        reason: v.reason,
      });
      return v.permanent
        ? reply(550, "5.7.1", `Rate limit: ${v.reason}`)
        : reply(451, "4.7.1", `Rate limit: ${v.reason}; try again later`);
    }
    if (v.warn) {
      this.#o.log.warning("{user} is near the daily recipient limit", {
        event: "rate_warning",
        user,
      });
    }
    return undefined;
  }

  // The From: header of a submission must name only the user's addresses.
  #checkFromHeader(parts: readonly Uint8Array[]): Reply | undefined {
    const froms = headerValues(parts, "from").flatMap(fromAddresses);
    if (froms.length === 0) return reply(550, "5.6.0", "Message has no From: header field");
    for (const a of froms) {
      if (!mayUseAddress(this.#o.config, this.#o.router, this.#user!, a)) {
        return reply(
          553,
          "5.7.1",
          `From: address <${headerSafe(a)}> is not owned by ${this.#user}`,
        );
      }
    }
    return undefined;
  }

  // RFC 6409 §8.2, §8.3: add Date and Message-ID when the client did not.
  #submissionFixups(parts: readonly Uint8Array[]): string {
    const names = headerFieldNames(parts);
    let out = "";
    if (!names.has("date")) out += `Date: ${rfc5322Date(this.#now())}\r\n`;
    if (!names.has("message-id")) {
      const rand = crypto.getRandomValues(new Uint8Array(8)).reduce(
        (acc, b) => acc + b.toString(16).padStart(2, "0"),
        "",
      );
      out += `Message-ID: <${rand}.${this.#o.id}@${this.#o.config.hostname}>\r\n`;
    }
    return out;
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
