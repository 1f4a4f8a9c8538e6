/**
 * Strict parsing of the argument of MAIL FROM: and RCPT TO: (RFC 5321 §4.1.1.2, §4.1.1.3): a
 * path in angle brackets, then ESMTP parameters. The mailbox inside is parsed by address.ts.
 *
 * The grammar, quoted from RFC 5321 §4.1.2:
 *
 * ```
 * Reverse-path = Path / "<>"
 * Forward-path = Path
 * Path         = "<" [ A-d-l ":" ] Mailbox ">"
 * A-d-l        = At-domain *( "," At-domain )
 * At-domain    = "@" Domain
 * esmtp-param  = esmtp-keyword ["=" esmtp-value]
 * ```
 *
 * Source routes are parsed and dropped (RFC 5321 §4.1.1.3 and §C: "SHOULD ignore").
 * A forward-path may be the domain-less `<Postmaster>` (RFC 5321 §4.1.1.3).
 *
 * @module
 */

import { AddressSyntaxError, canonicalDomain, type Mailbox, parseMailbox } from "./address.ts";

/** The result of parsing the argument of MAIL FROM: or RCPT TO:. */
export interface PathArgument {
  /** null for the null reverse-path "<>"; "postmaster" for the domain-less `<Postmaster>`. */
  mailbox: Mailbox | null | "postmaster";
  /** ESMTP parameters, keywords upper-cased (RFC 5321 §4.1.2 esmtp-param). */
  params: Map<string, string | true>;
}

const ESMTP_KEYWORD_REGEXP = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
// RFC 5321 esmtp-value = 1*(%d33-60 / %d62-126), plus UTF8-non-ascii (RFC 6531 §3.3).
const ESMTP_VALUE_REGEXP = /^[\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+$/u;

/** RFC 5321 §4.5.3.1.3: the longest path, in octets, "<" and ">" included. */
export const MAX_PATH = 256;

/**
 * Parse the argument of `MAIL FROM:` or `RCPT TO:`: a path in angle brackets followed by
 * optional ESMTP parameters (RFC 5321 §4.1.1.2, §4.1.1.3).
 *
 * Leniency, on purpose and no further: spaces between the colon and "<" are skipped (common
 * in the wild). The path must be in angle brackets.
 *
 * @param arg Everything after "FROM:" / "TO:".
 * @param options.reverse True for MAIL FROM (allows "<>").
 * @throws {AddressSyntaxError} when the path or a parameter is malformed.
 */
export function parsePathArgument(arg: string, options: { reverse: boolean }): PathArgument {
  const s = arg.replace(/^ +/, "");
  if (!s.startsWith("<")) throw new AddressSyntaxError("address must be enclosed in <>");
  const close = findPathEnd(s);
  if (close < 0) throw new AddressSyntaxError("unterminated <address>");
  const inner = s.slice(1, close);
  const paramText = s.slice(close + 1);
  if (paramText !== "" && !paramText.startsWith(" ")) {
    throw new AddressSyntaxError("garbage after <address>");
  }
  if (new TextEncoder().encode(inner).length + 2 > MAX_PATH) {
    throw new AddressSyntaxError("path longer than 256 octets");
  }
  const params = parseParams(paramText);
  if (inner === "") {
    if (!options.reverse) throw new AddressSyntaxError("empty forward-path");
    return { mailbox: null, params };
  }
  if (!options.reverse && inner.toLowerCase() === "postmaster") {
    return { mailbox: "postmaster", params };
  }
  let mailboxText = inner;
  if (inner.startsWith("@")) {
    // A-d-l ":" Mailbox. The route is validated and then dropped.
    const colon = inner.indexOf(":");
    if (colon < 0) throw new AddressSyntaxError("invalid source route");
    for (const hop of inner.slice(0, colon).split(",")) {
      if (!hop.startsWith("@")) throw new AddressSyntaxError("invalid source route");
      canonicalDomain(hop.slice(1));
    }
    mailboxText = inner.slice(colon + 1);
  }
  return { mailbox: parseMailbox(mailboxText), params };
}

// The ">" closing the path: the first one outside a quoted string.
function findPathEnd(s: string): number {
  let inQuote = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (inQuote) {
      if (c === "\\") i++;
      else if (c === '"') inQuote = false;
    } else if (c === '"') {
      inQuote = true;
    } else if (c === ">") {
      return i;
    }
  }
  return -1;
}

function parseParams(text: string): Map<string, string | true> {
  const params = new Map<string, string | true>();
  for (const p of text.split(" ")) {
    if (p === "") continue;
    const eq = p.indexOf("=");
    const key = (eq < 0 ? p : p.slice(0, eq)).toUpperCase();
    if (!ESMTP_KEYWORD_REGEXP.test(key)) {
      throw new AddressSyntaxError(`invalid ESMTP parameter "${p}"`);
    }
    if (params.has(key)) throw new AddressSyntaxError(`duplicate ESMTP parameter ${key}`);
    if (eq < 0) {
      params.set(key, true);
    } else {
      const value = p.slice(eq + 1);
      if (!ESMTP_VALUE_REGEXP.test(value)) {
        throw new AddressSyntaxError(`invalid value for ESMTP parameter ${key}`);
      }
      params.set(key, value);
    }
  }
  return params;
}
