/**
 * Byte and text helpers shared by the DKIM modules: Latin-1 ("binary") strings, base64 and
 * SHA-256. Private to src/dkim.
 *
 * @module
 */

/** Bytes as a string with one character (U+0000..U+00FF) per byte. */
export function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

/** The inverse of {@linkcode latin1}; characters above U+00FF keep their low byte. */
export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Standard base64 (RFC 4648 §4) of `bytes`, with padding. */
export function toBase64(bytes: Uint8Array): string {
  return btoa(latin1(bytes));
}

const BASE64_REGEXP = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes base64 after removing all whitespace (RFC 6376 §3.5 b=/bh= and §3.6.1 p= allow FWS
 * inside the value). Missing padding is tolerated. Returns `null` when the text is not base64.
 */
export function fromBase64(text: string): Uint8Array | null {
  const compact = text.replace(/[ \t\r\n]+/g, "");
  if (!BASE64_REGEXP.test(compact)) return null;
  const bare = compact.replace(/=+$/, "");
  if (bare.length % 4 === 1) return null;
  try {
    return latin1Bytes(atob(bare + "=".repeat((4 - (bare.length % 4)) % 4)));
  } catch {
    return null;
  }
}

/** SHA-256 of `data`. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

/** Constant-time-ish equality of two byte arrays (both are public here, but it costs nothing). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** ASCII-only lower-casing (header field names, tag values), leaving other bytes alone. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * The ASCII (A-label) form of a domain name, lower-case, without a trailing dot, or `null` if it
 * is not a syntactically valid host name. U-labels are converted with the WHATWG URL parser's
 * IDNA processing (RFC 8616 §4 allows them in d=).
 */
export function asciiDomain(name: string): string | null {
  let host = name.replace(/\.$/, "");
  if (host === "" || host.length > 253) return null;
  if (/[^\x21-\x7e]/.test(host)) {
    try {
      host = new URL(`http://${host}/`).hostname;
    } catch {
      return null;
    }
  }
  host = asciiLower(host);
  // Labels of letters, digits, hyphens and (for selectors and _domainkey) underscores.
  const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
  return host.split(".").every((l) => LABEL.test(l)) ? host : null;
}
