/**
 * The Author Domain of a message (RFC 7489 §6.6.1): the domain of the address in the
 * RFC5322.From header field, the identity DMARC protects.
 *
 * RFC 7489 §6.6.1: "In order to be processed by DMARC, a message typically needs to contain
 * exactly one RFC5322.From domain (a single From: field with a single domain in it)." For a
 * From field with several addresses it asks the receiver to "apply the DMARC check using each
 * of those domains ... and apply the most strict policy selected among the checks that fail".
 * We take this reading:
 *
 * - several addresses that all share one domain give that domain (every evaluation would be
 *   the same one, so this is exactly the RFC 7489 procedure; DMARCbis says the same);
 * - addresses with different domains, no address at all (an empty group), a domain literal,
 *   or anything we cannot parse give no domain and a reason. The caller treats that as DMARC
 *   `permerror` (and may reject the message, as §6.6.1 notes receivers typically do), so a
 *   second address cannot be used to slip a spoofed domain past DMARC.
 *
 * The parser follows RFC 5322 §3.4 (`address-list`, with `group` as RFC 6854 allows in From),
 * §3.2.2 (comments), §3.2.4 (quoted strings) and §4.4 (obs-route), and accepts UTF-8 as
 * RFC 6532 §3.2 does.
 *
 * @module
 */

import { asciiDomain } from "./organizational_domain.ts";

/** The Author Domain, or why there is none. */
export type AuthorDomain = { domain: string } | { domain: null; reason: string };

type Token =
  | { kind: "atom" | "quoted" | "literal"; text: string }
  | { kind: "special"; text: string };

// RFC 5322 §3.2.3 specials that end an atom; "." is a special too (dot-atom separator).
const SPECIALS = '()<>[]:;@\\,."';

/**
 * The domain of the single author in a From header field value, as A-labels in lower case,
 * or `null` when DMARC cannot be applied to it (see the module doc). Use
 * {@linkcode authorDomain} to get the reason too.
 *
 * @param headerValue the field body after "From:", folded or not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromDomainOf } from "./from_domain.ts";
 * assert.equal(fromDomainOf(`"Doe, John" <john@Example.COM>`), "example.com");
 * assert.equal(fromDomainOf("a@example.com, b@example.net"), null);
 * ```
 */
export function fromDomainOf(headerValue: string): string | null {
  return authorDomain([headerValue]).domain;
}

/**
 * The Author Domain from every From field of a message (RFC 7489 §6.6.1). RFC 5322 §3.6
 * requires exactly one From field; none or several give no domain.
 *
 * @param fieldValues the values of all From header fields, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { authorDomain } from "./from_domain.ts";
 * assert.deepEqual(authorDomain(["<a@example.com>"]), { domain: "example.com" });
 * assert.equal(authorDomain([]).domain, null);
 * ```
 */
export function authorDomain(fieldValues: readonly string[]): AuthorDomain {
  if (fieldValues.length === 0) return fail("no From field (RFC 5322 §3.6 requires one)");
  if (fieldValues.length > 1) {
    return fail(`${fieldValues.length} From fields (RFC 5322 §3.6 allows one)`);
  }
  const tokens = tokenize(fieldValues[0] ?? "");
  if (tokens === null) return fail("unparsable From field");
  const mailboxes = splitMailboxes(tokens);
  if (mailboxes === null) return fail("unparsable From field");
  if (mailboxes.length === 0) return fail("no address in the From field");
  const domains = new Set<string>();
  for (const mailbox of mailboxes) {
    const domain = mailboxDomain(mailbox);
    if (typeof domain !== "string") return fail(domain.reason);
    domains.add(domain);
  }
  // RFC 7489 §6.6.1: one Author Domain; several addresses of one domain are one evaluation.
  if (domains.size > 1) {
    return fail(`From field has addresses in ${domains.size} domains: ${[...domains].join(", ")}`);
  }
  return { domain: [...domains][0]! };
}

function fail(reason: string): AuthorDomain {
  return { domain: null, reason };
}

/** Lexes a field body into RFC 5322 tokens, dropping whitespace and comments. */
function tokenize(value: string): Token[] | null {
  const out: Token[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++;
    } else if (c === "(") {
      // RFC 5322 §3.2.2: comments nest and may hold quoted-pairs.
      let depth = 0;
      for (; i < value.length; i++) {
        const d = value[i];
        if (d === "\\") i++;
        else if (d === "(") depth++;
        else if (d === ")" && --depth === 0) break;
      }
      if (depth !== 0) return null;
      i++;
    } else if (c === '"' || c === "[") {
      // RFC 5322 §3.2.4 quoted-string, §3.4.1 domain-literal (with obs quoted-pairs).
      const close = c === '"' ? '"' : "]";
      let text = "";
      let j = i + 1;
      for (; j < value.length && value[j] !== close; j++) {
        if (value[j] === "\\") j++;
        text += value[j] ?? "";
      }
      if (j >= value.length) return null;
      out.push({ kind: c === '"' ? "quoted" : "literal", text });
      i = j + 1;
    } else if (c === ")" || c === "]" || c === "\\") {
      return null;
    } else if (SPECIALS.includes(c)) {
      out.push({ kind: "special", text: c });
      i++;
    } else {
      let j = i;
      while (j < value.length && !SPECIALS.includes(value[j]!) && !/\s/.test(value[j]!)) j++;
      out.push({ kind: "atom", text: value.slice(i, j) });
      i = j;
    }
  }
  return out;
}

/**
 * Splits an address-list into mailboxes (RFC 5322 §3.4): "," separates addresses outside
 * angle brackets, `display-name ":" [mailbox-list] ";"` is a group whose name is dropped.
 * Empty list elements are skipped (RFC 5322 §4.4 obs-mbox-list).
 */
function splitMailboxes(tokens: Token[]): Token[][] | null {
  const out: Token[][] = [];
  let current: Token[] = [];
  let angle = false;
  let group = false;
  const flush = () => {
    if (current.length > 0) out.push(current);
    current = [];
  };
  for (const tok of tokens) {
    const s = tok.kind === "special" ? tok.text : "";
    if (s === "<") {
      if (angle) return null;
      angle = true;
    } else if (s === ">") {
      if (!angle) return null;
      angle = false;
    } else if (!angle && s === ",") {
      flush();
      continue;
    } else if (!angle && s === ":") {
      // A group (RFC 6854 allows it in From); its display-name is a phrase.
      if (group || !isPhrase(current)) return null;
      group = true;
      current = [];
      continue;
    } else if (!angle && s === ";") {
      if (!group) return null;
      group = false;
      flush();
      continue;
    }
    current.push(tok);
  }
  if (angle || group) return null;
  flush();
  return out;
}

/** Whether tokens form a phrase (RFC 5322 §3.2.5, with obs-phrase's "."). */
function isPhrase(tokens: Token[]): boolean {
  return tokens.every((t) => t.kind === "atom" || t.kind === "quoted" || t.text === ".");
}

/** The A-label domain of one mailbox (RFC 5322 §3.4 name-addr / addr-spec), or why not. */
function mailboxDomain(tokens: Token[]): string | { reason: string } {
  let spec = tokens;
  const open = tokens.findIndex((t) => t.kind === "special" && t.text === "<");
  if (open >= 0) {
    // name-addr = [display-name] angle-addr; nothing may follow the ">". A display name with
    // an unquoted "@" (`bank.example <x@evil.example>`) is refused, not guessed at.
    const last = tokens[tokens.length - 1];
    if (last?.text !== ">" || !isPhrase(tokens.slice(0, open))) {
      return { reason: "unparsable address in the From field" };
    }
    spec = tokens.slice(open + 1, -1);
    // RFC 5322 §4.4 obs-route: "@a.example,@b.example:" before the addr-spec.
    if (spec[0]?.kind === "special" && spec[0].text === "@") {
      const colon = spec.findIndex((t) => t.kind === "special" && t.text === ":");
      if (colon < 0) return { reason: "unparsable address in the From field" };
      spec = spec.slice(colon + 1);
    }
    if (spec.length === 0) return { reason: "null address <> in the From field" };
  }
  // addr-spec = local-part "@" domain; quoted local parts are single tokens, so the only
  // "@" special separates the two.
  const at = spec.findIndex((t) => t.kind === "special" && t.text === "@");
  if (at <= 0 || spec.slice(at + 1).some((t) => t.kind === "special" && t.text === "@")) {
    return { reason: "From address without a domain" };
  }
  const local = spec.slice(0, at);
  if (!isPhrase(local)) return { reason: "unparsable address in the From field" };
  const domainTokens = spec.slice(at + 1);
  if (domainTokens.length === 1 && domainTokens[0]!.kind === "literal") {
    return { reason: "From address has a domain literal, not a domain name" };
  }
  // dot-atom: atom *("." atom)
  const wellFormed = domainTokens.length % 2 === 1 &&
    domainTokens.every((t, i) => i % 2 === 0 ? t.kind === "atom" : t.text === ".");
  const domain = wellFormed ? asciiDomain(domainTokens.map((t) => t.text).join("")) : null;
  if (domain === null) return { reason: "From address has an invalid domain" };
  return domain;
}
