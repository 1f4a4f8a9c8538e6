/**
 * Modified UTF-7 mailbox names, RFC 3501 §5.1.3 (kept as-is in RFC 9051 §5.1.3).
 *
 * In modified UTF-7, printable US-ASCII (0x20–0x7e) other than "&" stands for itself, "&" is
 * written "&-", and every other run of characters is written as "&" + modified BASE64 of its
 * UTF-16 code units (RFC 2152 base64 with "," in place of "/", no "=" padding) + "-".
 *
 * {@link decodeMutf7} is strict so that every name has exactly one wire form: it refuses
 * characters outside printable ASCII, an "&" without its "-", base64 that is not minimal
 * (left-over bits that are not zero, or a whole spare sextet), printable ASCII encoded in base64
 * (RFC 3501 §5.1.3: "MUST be represented by themselves"), two encoded runs side by side (they
 * must be one run), an odd number of octets and unpaired surrogates. Thus
 * `encodeMutf7(decodeMutf7(w)) === w` whenever the decode succeeds.
 *
 * When the client has enabled UTF8=ACCEPT (RFC 6855 §3), names travel as raw UTF-8 instead and
 * are not decoded: {@link mailboxFromWire} picks the right rule.
 *
 * @module
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
const VALUE = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));

function isDirect(code: number): boolean {
  return code >= 0x20 && code <= 0x7e;
}

/** Encode UTF-16 code units in modified BASE64 (RFC 3501 §5.1.3), without the "&" and "-". */
function encodeUnits(units: number[]): string {
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const u of units) {
    acc = (acc << 16) | u;
    bits += 16;
    while (bits >= 6) {
      bits -= 6;
      out += ALPHABET[(acc >> bits) & 0x3f];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (6 - bits)) & 0x3f];
  return out;
}

/**
 * Encode a Unicode mailbox name in modified UTF-7 (RFC 3501 §5.1.3).
 *
 * @param name the name as Unicode text (any string; lone surrogates are encoded as they are).
 * @returns the 7-bit wire form, e.g. `"~peter/mail/台北/日本語"` → `"~peter/mail/&U,BTFw-/&ZeVnLIqe-"`.
 */
export function encodeMutf7(name: string): string {
  let out = "";
  let run: number[] = [];
  const flush = () => {
    if (run.length > 0) out += "&" + encodeUnits(run) + "-";
    run = [];
  };
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (isDirect(code)) {
      flush();
      out += code === 0x26 ? "&-" : name[i];
    } else {
      run.push(code);
    }
  }
  flush();
  return out;
}

/** Decode one base64 run; null when it is not the minimal encoding of whole code units. */
function decodeRun(b64: string): number[] | null {
  const units: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const c of b64) {
    const v = VALUE.get(c);
    if (v === undefined) return null;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 16) {
      bits -= 16;
      units.push((acc >> bits) & 0xffff);
    }
  }
  // Leftover must be fewer than 6 bits, all zero (RFC 2152 minimal encoding).
  if (bits >= 6 || (acc & ((1 << bits) - 1)) !== 0) return null;
  return units;
}

/**
 * Decode a modified UTF-7 mailbox name (RFC 3501 §5.1.3).
 *
 * @param wire the name as sent by the client (after string unquoting).
 * @returns the Unicode name, or null when `wire` is not valid, canonical modified UTF-7.
 */
export function decodeMutf7(wire: string): string | null {
  let out = "";
  let i = 0;
  let lastWasRun = false;
  while (i < wire.length) {
    const code = wire.charCodeAt(i);
    if (!isDirect(code)) return null;
    if (code !== 0x26) {
      out += wire[i];
      i++;
      lastWasRun = false;
      continue;
    }
    const end = wire.indexOf("-", i + 1);
    if (end < 0) return null;
    if (end === i + 1) {
      out += "&";
      i = end + 1;
      lastWasRun = false;
      continue;
    }
    if (lastWasRun) return null;
    const units = decodeRun(wire.slice(i + 1, end));
    if (units === null || units.length === 0) return null;
    for (let k = 0; k < units.length; k++) {
      const u = units[k]!;
      if (isDirect(u)) return null;
      if (u >= 0xd800 && u <= 0xdbff) {
        const next = units[k + 1];
        if (next === undefined || next < 0xdc00 || next > 0xdfff) return null;
        out += String.fromCharCode(u, next);
        k++;
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        return null;
      } else {
        out += String.fromCharCode(u);
      }
    }
    i = end + 1;
    lastWasRun = true;
  }
  return out;
}

/**
 * The Unicode mailbox name a client means by `wire`: raw UTF-8 text when UTF8=ACCEPT is enabled
 * (RFC 6855 §3), modified UTF-7 otherwise. Null when the modified UTF-7 is invalid.
 */
export function mailboxFromWire(wire: string, utf8Accept: boolean): string | null {
  return utf8Accept ? wire : decodeMutf7(wire);
}

/** The wire form of a Unicode mailbox name: itself under UTF8=ACCEPT, else modified UTF-7. */
export function mailboxToWire(name: string, utf8Accept: boolean): string {
  return utf8Accept ? name : encodeMutf7(name);
}
