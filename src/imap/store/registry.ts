/**
 * The process-wide registry of open accounts: every IMAP session of one account shares one
 * {@link AccountMail} (one index connection, one change feed), reference-counted.
 *
 * ```ts
 * const registry = new MailRegistry(`${dataDir}/mail`, { pollMs: 1000 });
 * const mail = await registry.open("alice@example.org"); // <dataDir>/mail/example.org/alice/
 * const view = await mail.select("INBOX");
 * // ...
 * view.close();
 * registry.release(mail);
 * // SMTP delivery, after renaming a file into new/:
 * await registry.notifyNewMail("alice@example.org");
 * ```
 *
 * @module
 */

import { join, resolve } from "node:path";
import { AccountMail, type AccountMailOptions } from "./account_mail.ts";
import { MailStoreError } from "./errors.ts";
import { nameFromFolderDir } from "./names.ts";

/** Split `local@domain` into the two path components of its Maildir, refusing unsafe ones. */
export function accountPath(address: string): { domain: string; local: string } {
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  for (const part of [local, domain]) {
    // deno-lint-ignore no-control-regex
    if (at <= 0 || part === "" || part === "." || part === ".." || /[/\x00-\x1f\x7f]/.test(part)) {
      throw new MailStoreError("BADNAME", `Invalid account address ${JSON.stringify(address)}`);
    }
  }
  return { domain, local };
}

interface Entry {
  mail: Promise<AccountMail>;
  refs: number;
}

/** Open accounts of this process (see module doc). */
export class MailRegistry {
  /** The `mail` directory under the data directory. */
  readonly mailRoot: string;
  readonly #options: AccountMailOptions;
  readonly #open = new Map<string, Entry>();
  readonly #byMail = new Map<AccountMail, string>();

  constructor(mailRoot: string, options: AccountMailOptions = {}) {
    this.mailRoot = resolve(mailRoot);
    this.#options = options;
  }

  /** The Maildir root of `address`. */
  rootOf(address: string): string {
    const { domain, local } = accountPath(address);
    return join(this.mailRoot, domain, local);
  }

  /** Open (or share) the mail of `address`; pair with {@link release}. */
  async open(address: string): Promise<AccountMail> {
    const root = this.rootOf(address);
    let entry = this.#open.get(root);
    if (!entry) {
      const mail = AccountMail.open(root, address, this.#options);
      entry = { mail, refs: 0 };
      this.#open.set(root, entry);
      mail.then((m) => this.#byMail.set(m, root), () => this.#open.delete(root));
    }
    entry.refs++;
    try {
      return await entry.mail;
    } catch (e) {
      entry.refs--;
      throw e;
    }
  }

  /** Drop one reference; the last closes the account. */
  release(mail: AccountMail): void {
    const root = this.#byMail.get(mail);
    const entry = root === undefined ? undefined : this.#open.get(root);
    if (!entry || root === undefined) return;
    if (--entry.refs > 0) return;
    this.#open.delete(root);
    this.#byMail.delete(mail);
    mail.close();
  }

  /**
   * New mail was put into a Maildir by another route (SMTP delivery, after its rename into
   * `new/`): `target` is the account's address, or a path inside its Maildir (the mailbox
   * directory or the delivered file). Open views of that mailbox are told at once; accounts
   * not open need nothing (their next SELECT syncs).
   */
  async notifyNewMail(target: string): Promise<void> {
    let root: string;
    let folder: string | undefined;
    if (!target.includes("/")) {
      root = this.rootOf(target);
    } else {
      const path = resolve(target);
      const found = [...this.#open.keys()].find((r) => path === r || path.startsWith(r + "/"));
      if (!found) return;
      root = found;
      const first = path.slice(root.length + 1).split("/")[0] ?? "";
      folder = nameFromFolderDir(first) ?? undefined;
    }
    const entry = this.#open.get(root);
    if (!entry) return;
    const mail = await entry.mail.catch(() => undefined);
    if (!mail || mail.closed) return;
    await mail.refresh(folder ?? "INBOX").catch(() => {});
  }

  /** Close every open account (shutdown). */
  async closeAll(): Promise<void> {
    const entries = [...this.#open.values()];
    this.#open.clear();
    this.#byMail.clear();
    for (const e of entries) (await e.mail.catch(() => undefined))?.close();
  }
}
