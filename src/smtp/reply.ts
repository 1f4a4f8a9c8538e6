/**
 * SMTP replies: a three-digit code (RFC 5321 §4.2), an RFC 3463 enhanced status code
 * (advertised as ENHANCEDSTATUSCODES, RFC 2034) and human text.
 *
 * @module
 */

/** One SMTP reply, possibly multi-line. */
export interface Reply {
  /** RFC 5321 §4.2 reply code, e.g. 250. */
  code: number;
  /** RFC 3463 enhanced status code, e.g. "2.1.0"; absent for 220/221 greetings and EHLO. */
  enhanced?: string;
  /** One entry per line; never contains CR or LF. */
  lines: string[];
  /** Close the connection after sending this reply. */
  close?: boolean;
  /**
   * Why a command was refused, as a short machine-readable class for the event log and the
   * metrics (`relay_denied`, `spf_fail`, ...); never sent. Set where the refusal is made.
   */
  reason?: string;
}

/** Build a reply from a code, an enhanced code and one or more lines of text. */
export function reply(code: number, enhanced: string | undefined, ...lines: string[]): Reply {
  return enhanced === undefined ? { code, lines } : { code, enhanced, lines };
}

/** A refusal (4xx/5xx) with its {@link Reply.reason}. */
export function refusal(
  reason: string,
  code: number,
  enhanced: string | undefined,
  ...lines: string[]
): Reply {
  return { ...reply(code, enhanced, ...lines), reason };
}

// RFC 3463 subject.detail codes that say enough on their own.
const REASON_BY_STATUS: Record<string, string> = {
  "1.1": "unknown_recipient",
  "1.3": "bad_address",
  "1.7": "bad_address",
  "1.8": "bad_address",
  "3.4": "too_big",
  "5.3": "too_many_recipients",
  "6.7": "bad_address",
  "7.8": "auth_failed",
  "7.11": "tls_required",
};

/**
 * The short class of a refusal for statistics: its {@link Reply.reason} when the code that
 * made it set one; else from the RFC 3463 code: `protocol` for the X.5.X class (syntax,
 * sequence, unknown commands: RFC 3463 §3.6), a few telling codes (`bad_address`,
 * `too_big`...), and `other`.
 */
export function refusalReason(r: Reply): string {
  if (r.reason) return r.reason;
  const m = /^[245]\.(\d{1,3})\.(\d{1,3})$/.exec(r.enhanced ?? "");
  if (!m) return "other";
  const known = REASON_BY_STATUS[`${m[1]}.${m[2]}`];
  if (known) return known;
  return m[1] === "5" ? "protocol" : "other";
}

/** A reply that also closes the connection (421 and 221). */
export function closingReply(code: number, enhanced: string | undefined, text: string): Reply {
  return { ...reply(code, enhanced, text), close: true };
}

/**
 * Serialize a reply to wire format (RFC 5321 §4.2.1): "250-" for every line but the last,
 * "250 " for the last, each line ending in CRLF. The enhanced code, when present, starts every
 * line (RFC 2034 §4).
 */
export function formatReply(r: Reply): string {
  const lines = r.lines.length === 0 ? [""] : r.lines;
  let out = "";
  for (let i = 0; i < lines.length; i++) {
    const sep = i === lines.length - 1 ? " " : "-";
    // Defensive: no CR/LF may leak from text into the protocol stream.
    const text = (lines[i] ?? "").replace(/[\r\n]/g, " ");
    const prefix = r.enhanced ? `${r.enhanced} ` : "";
    out += `${r.code}${sep}${prefix}${text}\r\n`;
  }
  return out;
}

/** Whether the reply is a positive completion (2xx) or intermediate (3xx). */
export function isPositive(r: Reply): boolean {
  return r.code >= 200 && r.code < 400;
}

/**
 * A reply raised from deep inside a command handler. The session catches it in one place and
 * sends it (the same idea as mox's smtpError), so handlers can abort with a precise reply.
 */
export class SmtpReplyError extends Error {
  readonly reply: Reply;
  constructor(code: number, enhanced: string | undefined, text: string, close = false) {
    super(`${code} ${enhanced ?? ""} ${text}`.replace(/\s+/g, " "));
    this.name = "SmtpReplyError";
    this.reply = close ? closingReply(code, enhanced, text) : reply(code, enhanced, text);
  }
}
