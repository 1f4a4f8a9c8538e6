/**
 * The header fields the server puts above an accepted message: the Received trace field
 * (RFC 5321 §4.4), and for mail from the outside the Authentication-Results (RFC 8601) and
 * Received-SPF (RFC 7208 §9.1) fields. Return-Path and Delivered-To are added at delivery.
 *
 * @module
 */

import type { DkimResult } from "../dkim/mod.ts";
import type { DmarcOutcome } from "../dmarc/dmarc.ts";
import { headerSafe, quoteValue, rfc5322Date } from "../smtp/header_text.ts";
import type { SessionView } from "./session_options.ts";
import type { Transaction } from "./transaction.ts";

/**
 * RFC 5321 §4.4 trace information for the message `id`; "with" keywords from RFC 3848 and
 * RFC 6531 §3.7.3. `forRcpt` names the recipient when there is only one.
 */
export function receivedHeader(
  view: SessionView,
  id: string,
  forRcpt: string | undefined,
  smtputf8: boolean,
): string {
  const { hello, tls, user, options: o } = view;
  const helo = (hello?.name ?? "unknown").replace(/[^\x21-\x7e]|[()\\]/g, "?");
  let proto = hello?.verb === "EHLO" ? "ESMTP" : "SMTP";
  if (smtputf8) proto = "UTF8" + proto;
  if (tls) proto += "S";
  if (user) proto += "A"; // RFC 3848
  if (user && !o.config.submission.revealClientIp) {
    // The submitting client's address stays private: no "from" clause (RFC 5322 §3.6.7
    // allows it; the clause would carry the user's home or mobile IP).
    const forPart = forRcpt ? `\r\n\tfor <${forRcpt}>` : "";
    return `Received: by ${o.config.hostname} (postie) with ${proto} id ${id}${forPart};` +
      `\r\n\t${rfc5322Date(view.now())}\r\n`;
  }
  const ip = o.peer.address;
  const literal = ip.includes(":") ? `[IPv6:${ip}]` : `[${ip}]`;
  const tlsPart = tls ? `\r\n\t(using ${tls.protocol} with cipher ${tls.cipher})` : "";
  const forClause = forRcpt ? `\r\n\tfor <${forRcpt}>` : "";
  return `Received: from ${helo} (${literal})\r\n\tby ${o.config.hostname} (postie) ` +
    `with ${proto} id ${id}${tlsPart}${forClause};\r\n\t${rfc5322Date(view.now())}\r\n`;
}

/**
 * RFC 8601 Authentication-Results (SPF, every DKIM signature, DMARC) and RFC 7208 §9.1
 * Received-SPF for the transaction's SPF verdict; "" when no SPF check was made.
 */
export function authenticationHeaders(
  view: SessionView,
  tx: Transaction,
  dkim: DkimResult[],
  dmarc: DmarcOutcome | null,
): string {
  const spf = tx.spf;
  if (!spf) return "";
  const { config, peer } = view.options;
  const helo = headerSafe(view.hello?.name ?? "unknown");
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
    `\thelo=${quoteValue(view.hello?.name ?? "")}; receiver=${config.hostname};` +
    ` identity=${identity}`;
  if (r.result === "temperror" || r.result === "permerror") {
    spfField += `;\r\n\tproblem=${quoteValue(r.reason)}`;
  }
  return ar + spfField + "\r\n";
}
