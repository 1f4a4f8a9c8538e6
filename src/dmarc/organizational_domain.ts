/**
 * The Organizational Domain of RFC 7489 §3.2: the public suffix of a name plus one more label,
 * found with the Public Suffix List (PSL). DMARC uses it twice: relaxed alignment compares the
 * Organizational Domains of two names (§3.1.1, §3.1.2), and policy discovery falls back to
 * `_dmarc.<Organizational Domain>` when the From domain publishes no record (§6.6.3 step 3).
 *
 * The list comes from the npm package `tldts`, not from a file:
 *
 * - it embeds the whole PSL (ICANN and PRIVATE sections) compiled into a trie, so a
 *   `deno compile` binary carries it and needs no `/usr/share/publicsuffix` at run time;
 * - it is kept current: 7.6.0 was published on 2026-11-25 and its releases follow PSL
 *   changes (the other candidate, `psl`, last released 1.15.0 on 2024-12-06, so its list is
 *   two years old);
 * - it gives the right answer for all 78 active PSL test vectors (`tests.txt` of
 *   github.com/publicsuffix/list), checked by `tests/conformance/dmarc_conformance_test.ts`;
 * - it is MIT-licensed, ships its own types, and depends only on `tldts-core` (same author).
 *
 * The PRIVATE section is used on purpose (`allowPrivateDomains`): RFC 7489 §3.2 step 1 takes
 * "the union of all" registration points, and names such as `uk.com` or `github.io` hand out
 * subdomains to unrelated owners, who must not align with each other. The PSL vectors expect
 * it too (`example.uk.com` is registrable).
 *
 * Names are handled as A-labels (RFC 7489 §6.6.1: a UTF-8 domain "must be converted to an
 * A-label"); U-label input gives U-label output.
 *
 * @module
 */

import { domainToASCII, domainToUnicode } from "node:url";
import { getDomain } from "tldts";

/** How tldts is asked: a bare host name, the whole list, no host-name validation of its own. */
const TLDTS_OPTIONS = {
  allowPrivateDomains: true,
  extractHostname: false,
  validateHostname: false,
  detectIp: true,
} as const;

// A label as it may appear in DMARC names: letters, digits, "-" and "_" (DKIM d= and SPF
// domains in the wild carry underscores), at most 63 octets (RFC 1035 §2.3.4).
const LABEL_REGEXP = /^[a-z0-9_-]{1,63}$/;

/**
 * A domain in canonical A-label form: lower-case, without a trailing dot, U-labels converted
 * with IDNA (RFC 7489 §6.6.1, RFC 5890 §2.3). Returns `null` for something that is not a
 * domain name: empty, an empty label (".com", "a..b"), a bad character, over 253 octets, or a
 * U-label IDNA refuses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { asciiDomain } from "./organizational_domain.ts";
 * assert.equal(asciiDomain("Mail.Example.COM."), "mail.example.com");
 * assert.equal(asciiDomain("食狮.中国"), "xn--85x722f.xn--fiqs8s");
 * assert.equal(asciiDomain(".com"), null);
 * ```
 */
export function asciiDomain(domain: string): string | null {
  let d = domain.trim().toLowerCase();
  if (d.endsWith(".")) d = d.slice(0, -1);
  if (d === "") return null;
  // Only non-ASCII input goes through IDNA; an ASCII name is already in its wire form.
  // deno-lint-ignore no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(d) ? d : domainToASCII(d);
  if (ascii === "" || ascii.length > 253) return null;
  return ascii.split(".").every((label) => LABEL_REGEXP.test(label)) ? ascii : null;
}

/**
 * The registrable domain of `domain` (its public suffix plus one label, RFC 7489 §3.2 steps
 * 2-4), lower-case, or `null` when `domain` is itself a public suffix (`co.uk`, a bare TLD),
 * an IP address, or not a valid name. This is the function of the PSL test vectors.
 *
 * U-label input gives U-label output, A-label input A-label output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registrableDomain } from "./organizational_domain.ts";
 * assert.equal(registrableDomain("a.b.example.co.uk"), "example.co.uk");
 * assert.equal(registrableDomain("co.uk"), null);
 * assert.equal(registrableDomain("www.食狮.公司.cn"), "食狮.公司.cn");
 * ```
 */
export function registrableDomain(domain: string): string | null {
  const ascii = asciiDomain(domain);
  if (ascii === null) return null;
  // RFC 7489 §3.2 step 3: the longest matching PSL rule (with the implicit "*" rule, wildcards
  // and exceptions of the PSL algorithm); step 4: that suffix plus the next label.
  const found = getDomain(ascii, TLDTS_OPTIONS);
  if (found === null) return null;
  const plain = domain.trim().toLowerCase().replace(/\.$/, "");
  return plain === ascii ? found : domainToUnicode(found);
}

/**
 * The Organizational Domain of `domain` (RFC 7489 §3.2). For a name with no registrable
 * domain (a public suffix such as `co.uk`, an IP address, an invalid name) the name itself is
 * returned, lower-case and without a trailing dot: it then aligns only with itself, and
 * policy discovery has no parent to fall back to (RFC 7489 §6.6.3 step 3, "if different").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { organizationalDomain } from "./organizational_domain.ts";
 * assert.equal(organizationalDomain("a.b.c.d.example.com"), "example.com");
 * assert.equal(organizationalDomain("co.uk"), "co.uk");
 * ```
 */
export function organizationalDomain(domain: string): string {
  return registrableDomain(domain) ?? domain.trim().toLowerCase().replace(/\.$/, "");
}
