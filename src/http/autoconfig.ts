/**
 * Thunderbird autoconfiguration: the `clientConfig` document, version 1.1, of Mozilla's
 * autoconfig format, served at `/mail/config-v1.1.xml` (host `autoconfig.<domain>`) and
 * `/.well-known/autoconfig/mail/config-v1.1.xml`. It names postie's hostname for IMAP on the
 * implicit-TLS port (RFC 8314 §3.3) and for submission on the implicit-TLS and STARTTLS ports,
 * the full address as user name and a cleartext password (inside TLS).
 *
 * `?emailaddress=` must be an address in a local domain (else 404); without it the document is
 * for the domain of an `autoconfig.<domain>` host, or for the primary domain.
 *
 * @module
 */

import type { HttpRequest } from "./read_request.ts";
import type { HttpResponse } from "./response.ts";
import { textResponse } from "./response.ts";
import { localAddress, localDomain, type MailSettings } from "./_mail_settings.ts";
import { escapeXml } from "./_xml.ts";

/** The paths Thunderbird asks. */
export const AUTOCONFIG_PATHS: readonly string[] = [
  "/mail/config-v1.1.xml",
  "/.well-known/autoconfig/mail/config-v1.1.xml",
];

function server(tag: string, type: string, host: string, port: number, socket: string): string {
  return `    <${tag} type="${type}">
      <hostname>${escapeXml(host)}</hostname>
      <port>${port}</port>
      <socketType>${socket}</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </${tag}>
`;
}

/** The clientConfig document for `domain` (one of the local domains). */
export function autoconfigXml(settings: MailSettings, domain: string): string {
  const { hostname, ports } = settings;
  const id = escapeXml(domain);
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${id}">
${settings.domains.map((d) => `    <domain>${escapeXml(d)}</domain>\n`).join("")}` +
    `    <displayName>${id}</displayName>
    <displayShortName>${id}</displayShortName>
` +
    server("incomingServer", "imap", hostname, ports.imaps, "SSL") +
    server("outgoingServer", "smtp", hostname, ports.submissions, "SSL") +
    server("outgoingServer", "smtp", hostname, ports.submission, "STARTTLS") +
    `  </emailProvider>
</clientConfig>
`;
}

/** Answer an autoconfig request with the document for the asked domain, or 404. */
export function autoconfigResponse(settings: MailSettings, req: HttpRequest): HttpResponse {
  const asked = req.query.get("emailaddress");
  let domain: string | null;
  if (asked !== null) {
    domain = localAddress(settings, asked)?.domain ?? null;
  } else {
    const sub = req.host?.startsWith("autoconfig.") ? req.host.slice("autoconfig.".length) : "";
    domain = (sub && localDomain(settings, sub)) || (settings.domains[0] ?? null);
  }
  if (domain === null) return textResponse(404, "Not Found: not a local domain");
  return {
    status: 200,
    contentType: "application/xml; charset=utf-8",
    headers: { "Cache-Control": "no-cache" },
    body: autoconfigXml(settings, domain),
  };
}
