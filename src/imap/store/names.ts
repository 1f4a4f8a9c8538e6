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
 * Directory names use the protocol's modified UTF-7 codec (`../mutf7.ts`), which accepts
 * exactly what it produces, so every name has one directory.
 *
 * @module
 */

import { decodeMutf7, encodeMutf7 } from "../mutf7.ts";
import { MailStoreError } from "./errors.ts";

/** The hierarchy separator (RFC 3501 §6.3.8), `.` as in Maildir++. */
export const SEPARATOR = ".";

/** The canonical name of the root mailbox. */
export const INBOX = "INBOX";

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
