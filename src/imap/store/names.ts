/**
 * Mailbox names of the store and where they live on disk.
 *
 * Names handed to the store are Unicode strings as the user sees them (the session decodes the
 * wire form first: modified UTF-7 of RFC 3501 §5.1.3, or raw UTF-8 after RFC 6855 `ENABLE
 * UTF8=ACCEPT`). The hierarchy separator is `.` ({@link SEPARATOR}), as in Dovecot's
 * Maildir++ layout. `INBOX` is the account's Maildir root; any other mailbox `a.b` is the
 * Maildir++ folder `<root>/.a.b/`, its name written on disk in modified UTF-7 as Dovecot
 * does, so `Entwürfe` is `.Entw&APw-rfe/`. The name `INBOX` is case-insensitive (RFC 3501
 * §5.1), also as the first component of a longer name (`inbox.x` is `INBOX.x`).
 *
 * A name can never reach outside the account's Maildir: {@link normalizeMailboxName} refuses
 * (with {@link MailStoreError} code `BADNAME`) the empty name, `/` (so no absolute or
 * relative path), NUL and other control characters, empty components (`a..b`, and thus `..`),
 * a leading or trailing separator (`.hidden`, `a.`), the LIST wildcards `*` and `%`
 * (RFC 3501 §5.1 advises against them; they could not be listed unambiguously), unpaired
 * surrogates, and names whose folder directory would exceed 255 bytes.
 *
 * The modified UTF-7 codec here is the store's own, only for directory names; it accepts
 * exactly what it produces, so every name has one directory.
 *
 * @module
 */

import { MailStoreError } from "./errors.ts";

/** The hierarchy separator (RFC 3501 §6.3.8), `.` as in Maildir++. */
export const SEPARATOR = ".";

/** The canonical name of the root mailbox. */
export const INBOX = "INBOX";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
const B64_VALUE = new Map<string, number>([...B64].map((c, i) => [c, i]));

/** Modified UTF-7 (RFC 3501 §5.1.3) of `name`. The name must have no unpaired surrogates. */
export function encodeMutf7(name: string): string {
  let out = "";
  let units: number[] = [];
  const flush = () => {
    if (units.length === 0) return;
    let bits = 0;
    let acc = 0;
    out += "&";
    for (const u of units) {
      acc = (acc << 16) | u;
      bits += 16;
      while (bits >= 6) {
        bits -= 6;
        out += B64[(acc >> bits) & 63];
      }
      acc &= (1 << bits) - 1;
    }
    if (bits > 0) out += B64[(acc << (6 - bits)) & 63];
    out += "-";
    units = [];
  };
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += c === 0x26 ? "&-" : name[i];
    } else {
      units.push(c);
    }
  }
  flush();
  return out;
}

/** The name that {@link encodeMutf7} maps to `text`, or null when there is none. */
export function decodeMutf7(text: string): string | null {
  let out = "";
  let i = 0;
  let prevEncoded = false;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return null;
    if (c !== 0x26) {
      out += text[i++];
      prevEncoded = false;
      continue;
    }
    const end = text.indexOf("-", i + 1);
    if (end < 0) return null;
    if (end === i + 1) {
      out += "&";
      i = end + 1;
      prevEncoded = false;
      continue;
    }
    if (prevEncoded) return null; // two runs side by side are written as one
    let acc = 0;
    let bits = 0;
    const units: number[] = [];
    for (let j = i + 1; j < end; j++) {
      const v = B64_VALUE.get(text[j]!);
      if (v === undefined) return null;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 16) {
        bits -= 16;
        units.push((acc >> bits) & 0xffff);
        acc &= (1 << bits) - 1;
      }
    }
    if (bits >= 6 || acc !== 0 || units.length === 0) return null; // not minimal
    for (const u of units) if (u >= 0x20 && u <= 0x7e) return null; // must be direct
    out += String.fromCharCode(...units);
    i = end + 1;
    prevEncoded = true;
  }
  return encodeMutf7(out) === text ? out : null;
}

function refuse(name: string, why: string): never {
  throw new MailStoreError("BADNAME", `Invalid mailbox name ${JSON.stringify(name)}: ${why}`);
}

/**
 * Check `name` (see module doc) and return its canonical form (`INBOX` upper-cased).
 * @throws {MailStoreError} `BADNAME`.
 */
export function normalizeMailboxName(name: string): string {
  if (name.length === 0) refuse(name, "empty");
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) refuse(name, "control character");
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = name.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) refuse(name, "unpaired surrogate");
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) refuse(name, "unpaired surrogate");
  }
  if (name.includes("/")) refuse(name, `"/" is not allowed`);
  if (name.includes("*") || name.includes("%")) refuse(name, "wildcards are not allowed");
  if (name.startsWith(SEPARATOR) || name.endsWith(SEPARATOR)) {
    refuse(name, "leading or trailing hierarchy separator");
  }
  const parts = name.split(SEPARATOR);
  if (parts.some((p) => p.length === 0)) refuse(name, "empty hierarchy level");
  if (parts[0]!.toUpperCase() === INBOX) parts[0] = INBOX;
  const canonical = parts.join(SEPARATOR);
  if (canonical !== INBOX && new TextEncoder().encode(folderDirUnchecked(canonical)).length > 255) {
    refuse(name, "too long");
  }
  return canonical;
}

function folderDirUnchecked(name: string): string {
  return "." + encodeMutf7(name);
}

/** Whether the canonical `name` is the INBOX. */
export function isInbox(name: string): boolean {
  return name === INBOX;
}

/** The directory entry (in the Maildir root) of the canonical non-INBOX mailbox `name`. */
export function folderDirName(name: string): string {
  if (isInbox(name)) throw new TypeError("INBOX is the Maildir root");
  return folderDirUnchecked(name);
}

/**
 * The mailbox name of a Maildir root entry such as `.Sent` or `.a.b`, or null when the entry
 * is not a folder we can serve (not a valid name, or it would not map back to itself).
 */
export function nameFromFolderDir(entry: string): string | null {
  if (!entry.startsWith(".") || entry.length < 2) return null;
  const name = decodeMutf7(entry.slice(1));
  if (name === null) return null;
  try {
    const canonical = normalizeMailboxName(name);
    return canonical !== INBOX && folderDirUnchecked(canonical) === entry ? canonical : null;
  } catch {
    return null;
  }
}

/** The parent names of `name`: `a.b.c` → [`a`, `a.b`]. */
export function parentNames(name: string): string[] {
  const parts = name.split(SEPARATOR);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join(SEPARATOR));
  return out;
}

/** Whether `name` is below `parent` in the hierarchy (not equal). */
export function isDescendant(name: string, parent: string): boolean {
  return name.startsWith(parent + SEPARATOR);
}
