/**
 * Finding the aggregate report inside a report mail (RFC 7489 §7.2.1.1): a MIME part (possibly
 * deep in nested multiparts or a forwarded `message/rfc822`) or the body itself (a mail with no
 * Content-Type), whose content
 * is gzip, zip or plain XML. Senders label it inconsistently (`application/gzip`,
 * `application/x-gzip`, `application/zip`, `text/xml`, `application/xml`, even
 * `application/octet-stream` with a `.xml.gz` name), so the compression is decided by the
 * bytes (gzip `1F 8B`, zip `PK\3\4`, XML `<`), not by the label. The transfer encoding (base64,
 * quoted-printable, 7bit/8bit/binary) is undone first. The decompressed size is capped
 * (see `_bounded_inflate.ts`).
 *
 * @module
 */

import { parseMessage, walkParts } from "../imap/message/mime_tree.ts";
import { findField, paramValue, parseDisposition } from "../imap/message/header.ts";
import { decodeTransfer } from "../imap/message/search_text.ts";
import {
  gunzipBounded,
  type Inflated,
  MAX_REPORT_BYTES,
  unzipBounded,
} from "./_bounded_inflate.ts";

/** How the report was packed. */
export type PayloadKind = "xml" | "gzip" | "zip";

/** The report's XML bytes and how they were found, or why none was. */
export type Payload =
  | { ok: true; xml: Uint8Array; kind: PayloadKind; filename?: string }
  | { ok: false; reason: string };

const REPORT_TYPES = new Set([
  "application/gzip",
  "application/x-gzip",
  "application/zip",
  "application/x-zip-compressed",
  "application/x-zip",
  "text/xml",
  "application/xml",
  "application/octet-stream",
]);

const REPORT_NAME = /\.(xml|gz|gzip|zip)$/i;

/** The kind of `bytes` by its first bytes, or null when it is none of the three. */
export function sniffKind(bytes: Uint8Array): PayloadKind | null {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return "gzip";
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return "zip";
  }
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // UTF-8 BOM
  while (
    i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a ||
      bytes[i] === 0x0d)
  ) i++;
  return bytes[i] === 0x3c ? "xml" : null;
}

/** The XML of a payload of kind `kind`, decompressed within the cap. */
export function unpack(bytes: Uint8Array, kind: PayloadKind): Inflated {
  if (kind === "gzip") return gunzipBounded(bytes);
  if (kind === "zip") return unzipBounded(bytes);
  if (bytes.length > MAX_REPORT_BYTES) {
    return { ok: false, reason: `xml: larger than ${MAX_REPORT_BYTES} bytes` };
  }
  return { ok: true, bytes };
}

/**
 * The report carried by `message`: the first part that is labelled (by type or file name) as a
 * report and whose bytes are gzip, zip or XML. Never throws.
 */
export function findReportPayload(message: Uint8Array): Payload {
  // A bare report file rather than a mail (no header starts with "<", 1F 8B or "PK").
  const bare = sniffKind(message);
  if (bare) {
    const xml = unpack(message, bare);
    return xml.ok ? { ok: true, xml: xml.bytes, kind: bare } : xml;
  }
  const root = parseMessage(message);
  let firstFailure: string | undefined;
  for (const part of walkParts(root)) {
    if (part.children.length > 0 || part.message) continue;
    const ct = part.contentType;
    const type = `${ct.type}/${ct.subtype}`;
    const disposition = findField(part.fields, "content-disposition");
    const dispParams = disposition ? parseDisposition(disposition.value)?.params ?? [] : [];
    const filename = paramValue(dispParams, "filename") ?? paramValue(ct.params, "name") ??
      undefined;
    const labelled = REPORT_TYPES.has(type) ||
      (filename !== undefined && REPORT_NAME.test(filename));
    // A mail without Content-Type may be the report itself (its body).
    if (!labelled && !(part === root && part.defaultType)) continue;
    const encoding = findField(part.fields, "content-transfer-encoding")?.value ?? "7bit";
    const bytes = decodeTransfer(message, part.bodyStart, part.bodyEnd, encoding);
    const kind = sniffKind(bytes);
    if (!kind) {
      if (labelled) firstFailure ??= `the ${type} part is neither gzip, zip nor XML`;
      continue;
    }
    const xml = unpack(bytes, kind);
    if (!xml.ok) return xml;
    const name = xml.name ?? filename;
    return { ok: true, xml: xml.bytes, kind, ...(name !== undefined ? { filename: name } : {}) };
  }
  return {
    ok: false,
    reason: firstFailure ?? "no report in the message (no gzip, zip or XML part)",
  };
}
