/**
 * The session's narrow mail interface ({@link AccountMailStore}, mail_store.ts) over the real
 * store ({@link AccountMail}, store/): names and shapes differ a little (the store's STATUS has
 * no DELETED count, its flags come with bit sets, COPY and MOVE are two methods, SELECT reports
 * keywords and the first unseen message separately), nothing else is added here.
 *
 * @module
 */

import { Flag, flagNames } from "./store/flags.ts";
import type { AccountMail, MailboxView } from "./store/mod.ts";
import type {
  AccountMailStore,
  FlagUpdate,
  MailboxStatus,
  SelectInfo,
  SessionView,
} from "./mail_store.ts";

// A MailboxView already has every member SessionView asks for; only the store call needs the
// real view back.
function real(view: SessionView): MailboxView {
  return view as unknown as MailboxView;
}

/**
 * The session's view of `mail`; `release` runs once when the session is done with it.
 *
 * @param mail The account's mail, from {@link MailRegistry.open}.
 * @param release Gives the account back to the registry.
 */
export function storeAdapter(mail: AccountMail, release: () => void): AccountMailStore & {
  release(): void;
} {
  let released = false;
  return {
    release() {
      if (!released) release();
      released = true;
    },
    async mailboxes() {
      return (await mail.list()).filter((m) => m.exists).map((m) => ({
        name: m.name,
        specialUse: m.specialUse,
      }));
    },
    subscriptions: () => Promise.resolve(mail.subscriptions()),
    create: (name) => mail.create(name),
    delete: (name) => mail.delete(name),
    rename: (from, to) => mail.rename(from, to),
    setSubscribed: (name, on) => mail.setSubscribed(name, on),
    async status(name): Promise<MailboxStatus> {
      const s = await mail.status(name);
      // RFC 9051 §6.3.11 STATUS DELETED: counted on a read-only view of the mailbox.
      const view = await mail.select(name, { readOnly: true });
      try {
        const deleted = mail.messages(view).filter((m) => (m.raw.system & Flag.Deleted) !== 0)
          .length;
        return { ...s, deleted };
      } finally {
        view.close();
      }
    },
    append: (name, items) =>
      mail.append(
        name,
        items.map((i) => ({
          data: i.data,
          flags: i.flags,
          ...(i.internalDate ? { internalDate: i.internalDate } : {}),
        })),
      ),
    async select(name, readOnly): Promise<SelectInfo> {
      const view = await mail.select(name, { readOnly });
      const keywords = new Set<string>();
      let firstUnseen: number | null = null;
      for (const m of mail.messages(view)) {
        for (const k of m.raw.keywords) keywords.add(k);
        if (firstUnseen === null && (m.raw.system & Flag.Seen) === 0) firstUnseen = m.uid;
      }
      return {
        view: view as unknown as SessionView,
        uidnext: mail.mailboxState(view).uidnext,
        keywords: [...keywords],
        firstUnseen,
      };
    },
    messages(view, uids) {
      return Promise.resolve(
        mail.messages(real(view), uids).map((m) => ({
          uid: m.uid,
          flags: m.flags,
          internalDate: m.internalDate.getTime(),
          size: m.size,
          modseq: m.modseq,
        })).sort((a, b) => a.uid - b.uid),
      );
    },
    read: (view, uid) => mail.read(real(view), uid),
    async store(view, uids, mode, flags): Promise<FlagUpdate[]> {
      const results = await mail.store(real(view), uids, mode, flags);
      return results.map((r) => ({
        uid: r.uid,
        flags: flagNames(r.flags),
        modseq: r.modseq,
        changed: r.changed,
      }));
    },
    copy: (view, uids, target, move) =>
      move ? mail.move(real(view), uids, target) : mail.copy(real(view), uids, target),
    expunge: (view, uids) => mail.expunge(real(view), uids),
  };
}
