/**
 * The little XML this directory needs: escaping every value put into a document, and reading
 * the text of one element from a small untrusted document without an XML parser: no DTD, no
 * entities beyond the five predefined ones and character references, a size bound.
 *
 * @module
 */

/** A document refused before it was looked at (a DTD, or too large). */
export class XmlRefused extends Error {}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};
const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

// XML 1.0 §2.2 Char: what may not appear in a document at all (escaped or not).
// deno-lint-ignore no-control-regex
const NOT_XML_CHAR = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]/gu;

/** `text` safe as element content or an attribute value (characters XML forbids become U+FFFD). */
export function escapeXml(text: string): string {
  return text.replace(NOT_XML_CHAR, "\ufffd").replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * The text content of the first element named `localName` (in any namespace prefix), with
 * predefined entities and character references undone; null when there is none or its content
 * is not plain text.
 * @throws {XmlRefused} for a document with a DTD or entity declaration, or over `maxBytes`.
 */
export function elementText(xml: string, localName: string, maxBytes: number): string | null {
  if (xml.length > maxBytes) throw new XmlRefused("document too large");
  // No DTD means no entity can be declared, so none can expand (no "billion laughs", no XXE).
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new XmlRefused("a DTD is not accepted");
  const name = `(?:[A-Za-z_][\\w.-]*:)?${localName}`;
  const m = new RegExp(`<${name}(?:\\s[^<>]*)?>([^<]*)</${name}\\s*>`).exec(xml);
  if (!m) return null;
  let bad = false;
  const text = m[1]!.replace(/&(#x[0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[a-z]{2,4});|&/g, (all, ref) => {
    if (ref === undefined) return (bad = true, all);
    if (!ref.startsWith("#")) return NAMED[ref] ?? (bad = true, all);
    const cp = ref[1] === "x" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    if (cp > 0x10ffff) return (bad = true, all);
    const c = String.fromCodePoint(cp);
    return c.replace(NOT_XML_CHAR, "") === c ? c : (bad = true, all);
  });
  return bad ? null : text.trim();
}
