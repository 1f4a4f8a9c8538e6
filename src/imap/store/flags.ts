/**
 * Message flags: IMAP system flags (RFC 3501 §2.3.2) as a bit set, keywords as strings, and
 * their Maildir form, the letters after `:2,` in the file name
 * (https://cr.yp.to/proto/maildir.html): `D` Draft, `F` Flagged, `R` Replied (`\Answered`),
 * `S` Seen, `T` Trashed (`\Deleted`), always in ASCII order. Letters the store does not map
 * (`P` Passed, Dovecot's lower-case keyword letters) are kept as they are when flags change.
 * `\Recent` is not stored: it belongs to a session ({@link MailboxView}).
 *
 * Keywords live only in the index (Maildir has no portable place for them).
 *
 * @module
 */

import { MailStoreError } from "./errors.ts";

/** Bits of the system flags. */
export const Flag = {
  Seen: 1,
  Answered: 2,
  Flagged: 4,
  Deleted: 8,
  Draft: 16,
} as const;

const SYSTEM: readonly [string, number, string][] = [
  ["\\Answered", Flag.Answered, "R"],
  ["\\Flagged", Flag.Flagged, "F"],
  ["\\Deleted", Flag.Deleted, "T"],
  ["\\Seen", Flag.Seen, "S"],
  ["\\Draft", Flag.Draft, "D"],
];
const BY_NAME = new Map(SYSTEM.map(([n, b]) => [n.toLowerCase(), b]));
const BY_LETTER = new Map(SYSTEM.map(([, b, l]) => [l, b]));

/** A message's stored flags. */
export interface Flags {
  /** Bit set of {@link Flag}. */
  system: number;
  /** Keywords in the order first set. */
  keywords: string[];
}

/**
 * Split IMAP flag names into system bits and keywords (de-duplicated case-insensitively).
 * `\Recent` is ignored (RFC 3501 §2.3.2: it cannot be set by a client).
 * @throws {MailStoreError} `CANNOT` for an unknown `\` flag or a keyword that is not an atom.
 */
export function parseFlags(names: readonly string[]): Flags {
  let system = 0;
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const n of names) {
    const lower = n.toLowerCase();
    if (n.startsWith("\\")) {
      if (lower === "\\recent") continue;
      const bit = BY_NAME.get(lower);
      if (bit === undefined) throw new MailStoreError("CANNOT", `Unknown system flag ${n}`);
      system |= bit;
      continue;
    }
    // atom-char (RFC 3501 §9) minus "]" is all an IMAP keyword can hold; we store them
    // space-separated, so anything else would corrupt the list.
    if (n.length === 0 || !/^[!#$&'+-[^-z|}~]+$/.test(n)) {
      throw new MailStoreError("CANNOT", `Invalid keyword ${JSON.stringify(n)}`);
    }
    if (!seen.has(lower)) {
      seen.add(lower);
      keywords.push(n);
    }
  }
  return { system, keywords };
}

/** The IMAP names of `flags` (system flags first, in a fixed order, then keywords). */
export function flagNames(flags: Flags): string[] {
  const out: string[] = [];
  for (const [n, b] of SYSTEM) if (flags.system & b) out.push(n);
  return out.concat(flags.keywords);
}

/** The system bits that the Maildir info letters (after `:2,`) say. */
export function systemFromInfo(info: string): number {
  let bits = 0;
  for (const ch of info) bits |= BY_LETTER.get(ch) ?? 0;
  return bits;
}

/** New info letters: `old`'s letters the store does not map, plus those of `system`, sorted. */
export function infoWithSystem(old: string, system: number): string {
  const letters = new Set<string>();
  for (const ch of old) {
    if (!BY_LETTER.has(ch) && ch > " " && ch <= "~" && ch !== ",") letters.add(ch);
  }
  for (const [, b, l] of SYSTEM) if (system & b) letters.add(l);
  return [...letters].sort().join("");
}

/** Keywords joined for the index. */
export function joinKeywords(keywords: readonly string[]): string {
  return keywords.join(" ");
}

/** Keywords from the index. */
export function splitKeywords(text: string): string[] {
  return text === "" ? [] : text.split(" ");
}

/** How a STORE combines flags (RFC 3501 §6.4.6: FLAGS, +FLAGS, -FLAGS). */
export type StoreMode = "set" | "add" | "remove";

/** Apply `change` to `current` per `mode`. */
export function applyFlags(current: Flags, mode: StoreMode, change: Flags): Flags {
  if (mode === "set") return { system: change.system, keywords: [...change.keywords] };
  if (mode === "add") {
    const have = new Set(current.keywords.map((k) => k.toLowerCase()));
    const keywords = [...current.keywords];
    for (const k of change.keywords) if (!have.has(k.toLowerCase())) keywords.push(k);
    return { system: current.system | change.system, keywords };
  }
  const drop = new Set(change.keywords.map((k) => k.toLowerCase()));
  return {
    system: current.system & ~change.system,
    keywords: current.keywords.filter((k) => !drop.has(k.toLowerCase())),
  };
}

/** Whether two flag states are the same (keywords compared as sets, case-insensitively). */
export function sameFlags(a: Flags, b: Flags): boolean {
  if (a.system !== b.system || a.keywords.length !== b.keywords.length) return false;
  const set = new Set(a.keywords.map((k) => k.toLowerCase()));
  return b.keywords.every((k) => set.has(k.toLowerCase()));
}
