/**
 * The mail of one account, shared by all its IMAP sessions in this process (through
 * {@link MailRegistry} in registry.ts): the mailbox list and every change to it, backed by the
 * account's Maildir (`<data_dir>/mail/<domain>/<local>/`, INBOX at the root, Maildir++ folders
 * `.Name/`, see names.ts) and its index (index_db.ts).
 *
 * Principles: a method that resolves has made its change durable (files and directories
 * fsynced, index committed); the Maildir stays one Dovecot can read; a mailbox name never
 * reaches outside the Maildir (names.ts). All changes of one account run one at a time.
 *
 * Mailboxes (RFC 3501 §6.3):
 * - {@link AccountMail.list}: every mailbox plus the hierarchy parents that exist only as a
 *   path (`\Noselect`), with `\HasChildren` / `\HasNoChildren` (RFC 3348 / RFC 5258 §4) and
 *   the special-use attribute (RFC 6154 §2). `Sent`, `Drafts`, `Trash`, `Junk` and `Archive`
 *   (`\Sent` `\Drafts` `\Trash` `\Junk` `\Archive`) are created when an account is first
 *   opened (and again with a rebuilt index); deleted later, they stay deleted.
 * - {@link AccountMail.create} (§6.3.3: one trailing separator only declares the intent to
 *   create children and is dropped; parents are not created, they exist as a path),
 *   {@link AccountMail.delete} (§6.3.4: never INBOX; a mailbox with children is removed and
 *   its name lives on as a `\Noselect` parent; deleting such a parent is refused),
 *   {@link AccountMail.rename} (§6.3.5: children follow; renaming INBOX moves its messages to
 *   the new mailbox and leaves INBOX empty, its children untouched; UIDVALIDITY of a renamed
 *   mailbox is kept), subscriptions (§6.3.6, kept even for mailboxes that do not exist),
 *   {@link AccountMail.status} (§6.3.10 and RFC 8438 SIZE).
 * - A re-created mailbox always gets a new UIDVALIDITY (RFC 3501 §2.3.1.1).
 *
 * Messages: {@link AccountMail.select} returns a {@link MailboxView} for the session; the
 * operations (append, copy, move, store, expunge, read) are described in message_ops.ts.
 * Every committed change is published to the views of its mailbox, and to
 * {@link AccountMail.onChange} listeners. Mail arriving by other routes is found by
 * {@link AccountMail.refresh} (the session's NOOP / CHECK / IDLE, and SMTP delivery through
 * `MailRegistry.notifyNewMail`) and, when `pollMs` is set, by a periodic rescan of the
 * mailboxes that have views, which reads the directories only when their mtime moved.
 *
 * Keywords, subscriptions and `\Recent` live only in the index: a rebuilt index loses them.
 *
 * @module
 */

import { join } from "node:path";
import { createMaildir, DirSyncer } from "../../delivery/maildir.ts";
import { syncDir } from "../../fs/durable.ts";
import { MailStoreError } from "./errors.ts";
import { flagNames, type StoreMode } from "./flags.ts";
import { IndexDb, type MailboxRow } from "./index_db.ts";
import { NameMaker, syncMailbox } from "./maildir_sync.ts";
import {
  buildListing,
  type MailboxListing,
  type MailboxStatus,
  type MailChange,
  type MessageInfo,
  messageInfo,
  SPECIAL_USE,
} from "./mailbox_list.ts";
import { MailboxView } from "./mailbox_view.ts";
import {
  type AppendInput,
  appendMessages,
  type AppendResult,
  type Changes,
  copyMessages,
  type CopyResult,
  expungeMessages,
  type MailContext,
  readMessage,
  storeFlags,
  type StoreResult,
} from "./message_ops.ts";
import {
  folderDirName,
  INBOX,
  isDescendant,
  isInbox,
  nameFromFolderDir,
  normalizeMailboxName,
  SEPARATOR,
} from "./names.ts";

export type { AppendInput, AppendResult, CopyResult, StoreResult };
export {
  type MailboxListing,
  type MailboxStatus,
  type MailChange,
  type MessageInfo,
  SPECIAL_USE,
} from "./mailbox_list.ts";

/** Prefix of a deleted folder's directory while its files are removed (not a Maildir++ name). */
const TRASH_PREFIX = "postie-deleting-";

/** Options of {@link AccountMail.open}. */
export interface AccountMailOptions {
  /** For Maildir file names; default the host name. */
  hostname?: string;
  /** Rescan mailboxes with views every so many ms (0, the default: never). */
  pollMs?: number;
  /** Clock for UIDVALIDITY (tests). */
  now?: () => number;
}

function defaultHost(): string {
  try {
    return Deno.hostname();
  } catch {
    return "localhost";
  }
}

/** The mail of one account (see module doc). */
export class AccountMail {
  /** The Maildir root (INBOX). */
  readonly root: string;
  readonly address: string;
  readonly #db: IndexDb;
  readonly #syncer = new DirSyncer();
  readonly #names: NameMaker;
  readonly #views = new Map<number, MailboxView[]>();
  readonly #listeners = new Set<(c: MailChange) => void>();
  readonly #dirStamp = new Map<number, string>();
  readonly #ctx: MailContext;
  #queue: Promise<unknown> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  private constructor(root: string, address: string, db: IndexDb, options: AccountMailOptions) {
    this.root = root;
    this.address = address;
    this.#db = db;
    this.#names = new NameMaker(options.hostname ?? defaultHost());
    this.#ctx = {
      db,
      syncer: this.#syncer,
      names: this.#names,
      dirOf: (row) => this.#dirOf(row.name),
      claimRecentInTx: (id) => this.#claimRecentInTx(id),
      publish: (id, changes, origin) => this.#publish(id, changes, origin),
    };
    if (options.pollMs && options.pollMs > 0) {
      this.#timer = setInterval(() => this.#poll(), options.pollMs);
    }
  }

  /** Open the mail of `address` whose Maildir is `root` (created when missing). */
  static async open(
    root: string,
    address: string,
    options: AccountMailOptions = {},
  ): Promise<AccountMail> {
    await createMaildir(root);
    const db = await IndexDb.open(root, { now: options.now });
    const mail = new AccountMail(root, address, db, options);
    try {
      await mail.#serial(async () => {
        await mail.#removeTrash();
        await mail.#reconcileMailboxes();
        if (mail.#db.meta("special_use_created") === undefined) {
          for (const name of Object.keys(SPECIAL_USE)) {
            if (!mail.#db.mailbox(name)) await mail.#createMailbox(name);
          }
          await mail.#db.commit(() => mail.#db.setMeta("special_use_created", "1"));
        }
      });
    } catch (e) {
      mail.close();
      throw e;
    }
    return mail;
  }

  /** Close the index and stop polling; views become useless. Use the registry's release. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const views of this.#views.values()) for (const v of [...views]) v.close();
    this.#db.close();
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Run `fn` after every change queued before it (one change of the account at a time). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#closed) throw new MailStoreError("CLOSED", "Mail store closed");
      return fn();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  #dirOf(name: string): string {
    return isInbox(name) ? this.root : join(this.root, folderDirName(name));
  }

  #row(name: string, missing: "NONEXISTENT" | "TRYCREATE" = "NONEXISTENT"): MailboxRow {
    const row = this.#db.mailbox(normalizeMailboxName(name));
    if (!row) {
      throw new MailStoreError(
        missing,
        missing === "TRYCREATE" ? "Mailbox does not exist" : "No such mailbox",
      );
    }
    return row;
  }

  /** {@link #row}, but a folder another program created (not yet indexed) is registered first. */
  async #findRow(
    name: string,
    missing: "NONEXISTENT" | "TRYCREATE" = "NONEXISTENT",
  ): Promise<MailboxRow> {
    const canonical = normalizeMailboxName(name);
    if (!this.#db.mailbox(canonical)) await this.#reconcileMailboxes();
    return this.#row(canonical, missing);
  }

  #viewRow(view: MailboxView, write: boolean): MailboxRow {
    if (view.closed) throw new MailStoreError("CLOSED", "Mailbox is not selected");
    if (write && view.readOnly) throw new MailStoreError("CANNOT", "Mailbox is read-only");
    const row = this.#db.mailboxById(view.mailboxId);
    if (!row) throw new MailStoreError("NONEXISTENT", "Mailbox was deleted");
    return row;
  }

  // --- mailbox list ----------------------------------------------------------------------

  async #removeTrash(): Promise<void> {
    for await (const e of Deno.readDir(this.root)) {
      if (e.isDirectory && e.name.startsWith(TRASH_PREFIX)) {
        await Deno.remove(join(this.root, e.name), { recursive: true }).catch(() => {});
      }
    }
  }

  /** Make the index's mailbox list match the folders on disk. */
  async #reconcileMailboxes(): Promise<void> {
    const onDisk = new Set<string>([INBOX]);
    for await (const e of Deno.readDir(this.root)) {
      if (!e.isDirectory) continue;
      const name = nameFromFolderDir(e.name);
      if (name !== null) onDisk.add(name);
    }
    const rows = this.#db.mailboxes();
    const gone = rows.filter((r) => !onDisk.has(r.name));
    const indexed = new Set(rows.map((r) => r.name));
    const added = [...onDisk].filter((n) => !indexed.has(n)).sort();
    if (gone.length === 0 && added.length === 0) return;
    const validities = added.length > 0 ? await this.#db.allocateUidvalidity(added.length) : [];
    await this.#db.commit(() => {
      for (const r of gone) this.#db.deleteMailbox(r.id);
      for (const [i, name] of added.entries()) {
        this.#db.insertMailbox(name, validities[i]!, SPECIAL_USE[name] ?? null);
      }
    });
    for (const r of gone) this.#dropViews(r.id);
  }

  async #createMailbox(name: string, specialUse: string | null = SPECIAL_USE[name] ?? null) {
    const [uidvalidity] = await this.#db.allocateUidvalidity(1);
    const dir = this.#dirOf(name);
    await createMaildir(dir);
    // Maildir++: a folder carries an empty "maildirfolder" file.
    const marker = join(dir, "maildirfolder");
    await Deno.writeFile(marker, new Uint8Array(), { mode: 0o600 });
    await syncDir(dir);
    return await this.#db.commit(() => this.#db.insertMailbox(name, uidvalidity!, specialUse));
  }

  /** All mailboxes and path-only parents, INBOX first, then by name (see module doc). */
  list(): Promise<MailboxListing[]> {
    return this.#serial(async () => {
      await this.#reconcileMailboxes();
      return buildListing(this.#db.mailboxes(), this.#db.subscriptions());
    });
  }

  /** Subscribed names (RFC 3501 §6.3.6; they need not exist). */
  subscriptions(): string[] {
    return this.#db.subscriptions();
  }

  /** SUBSCRIBE / UNSUBSCRIBE (RFC 3501 §6.3.6, §6.3.7). */
  async setSubscribed(name: string, on: boolean): Promise<void> {
    const canonical = normalizeMailboxName(name);
    await this.#serial(() => this.#db.commit(() => this.#db.setSubscribed(canonical, on)));
  }

  /** CREATE (RFC 3501 §6.3.3; see module doc). */
  async create(name: string): Promise<void> {
    const canonical = normalizeMailboxName(
      name.endsWith(SEPARATOR) && name.length > 1 ? name.slice(0, -1) : name,
    );
    await this.#serial(async () => {
      if (isInbox(canonical) || this.#db.mailbox(canonical)) {
        throw new MailStoreError("ALREADYEXISTS", "Mailbox already exists");
      }
      await this.#createMailbox(canonical);
    });
  }

  /** DELETE (RFC 3501 §6.3.4; see module doc). */
  async delete(name: string): Promise<void> {
    const canonical = normalizeMailboxName(name);
    await this.#serial(async () => {
      if (isInbox(canonical)) throw new MailStoreError("CANNOT", "INBOX cannot be deleted");
      const row = this.#db.mailbox(canonical);
      if (!row) {
        const parent = this.#db.mailboxes().some((r) => isDescendant(r.name, canonical));
        throw parent
          ? new MailStoreError("CANNOT", "Mailbox has children and no messages of its own")
          : new MailStoreError("NONEXISTENT", "No such mailbox");
      }
      // Rename the folder out of the Maildir++ namespace first: a crash after that leaves a
      // directory the next open removes, never half a mailbox.
      const trash = join(this.root, `${TRASH_PREFIX}${Date.now()}-${row.id}`);
      await Deno.rename(this.#dirOf(canonical), trash).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      await syncDir(this.root);
      await this.#db.commit(() => this.#db.deleteMailbox(row.id));
      this.#dropViews(row.id);
      await Deno.remove(trash, { recursive: true }).catch(() => {});
    });
  }

  #dropViews(id: number): void {
    for (const v of this.#views.get(id) ?? []) v.noteDeleted();
    this.#views.delete(id);
  }

  /** RENAME (RFC 3501 §6.3.5; see module doc). */
  async rename(from: string, to: string): Promise<void> {
    const src = normalizeMailboxName(from);
    const dst = normalizeMailboxName(to);
    await this.#serial(async () => {
      if (isInbox(dst) || this.#db.mailbox(dst)) {
        throw new MailStoreError("ALREADYEXISTS", "Target mailbox already exists");
      }
      if (isInbox(src)) return await this.#renameInbox(dst);
      const rows = this.#db.mailboxes().filter((r) => r.name === src || isDescendant(r.name, src));
      if (rows.length === 0) throw new MailStoreError("NONEXISTENT", "No such mailbox");
      const moves = rows.map((r) => ({ row: r, name: dst + r.name.slice(src.length) }));
      for (const m of moves) {
        normalizeMailboxName(m.name); // too long?
        if (this.#db.mailbox(m.name)) {
          throw new MailStoreError("ALREADYEXISTS", `Mailbox ${m.name} already exists`);
        }
      }
      for (const m of moves) await Deno.rename(this.#dirOf(m.row.name), this.#dirOf(m.name));
      await syncDir(this.root);
      await this.#db.commit(() => {
        for (const m of moves) this.#db.renameMailbox(m.row.id, m.name);
      });
      for (const m of moves) for (const v of this.#views.get(m.row.id) ?? []) v.noteRenamed(m.name);
    });
  }

  async #renameInbox(dst: string): Promise<void> {
    const inbox = this.#row(INBOX);
    await this.#sync(inbox);
    await this.#createMailbox(dst, null);
    const target = this.#row(dst);
    const uids = this.#db.messages(inbox.id).map((m) => m.uid);
    await copyMessages(this.#ctx, inbox, uids, target, true);
  }

  // --- sync and notification -------------------------------------------------------------

  #syncOpts(id: number) {
    return { syncer: this.#syncer, inTransaction: () => this.#claimRecentInTx(id) };
  }

  #claimRecentInTx(id: number): void {
    const owner = (this.#views.get(id) ?? []).find((v) => !v.readOnly && !v.closed);
    const row = this.#db.mailboxById(id);
    if (owner && row) this.#db.setFirstRecent(id, row.uidnext);
  }

  #publish(id: number, changes: Changes, origin?: MailboxView): void {
    const added = changes.added ?? [];
    const flagged = changes.flagged ?? [];
    const expunged = changes.expunged ?? [];
    if (added.length + flagged.length + expunged.length === 0) return;
    const views = (this.#views.get(id) ?? []).filter((v) => !v.closed);
    const owner = views.find((v) => !v.readOnly);
    const addedUids = added.map((m) => m.uid);
    const flagChanges = flagged.map((m) => ({
      uid: m.uid,
      flags: flagNames({ system: m.system, keywords: m.keywords }),
      modseq: m.modseq,
    }));
    for (const v of views) {
      v.noteExpunged(expunged);
      v.noteAdded(addedUids, owner ? v === owner : true);
      if (v !== origin) v.noteFlags(flagChanges);
    }
    const name = this.#db.mailboxById(id)?.name;
    if (name === undefined) return;
    const change: MailChange = {
      mailbox: name,
      added: addedUids,
      flagged: flagged.map((m) => m.uid),
      expunged,
    };
    for (const l of [...this.#listeners]) {
      try {
        l(change);
      } catch {
        // a listener's failure is its own business
      }
    }
  }

  /** Call `listener` after every committed change of this account. Returns an unsubscribe. */
  onChange(listener: (change: MailChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Reconcile mailbox `name` (default: every mailbox that has a view) with its directory now
   * and publish what changed (see maildir_sync.ts).
   */
  refresh(name?: string): Promise<void> {
    return this.#serial(async () => {
      const rows = name === undefined
        ? [...this.#views.keys()].map((id) => this.#db.mailboxById(id)).filter((r) => r)
        : [this.#row(name)];
      for (const row of rows as MailboxRow[]) await this.#sync(row);
    });
  }

  async #sync(row: MailboxRow): Promise<void> {
    const result = await syncMailbox(this.#db, row, this.#dirOf(row.name), this.#syncOpts(row.id));
    this.#publish(row.id, { ...result, expunged: result.expunged.map((e) => e.uid) });
  }

  #poll(): void {
    this.#serial(async () => {
      for (const id of this.#views.keys()) {
        const row = this.#db.mailboxById(id);
        if (!row) continue;
        const dir = this.#dirOf(row.name);
        const stamps = await Promise.all(
          ["new", "cur"].map((s) =>
            Deno.stat(join(dir, s)).then((st) => st.mtime?.getTime(), () => -1)
          ),
        );
        // mtimes have coarse granularity: a stamp within the last 2 s may still move unseen.
        const fresh = stamps.some((t) => t === undefined || Date.now() - t < 2000);
        const stamp = stamps.join(",");
        if (!fresh && this.#dirStamp.get(id) === stamp) continue;
        this.#dirStamp.set(id, stamp);
        await this.#sync(row);
      }
    }).catch(() => {});
  }

  // --- selected mailbox ------------------------------------------------------------------

  /** STATUS (RFC 3501 §6.3.10) after a sync. */
  status(name: string): Promise<MailboxStatus> {
    return this.#serial(async () => {
      await this.#sync(await this.#findRow(name));
      const row = this.#row(name);
      const c = this.#db.counts(row.id, row.firstRecent);
      return {
        messages: c.messages,
        recent: c.recent,
        unseen: c.unseen,
        uidnext: row.uidnext,
        uidvalidity: row.uidvalidity,
        size: c.size,
        highestmodseq: row.highestmodseq,
      };
    });
  }

  /** SELECT (read-write) or EXAMINE (`readOnly`), RFC 3501 §6.3.1–2, after a sync. */
  select(name: string, options: { readOnly?: boolean } = {}): Promise<MailboxView> {
    const readOnly = options.readOnly ?? false;
    return this.#serial(async () => {
      await this.#sync(await this.#findRow(name));
      const row = this.#row(name);
      const uids = this.#db.messages(row.id).map((m) => m.uid);
      const recent = uids.filter((u) => u >= row.firstRecent);
      if (!readOnly && recent.length > 0) {
        await this.#db.commit(() => this.#db.setFirstRecent(row.id, row.uidnext));
      }
      const view = new MailboxView({
        mailboxId: row.id,
        name: row.name,
        uidvalidity: row.uidvalidity,
        readOnly,
        uids,
        recent,
        onClose: (v) => {
          const list = this.#views.get(v.mailboxId)?.filter((x) => x !== v) ?? [];
          if (list.length > 0) this.#views.set(v.mailboxId, list);
          else this.#views.delete(v.mailboxId);
        },
      });
      this.#views.set(row.id, [...(this.#views.get(row.id) ?? []), view]);
      return view;
    });
  }

  /** UIDNEXT and HIGHESTMODSEQ of the view's mailbox now (for the SELECT response). */
  mailboxState(view: MailboxView): { uidnext: number; highestmodseq: number } {
    const row = this.#viewRow(view, false);
    return { uidnext: row.uidnext, highestmodseq: row.highestmodseq };
  }

  /** Metadata of the view's messages `uids` (default all the view knows) that still exist. */
  messages(view: MailboxView, uids: readonly number[] = view.uids()): MessageInfo[] {
    const row = this.#viewRow(view, false);
    const out: MessageInfo[] = [];
    for (const uid of uids) {
      const m = this.#db.message(row.id, uid);
      if (m) out.push(messageInfo(m));
    }
    return out;
  }

  /** The bytes of message `uid`, or null when it is gone. */
  async read(view: MailboxView, uid: number): Promise<Uint8Array | null> {
    return await readMessage(this.#ctx, this.#viewRow(view, false), uid);
  }

  /** The cached structure blob of a message (format chosen by the message piece). */
  cachedStructure(view: MailboxView, uid: number): Uint8Array | undefined {
    return this.#db.structure(this.#viewRow(view, false).id, uid);
  }

  /** Cache a structure blob (not fsynced: a lost entry is recomputed). */
  cacheStructure(view: MailboxView, uid: number, blob: Uint8Array): void {
    this.#db.setStructure(this.#viewRow(view, false).id, uid, blob);
  }

  /** APPEND one or more messages (MULTIAPPEND) to `name`; `TRYCREATE` if it does not exist. */
  append(name: string, items: readonly AppendInput[]): Promise<AppendResult> {
    return this.#serial(async () =>
      appendMessages(this.#ctx, await this.#findRow(name, "TRYCREATE"), items)
    );
  }

  /** COPY `uids` of the view to mailbox `target` (COPYUID in the result). */
  copy(view: MailboxView, uids: readonly number[], target: string): Promise<CopyResult> {
    return this.#serial(async () =>
      copyMessages(
        this.#ctx,
        this.#viewRow(view, false),
        uids,
        await this.#findRow(target, "TRYCREATE"),
        false,
      )
    );
  }

  /** MOVE (RFC 6851) `uids` of the view to mailbox `target`; the source expunges are queued. */
  move(view: MailboxView, uids: readonly number[], target: string): Promise<CopyResult> {
    return this.#serial(async () =>
      copyMessages(
        this.#ctx,
        this.#viewRow(view, true),
        uids,
        await this.#findRow(target, "TRYCREATE"),
        true,
      )
    );
  }

  /** STORE flags of `uids` of the view; other views are told, this one is not. */
  store(
    view: MailboxView,
    uids: readonly number[],
    mode: StoreMode,
    flags: readonly string[],
  ): Promise<StoreResult[]> {
    return this.#serial(() =>
      storeFlags(this.#ctx, this.#viewRow(view, true), uids, mode, flags, view)
    );
  }

  /**
   * EXPUNGE the `\Deleted` messages of the view's mailbox (only `uids` when given, UID EXPUNGE).
   * Every view, this one included, gets the expunges queued for {@link MailboxView.pending}.
   */
  expunge(view: MailboxView, uids?: readonly number[]): Promise<number[]> {
    return this.#serial(async () => {
      // Another program may have changed \Deleted since the index last looked.
      await this.#sync(this.#viewRow(view, true));
      return await expungeMessages(this.#ctx, this.#viewRow(view, true), uids);
    });
  }
}
