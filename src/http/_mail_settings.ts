/**
 * What mail client autoconfiguration tells a client (Thunderbird autoconfig, Microsoft
 * autodiscover): the server's name, its local domains and its ports, and which addresses it
 * answers for.
 *
 * @module
 */

import { AddressSyntaxError, canonicalDomain, parseMailbox } from "../smtp/address.ts";

/** The mail service a client is configured for. */
export interface MailSettings {
  /** The name clients connect to (postie's hostname). */
  hostname: string;
  /** The local mail domains; the first is the primary one. */
  domains: readonly string[];
  /** IMAP over implicit TLS, submission over implicit TLS, submission with STARTTLS. */
  ports: { imaps: number; submissions: number; submission: number };
}

/** A local domain in canonical form, or null when `name` is not one. */
export function localDomain(settings: MailSettings, name: string): string | null {
  let d;
  try {
    d = canonicalDomain(name);
  } catch (e) {
    if (e instanceof AddressSyntaxError) return null;
    throw e;
  }
  return settings.domains.some((l) => canonicalDomain(l) === d) ? d : null;
}

/** A mailbox in a local domain: the address as given and its canonical domain; else null. */
export function localAddress(
  settings: MailSettings,
  address: string,
): { address: string; domain: string } | null {
  if (address.length > 320) return null;
  try {
    const m = parseMailbox(address);
    return m.literal === undefined && localDomain(settings, m.domain)
      ? { address, domain: m.domain }
      : null;
  } catch (e) {
    if (e instanceof AddressSyntaxError) return null;
    throw e;
  }
}
