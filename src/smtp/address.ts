/**
 * Strict parsing of SMTP envelope mailboxes, RFC 5321 §4.1.2 with the SMTPUTF8 extensions of
 * RFC 6531 §3.3: the local part, the domain (canonicalised to A-labels) and address literals.
 * The path around a mailbox and the ESMTP parameters after it are in path_argument.ts.
 *
 * The grammar, quoted from RFC 5321 §4.1.2:
 *
 * ```
 * Mailbox      = Local-part "@" ( Domain / address-literal )
 * Local-part   = Dot-string / Quoted-string
 * Dot-string   = Atom *("." Atom)
 * Quoted-string = DQUOTE *QcontentSMTP DQUOTE
 * QcontentSMTP = qtextSMTP / quoted-pairSMTP
 * quoted-pairSMTP = %d92 %d32-126
 * qtextSMTP    = %d32-33 / %d35-91 / %d93-126
 * Domain       = sub-domain *("." sub-domain)
 * sub-domain   = Let-dig [Ldh-str]
 * ```
 *
 * Anything else is a syntax error: a second unquoted "@", a backslash outside quotes, a missing
 * domain (the special domain-less "postmaster" of RFC 5321 §4.1.1.3 is a path form, handled in
 * path_argument.ts). The local part is never re-parsed for "%", "!" or "@" (no percent hack, no
 * bang paths).
 *
 * @module
 */

import { isIPv4, isIPv6 } from "node:net";
import { domainToASCII } from "node:url";

/** A parsed mailbox (RFC 5321 §4.1.2 `Mailbox`). */
export interface Mailbox {
  /** The local part; for a quoted local part, its content with quoted-pairs undone. */
  local: string;
  /** True when the local part needed quoting (its content is not a valid Dot-string). */
  quoted: boolean;
  /**
   * The domain in canonical form: lower-case ASCII with A-labels for IDNs and no trailing dot;
   * for an address literal "[192.0.2.1]" or "[ipv6:2001:db8::1]".
   */
  domain: string;
  /** Set when the domain was an address literal: the IP address inside the brackets. */
  literal?: string;
  /** True when the address contains non-ASCII characters (needs SMTPUTF8, RFC 6531). */
  utf8: boolean;
}

/** A violation of the address grammar; the message says which rule. */
export class AddressSyntaxError extends SyntaxError {
  constructor(message: string) {
    super(message);
    this.name = "AddressSyntaxError";
  }
}

// RFC 5321 Dot-string of RFC 5322 §3.2.3 atext, extended by UTF8-non-ascii (RFC 6531 §3.3).
const DOT_STRING_REGEXP =
  /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+)*$/u;
// RFC 5321 §4.1.2 sub-domain, with U-labels allowed (RFC 6531 §3.3).
const SUB_DOMAIN_REGEXP =
  /^([A-Za-z0-9\u0080-\u{10FFFF}]([A-Za-z0-9\-\u0080-\u{10FFFF}]*[A-Za-z0-9\u0080-\u{10FFFF}])?)$/u;
// The canonical (A-label, lower-case) form of a sub-domain.
const ASCII_LABEL_REGEXP = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
// deno-lint-ignore no-control-regex
const NON_ASCII_REGEXP = /[^\x00-\x7f]/;

/** RFC 5321 §4.5.3.1.1 and §4.5.3.1.2 size limits, in octets (the path limit: path_argument.ts). */
export const MAX_LOCAL_PART = 64;
export const MAX_DOMAIN = 255;

/** Whether `s` is an RFC 5321 Dot-string (with RFC 6531 UTF-8). */
export function isDotString(s: string): boolean {
  return DOT_STRING_REGEXP.test(s);
}

/**
 * Canonicalize a domain name: validate the RFC 5321 `Domain` grammar, convert U-labels to
 * A-labels, lower-case it. One trailing dot is tolerated and removed, so that "example.com." is
 * compared as "example.com" and cannot slip past a local-domain check.
 *
 * @throws {AddressSyntaxError} when the name is not a valid domain.
 */
export function canonicalDomain(name: string): string {
  let d = name.endsWith(".") ? name.slice(0, -1) : name;
  if (d.length === 0) throw new AddressSyntaxError("empty domain");
  const labels = d.split(".");
  for (const label of labels) {
    if (!SUB_DOMAIN_REGEXP.test(label)) {
      throw new AddressSyntaxError(`invalid domain label "${label}"`);
    }
  }
  if (NON_ASCII_REGEXP.test(d)) {
    const ascii = domainToASCII(d);
    if (ascii === "") throw new AddressSyntaxError(`invalid internationalized domain "${d}"`);
    // UTS #46 mapping can turn U+3002 into "." or drop U+00AD, so the A-label form is
    // validated again below, strictly, as the name that will be compared and looked up.
    d = ascii;
  }
  d = d.toLowerCase();
  if (d.length > MAX_DOMAIN) throw new AddressSyntaxError("domain longer than 255 octets");
  for (const label of d.split(".")) {
    if (!ASCII_LABEL_REGEXP.test(label)) {
      throw new AddressSyntaxError(`invalid domain label "${label}"`);
    }
    if (label.length > 63) throw new AddressSyntaxError("domain label longer than 63 octets");
  }
  return d;
}

function parseAddressLiteral(inner: string): { domain: string; literal: string } {
  // RFC 5321 §4.1.3: IPv4-address-literal / IPv6-address-literal. General-address-literal
  // tags are not supported by anyone and are refused.
  if (isIPv4(inner)) return { domain: `[${inner}]`, literal: inner };
  if (/^ipv6:/i.test(inner)) {
    const ip = inner.slice(5);
    // RFC 5321 §4.1.3 IPv6-addr has no zone index; isIPv6() would accept "fe80::1%eth0".
    if (/^[0-9A-Fa-f:.]+$/.test(ip) && isIPv6(ip)) {
      return { domain: `[ipv6:${ip.toLowerCase()}]`, literal: ip.toLowerCase() };
    }
  }
  throw new AddressSyntaxError(`invalid address literal "[${inner}]"`);
}

/**
 * Parse a `Mailbox` (RFC 5321 §4.1.2), the part between the angle brackets after any source
 * route.
 *
 * @throws {AddressSyntaxError} on any deviation from the grammar.
 */
export function parseMailbox(text: string): Mailbox {
  let local: string;
  let quoted = false;
  let rest: string;
  if (text.startsWith('"')) {
    // Quoted-string: walk it, honouring quoted-pairs.
    let i = 1;
    let content = "";
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new AddressSyntaxError("unterminated quoted local part");
      if (c === '"') break;
      if (c === "\\") {
        const n = text[i + 1];
        if (n === undefined || !/^[\x20-\x7e]$/.test(n)) {
          throw new AddressSyntaxError("invalid quoted-pair in local part");
        }
        content += n;
        i += 2;
        continue;
      }
      // qtextSMTP, plus UTF-8 (RFC 6531 §3.3 qtextSMTP =/ UTF8-non-ascii).
      if (!/^[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10FFFF}]$/u.test(c)) {
        throw new AddressSyntaxError("invalid character in quoted local part");
      }
      content += c;
      i += c.length;
    }
    rest = text.slice(i + 1);
    local = content;
    // A quoted local part that is also a Dot-string is the same mailbox (RFC 5321 §4.1.2).
    quoted = !isDotString(content);
  } else {
    const at = text.indexOf("@");
    if (at < 0) throw new AddressSyntaxError("address has no domain");
    local = text.slice(0, at);
    rest = text.slice(at);
    if (!isDotString(local)) {
      throw new AddressSyntaxError(`invalid local part "${local}"`);
    }
  }
  if (!rest.startsWith("@")) throw new AddressSyntaxError("address has no domain");
  const domainText = rest.slice(1);
  // RFC 5321 §4.5.3.1.1: measured as transmitted (quotes and quoted-pairs included).
  const wireLocal = text.slice(0, text.length - rest.length);
  if (new TextEncoder().encode(wireLocal).length > MAX_LOCAL_PART) {
    throw new AddressSyntaxError("local part longer than 64 octets");
  }
  let domain: string;
  let literal: string | undefined;
  if (domainText.startsWith("[")) {
    if (!domainText.endsWith("]")) throw new AddressSyntaxError("unterminated address literal");
    ({ domain, literal } = parseAddressLiteral(domainText.slice(1, -1)));
  } else {
    // A second unquoted "@" (v@X@L) lands here and fails the Domain grammar.
    domain = canonicalDomain(domainText);
  }
  const utf8 = NON_ASCII_REGEXP.test(local) || NON_ASCII_REGEXP.test(domainText);
  const mailbox: Mailbox = { local, quoted, domain, utf8 };
  if (literal !== undefined) mailbox.literal = literal;
  return mailbox;
}

/** Render a mailbox back into RFC 5321 form, quoting the local part when needed. */
export function formatMailbox(m: Mailbox): string {
  const local = m.quoted ? `"${m.local.replace(/(["\\])/g, "\\$1")}"` : m.local;
  return `${local}@${m.domain}`;
}

/** True when a local part uses a form that old MTAs re-parsed into a route (RFC 2505 §2.5). */
export function hasRoutingCharacters(local: string): boolean {
  return /[%!@]/.test(local);
}
