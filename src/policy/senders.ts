/**
 * Sender ownership for submission: an authenticated account may use as envelope sender and
 * in From: only its own address, the aliases that lead to it, its subaddresses
 * (`alice+tag@`), and what `submission.allowed_senders` grants it. Everything else is
 * impersonation (553 5.7.1).
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { Router } from "../delivery/router.ts";
import { AddressSyntaxError, parseMailbox } from "../smtp/address.ts";

/** Whether `account` (canonical address) may send as `address`. */
export function mayUseAddress(
  config: Pick<Config, "submission">,
  router: Router,
  account: string,
  address: string,
): boolean {
  let local: string;
  let domain: string;
  try {
    const m = parseMailbox(address);
    if (m.quoted || m.literal !== undefined) return false;
    local = m.local.toLowerCase();
    domain = m.domain;
  } catch (e) {
    if (e instanceof AddressSyntaxError) return false;
    throw e;
  }
  const canonical = `${local}@${domain}`;
  if (canonical === account) return true;
  const extra = config.submission.allowedSenders.get(account) ?? [];
  if (extra.includes(canonical) || extra.includes(`@${domain}`)) return true;
  // An alias or subaddress of ours: it must resolve, without the catch-all, to exactly the
  // account (an alias shared with others is not "ours" to send as).
  const res = router.resolve({ local, domain, quoted: false }, { catchAll: false });
  return res.kind === "local" && res.mailboxes.length >= 1 &&
    res.mailboxes.some((b) => b.address === account);
}

/**
 * The addresses in a From: header value (RFC 5322 §3.6.2 mailbox-list): display names,
 * comments and groups are skipped; each angle-addr or bare addr-spec is returned.
 */
export function fromAddresses(value: string): string[] {
  // Remove comments (nested parentheses), outside quoted strings.
  let text = "";
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      if (c === "\\") {
        text += c + (value[i + 1] ?? "");
        i++;
        continue;
      }
      if (c === '"') quoted = false;
      text += c;
    } else if (depth > 0) {
      if (c === "(") depth++;
      else if (c === ")") depth--;
      else if (c === "\\") i++;
    } else if (c === "(") {
      depth++;
    } else {
      if (c === '"') quoted = true;
      text += c;
    }
  }
  // Split on commas outside quotes and angle brackets; drop group names ("name:").
  const out: string[] = [];
  let cur = "";
  quoted = false;
  let angle = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && quoted) {
      cur += c + (text[i + 1] ?? "");
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === "<") angle = true;
    else if (!quoted && c === ">") angle = false;
    if (!quoted && !angle && (c === "," || c === ";")) {
      out.push(cur);
      cur = "";
      continue;
    }
    if (!quoted && !angle && c === ":") {
      cur = ""; // group display name
      continue;
    }
    cur += c;
  }
  out.push(cur);
  const addrs: string[] = [];
  for (const part of out) {
    const m = /<([^<>]*)>\s*$/.exec(part);
    const addr = (m ? m[1]! : part).trim();
    if (addr !== "") addrs.push(addr);
  }
  return addrs;
}
