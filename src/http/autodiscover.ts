/**
 * Microsoft autodiscover, the plain-old-XML ("POX") form Outlook and other clients POST to
 * `/autodiscover/autodiscover.xml` (any case; on `autodiscover.<domain>` or the domain
 * itself): the request's `EMailAddress` is read with a small, bounded extraction (no DTD, no
 * entity expansion), and an address in a local domain gets the `Autodiscover` response of the
 * outlook responseschema 2006a with IMAP (implicit TLS) and SMTP (submission, implicit TLS)
 * on postie's hostname, the address as login name. Other addresses get 404.
 *
 * @module
 */

import type { HttpRequest } from "./read_request.ts";
import { type HttpResponse, textResponse } from "./response.ts";
import { localAddress, type MailSettings } from "./_mail_settings.ts";
import { elementText, escapeXml, XmlRefused } from "./_xml.ts";

/** The path clients POST to (compared case-insensitively). */
export const AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml";

const RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
const OUTLOOK_NS =
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
const MAX_REQUEST_BYTES = 16 * 1024;

function protocol(type: string, host: string, port: number, login: string): string {
  return `      <Protocol>
        <Type>${type}</Type>
        <Server>${escapeXml(host)}</Server>
        <Port>${port}</Port>
        <DomainRequired>off</DomainRequired>
        <LoginName>${escapeXml(login)}</LoginName>
        <SPA>off</SPA>
        <SSL>on</SSL>
        <AuthRequired>on</AuthRequired>
      </Protocol>
`;
}

/** The Autodiscover response document for `address` (in a local domain). */
export function autodiscoverXml(settings: MailSettings, address: string): string {
  const { hostname, ports } = settings;
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${RESPONSE_NS}">
  <Response xmlns="${OUTLOOK_NS}">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
` +
    protocol("IMAP", hostname, ports.imaps, address) +
    protocol("SMTP", hostname, ports.submissions, address) +
    `    </Account>
  </Response>
</Autodiscover>
`;
}

/** Answer an autodiscover POST; see the module documentation. */
export function autodiscoverResponse(settings: MailSettings, req: HttpRequest): HttpResponse {
  let asked: string | null;
  try {
    const xml = new TextDecoder("utf-8", { fatal: true }).decode(req.body);
    asked = elementText(xml, "EMailAddress", MAX_REQUEST_BYTES);
  } catch (e) {
    if (!(e instanceof XmlRefused || e instanceof TypeError)) throw e;
    return textResponse(400, `Bad Request: ${e instanceof XmlRefused ? e.message : "not UTF-8"}`);
  }
  if (!asked) return textResponse(400, "Bad Request: no EMailAddress");
  const local = localAddress(settings, asked);
  if (!local) return textResponse(404, "Not Found: not a local address");
  return {
    status: 200,
    contentType: "application/xml; charset=utf-8",
    headers: { "Cache-Control": "no-cache" },
    body: autodiscoverXml(settings, local.address),
  };
}
