/**
 * DKIM tag=value lists (RFC 6376 §3.2), the syntax of both the DKIM-Signature header field
 * and the key records published in DNS.
 *
 * ```
 * tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
 * tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 * tag-name  =  ALPHA *ALNUMPUNC
 * tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
 * ```
 *
 * @module
 */

const TAG_NAME_REGEXP = /^[A-Za-z][A-Za-z0-9_]*$/;
/** Folding white space and WSP (RFC 5322 §3.2.2, RFC 5234 §B.1). */
const FWS_EDGES_REGEXP = /^[ \t\r\n]+|[ \t\r\n]+$/g;

/**
 * Parses a tag-list into a map from tag name to value, with the surrounding FWS removed and the
 * order of appearance kept. Tag names are case-sensitive (RFC 6376 §3.2: "Tags MUST be
 * interpreted in a case-sensitive manner"). Empty list elements (";;", a trailing ";") are
 * skipped.
 *
 * @param text The tag-list, folded or not.
 * @returns The tags in order of appearance.
 * @throws {SyntaxError} When an element has no "=", a tag name is malformed, or a tag appears
 * twice (RFC 6376 §3.2: "if a tag name does occur more than once, the entire tag-list is
 * invalid").
 */
export function parseTagList(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const element of text.split(";")) {
    if (element.replace(FWS_EDGES_REGEXP, "") === "") continue;
    const eq = element.indexOf("=");
    if (eq < 0) {
      throw new SyntaxError(`Tag-list element has no "=": "${element.trim()}"`);
    }
    const name = element.slice(0, eq).replace(FWS_EDGES_REGEXP, "");
    if (!TAG_NAME_REGEXP.test(name)) throw new SyntaxError(`Bad tag name: "${name}"`);
    if (tags.has(name)) throw new SyntaxError(`Duplicate tag: "${name}"`);
    tags.set(name, element.slice(eq + 1).replace(FWS_EDGES_REGEXP, ""));
  }
  return tags;
}

/** Splits a colon-separated tag value ("rsa:ed25519", h= lists), trimming FWS around items. */
export function splitColonList(value: string): string[] {
  return value.split(":").map((s) => s.replace(FWS_EDGES_REGEXP, ""));
}
