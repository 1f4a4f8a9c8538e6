/**
 * Helpers for the SMTP syntax unit tests: mailbox values, long domains, and an assertion on
 * AddressSyntaxError. Test-only; private to src/smtp.
 *
 * @module
 */

import assert from "node:assert/strict";
import { AddressSyntaxError, type Mailbox } from "./address.ts";

/** A domain made of labels of the given lengths ("aaa.bbb..."), for length limits. */
export function domainOf(...lengths: number[]): string {
  return lengths.map((n, i) => String.fromCharCode(0x61 + (i % 26)).repeat(n)).join(".");
}

/** A Mailbox with the given parts, unquoted ASCII unless `extra` says otherwise. */
export function mbox(local: string, domain: string, extra: Partial<Mailbox> = {}): Mailbox {
  return { local, quoted: false, domain, utf8: false, ...extra };
}

/** Assert that `fn` throws an AddressSyntaxError whose message matches `why`. */
export function assertSyntaxError(fn: () => unknown, why: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AddressSyntaxError, `expected AddressSyntaxError, got ${e}`);
    assert.match(e.message, why);
    return true;
  });
}
