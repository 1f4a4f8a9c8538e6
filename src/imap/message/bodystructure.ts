/**
 * FETCH BODY and BODYSTRUCTURE (RFC 3501 §7.4.2 and §9 `body`; RFC 9051 §7.5.2).
 *
 * Exported API:
 * - `bodyStructure(part, extended): string` — the encoded structure of `part` (normally the
 *   root from `parseMessage`): `extended = false` gives FETCH BODY (no extension data),
 *   `true` gives BODYSTRUCTURE with extension data: for a multipart the parameters
 *   (boundary), disposition, language and location; for a single part the MD5, disposition,
 *   language and location (RFC 3501 §7.4.2 `body-ext-mpart`, `body-ext-1part`).
 *
 * Casing: type, subtype, parameter names, encoding and disposition type are sent upper-case
 * ("TEXT" "PLAIN" ("CHARSET" "us-ascii") ... "7BIT") like the imaptest expectations; values
 * are as written. Sizes are byte counts of the stored body (RFC 3501: octets), lines are the
 * body's LF count (Dovecot counts the same way).
 *
 * Defaults and repairs (RFC 2045 §5.2, RFC 2046 §5.1.5): no or invalid Content-Type is
 * `text/plain; charset=us-ascii`; a text part whose Content-Type has no parameters gets
 * ("CHARSET" "us-ascii") as Dovecot sends; parts of `multipart/digest` default to
 * `message/rfc822`; a multipart without parts (no delimiter found, or cut by the depth limit) is
 * sent with one empty text/plain part, because `body-type-mpart` needs at least one body (this
 * is what Dovecot does too); a `message/rfc822` past the depth limit gets an empty envelope.
 * Parameters follow RFC 2231 merging: an extended value is sent as `NAME*` with its
 * `charset'lang'%XX` text (as Dovecot does), plain ones as is.
 *
 * @module
 */

import { imapNString, imapString } from "./_imap_string.ts";
import { envelope } from "./envelope.ts";
import { findField, type MimeParam, parseDisposition, unfold } from "./header.ts";
import { isMessageType, type MimePart } from "./mime_tree.ts";

/** The stand-in part of an empty multipart (RFC 3501 requires one or more parts). */
const EMPTY_TEXT = '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0)';

function params(list: readonly MimeParam[]): string {
  if (list.length === 0) return "NIL";
  return "(" +
    list.map((p) =>
      `${imapString(p.name.toUpperCase() + (p.extended ? "*" : ""))} ${imapString(p.value)}`
    )
      .join(" ") +
    ")";
}

function fieldText(part: MimePart, name: string): string | null {
  const f = findField(part.fields, name);
  return f ? unfold(f.value) : null;
}

function disposition(part: MimePart): string {
  const raw = fieldText(part, "content-disposition");
  const d = raw === null ? null : parseDisposition(raw);
  if (!d) return "NIL";
  return `(${imapString(d.type.toUpperCase())} ${params(d.params)})`;
}

function language(part: MimePart): string {
  const raw = fieldText(part, "content-language");
  if (raw === null) return "NIL";
  // RFC 3282: a comma-separated list of language tags (comments dropped).
  const tags = raw.replace(/\([^)]*\)/g, " ").split(/[\s,]+/).filter((t) => t !== "");
  if (tags.length === 0) return "NIL";
  if (tags.length === 1) return imapString(tags[0]!);
  return "(" + tags.map(imapString).join(" ") + ")";
}

/** Extension data shared by both kinds: disposition, language, location. */
function tailExtensions(part: MimePart): string {
  return `${disposition(part)} ${language(part)} ${
    imapNString(fieldText(part, "content-location"))
  }`;
}

function multipart(part: MimePart, extended: boolean): string {
  const kids = part.children.length > 0
    ? part.children.map((c) => bodyStructure(c, extended)).join("")
    : EMPTY_TEXT;
  let out = `(${kids} ${imapString(part.contentType.subtype.toUpperCase())}`;
  if (extended) out += ` ${params(part.contentType.params)} ${tailExtensions(part)}`;
  return out + ")";
}

function singlePart(part: MimePart, extended: boolean): string {
  const ct = part.contentType;
  const text = ct.type === "text";
  const paramList = text && ct.params.length === 0 ? '("CHARSET" "us-ascii")' : params(ct.params);
  const encoding = (fieldText(part, "content-transfer-encoding") ?? "").toUpperCase() || "7BIT";
  const fields = [
    imapString(ct.type.toUpperCase()),
    imapString(ct.subtype.toUpperCase()),
    paramList,
    imapNString(fieldText(part, "content-id")),
    imapNString(fieldText(part, "content-description")),
    imapString(encoding),
    String(part.bodyEnd - part.bodyStart),
  ];
  if (isMessageType(ct)) {
    // body-type-msg: envelope, body, lines (RFC 3501 §9; message/global per RFC 9051 §7.5.2).
    const inner = part.message;
    fields.push(inner ? envelope(inner.fields) : envelope([]));
    fields.push(inner ? bodyStructure(inner, extended) : EMPTY_TEXT);
    fields.push(String(part.lines));
  } else if (text) {
    fields.push(String(part.lines));
  }
  if (extended) {
    fields.push(imapNString(fieldText(part, "content-md5")), tailExtensions(part));
  }
  return `(${fields.join(" ")})`;
}

/** BODY (`extended = false`) or BODYSTRUCTURE (`extended = true`) of `part`. */
export function bodyStructure(part: MimePart, extended: boolean): string {
  return part.contentType.type === "multipart"
    ? multipart(part, extended)
    : singlePart(part, extended);
}
