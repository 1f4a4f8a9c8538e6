/**
 * Helpers for the store's tests: a temporary account Maildir and small messages.
 *
 * @module
 */

import { join } from "node:path";
import { AccountMail, type AccountMailOptions } from "./account_mail.ts";

/** Run `fn` with the path of a fresh account Maildir root (not yet created) in a temp dir. */
export async function withTempRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postie-imap-store-" });
  try {
    await fn(join(dir, "example.org", "alice"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Open the test account at `root`. */
export function openMail(root: string, options: AccountMailOptions = {}): Promise<AccountMail> {
  return AccountMail.open(root, "alice@example.org", { hostname: "test.host", ...options });
}

/** A small CRLF message. */
export function message(subject: string): Uint8Array {
  return new TextEncoder().encode(
    `Subject: ${subject}\r\nFrom: a@b.c\r\n\r\nBody of ${subject}\r\n`,
  );
}

/** The file names in `dir/sub` (sorted). */
export async function filesIn(dir: string, sub: "new" | "cur" | "tmp"): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, sub))) out.push(e.name);
  return out.sort();
}

/** Drop a message into `dir/new/` as another delivery agent would. */
export async function deliverByHand(dir: string, name: string, subject: string): Promise<void> {
  await Deno.writeFile(join(dir, "tmp", name), message(subject));
  await Deno.rename(join(dir, "tmp", name), join(dir, "new", name));
}
