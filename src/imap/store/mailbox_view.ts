/**
 * One session's view of a selected mailbox: its own numbering (message sequence number ↔ UID,
 * RFC 3501 §2.3.1.2), its `\Recent` messages, and the changes made by others (or by itself,
 * for expunges and new messages) that it has yet to report.
 *
 * The store ({@link AccountMail}) feeds every view of a mailbox as changes are committed; the
 * view only queues them. The session decides WHEN to report and calls {@link
 * MailboxView.pending}, which applies the queued changes to the view's numbering and returns
 * the untagged responses to send, in an order that keeps both sides' numbering equal:
 *
 * 1. `expunge` (only when `expunges` is allowed; RFC 3501 §7.4.1 forbids EXPUNGE while
 *    answering FETCH, STORE or SEARCH, and when no command is in progress): one per message,
 *    highest sequence number first, so each number is also the message's number before any of
 *    them (each is right against the numbering current when it is sent, RFC 3501 §7.4.1);
 *    a message the session never saw (arrived and expunged before it was announced) is not
 *    reported at all;
 * 2. `exists` then `recent` when messages arrived (RFC 3501 §7.3.1, §7.3.2); the session
 *    must send them before it refers to a new message, and new messages are invisible to
 *    {@link MailboxView.uidAt} / {@link MailboxView.seqOf} until reported;
 * 3. `flags`: the flags others changed (RFC 3501 §7.4.2 unsolicited FETCH), with `\Recent`
 *    when the message is recent in this session, numbered after steps 1 and 2. The view's own
 *    STORE is answered by the session itself and is not queued.
 *
 * While expunges are held back the expunged messages keep their numbers (and EXISTS counts
 * them), as RFC 3501 §7.4.1 requires; flag changes for them are dropped.
 *
 * `\Recent` (RFC 3501 §2.3.2): a read-write view claims the messages still recent when it
 * opens, and messages that arrive while it is open when it is the first read-write view of the
 * mailbox; a read-only (EXAMINE) view shows the recent messages without claiming them.
 *
 * @module
 */

/** An untagged response the session may send (see module doc). */
export type ViewChange =
  | { kind: "expunge"; seq: number; uid: number }
  | { kind: "exists"; count: number }
  | { kind: "recent"; count: number }
  | { kind: "flags"; seq: number; uid: number; flags: string[]; modseq: number };

/** What {@link MailboxView.pending} may report. */
export interface PendingOptions {
  /** Whether EXPUNGE responses may be sent now (default true). */
  expunges?: boolean;
}

/** What the store gives a new view. */
export interface ViewInit {
  mailboxId: number;
  name: string;
  uidvalidity: number;
  readOnly: boolean;
  /** The mailbox's UIDs, ascending. */
  uids: number[];
  /** Which of them are `\Recent` in this view. */
  recent: Iterable<number>;
  /** Called once by {@link MailboxView.close}. */
  onClose: (view: MailboxView) => void;
}

/** Binary search: the index of `uid` in ascending `uids`, or -1. */
function indexOf(uids: readonly number[], uid: number): number {
  let lo = 0;
  let hi = uids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = uids[mid]!;
    if (v === uid) return mid;
    if (v < uid) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** A session's view of one mailbox (see module doc). */
export class MailboxView {
  /** The mailbox's id in the index; stays the same across RENAME. */
  readonly mailboxId: number;
  /** UIDVALIDITY (RFC 3501 §2.3.1.1) of the mailbox as selected. */
  readonly uidvalidity: number;
  /** True for EXAMINE (RFC 3501 §6.3.2). */
  readonly readOnly: boolean;
  #name: string;
  #uids: number[];
  readonly #recent: Set<number>;
  #newPending: number[] = [];
  readonly #expungedPending = new Set<number>();
  readonly #flagsPending = new Map<number, { flags: string[]; modseq: number }>();
  readonly #listeners = new Set<() => void>();
  readonly #onClose: (view: MailboxView) => void;
  #closed = false;
  #deleted = false;

  constructor(init: ViewInit) {
    this.mailboxId = init.mailboxId;
    this.#name = init.name;
    this.uidvalidity = init.uidvalidity;
    this.readOnly = init.readOnly;
    this.#uids = [...init.uids];
    this.#recent = new Set(init.recent);
    this.#onClose = init.onClose;
  }

  /** The mailbox's current name (another session may rename it). */
  get name(): string {
    return this.#name;
  }

  /** Messages in this session's numbering: the number for EXISTS. */
  get exists(): number {
    return this.#uids.length;
  }

  /** `\Recent` messages in this session's numbering. */
  get recentCount(): number {
    let n = 0;
    for (const uid of this.#recent) if (indexOf(this.#uids, uid) >= 0) n++;
    return n;
  }

  /** The UIDs in this session's numbering (index + 1 = sequence number). */
  uids(): readonly number[] {
    return this.#uids;
  }

  /** The UID of sequence number `seq`. */
  uidAt(seq: number): number | undefined {
    return this.#uids[seq - 1];
  }

  /** The sequence number of `uid` in this session's numbering. */
  seqOf(uid: number): number | undefined {
    const i = indexOf(this.#uids, uid);
    return i < 0 ? undefined : i + 1;
  }

  /** Whether `uid` is `\Recent` in this session. */
  isRecent(uid: number): boolean {
    return this.#recent.has(uid);
  }

  /** Whether `uid` was expunged but the session has not reported it yet. */
  isExpunged(uid: number): boolean {
    return this.#expungedPending.has(uid);
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when the mailbox was deleted (its messages are all pending expunges). */
  get deleted(): boolean {
    return this.#deleted;
  }

  /** Whether {@link pending} would return anything. */
  hasPending(options: PendingOptions = {}): boolean {
    if (this.#newPending.length > 0) return true;
    if ((options.expunges ?? true) && this.#expungedPending.size > 0) return true;
    for (const uid of this.#flagsPending.keys()) {
      if (!this.#expungedPending.has(uid) && indexOf(this.#uids, uid) >= 0) return true;
    }
    return false;
  }

  /** The changes to report now, applied to this view's numbering (see module doc). */
  pending(options: PendingOptions = {}): ViewChange[] {
    const out: ViewChange[] = [];
    if ((options.expunges ?? true) && this.#expungedPending.size > 0) {
      const gone: number[] = [];
      for (const uid of this.#expungedPending) {
        const i = indexOf(this.#uids, uid);
        if (i >= 0) gone.push(i);
        this.#recent.delete(uid);
        this.#flagsPending.delete(uid);
      }
      gone.sort((a, b) => b - a);
      for (const i of gone) out.push({ kind: "expunge", seq: i + 1, uid: this.#uids[i]! });
      const drop = this.#expungedPending;
      this.#uids = this.#uids.filter((u) => !drop.has(u));
      drop.clear();
    }
    if (this.#newPending.length > 0) {
      for (const uid of this.#newPending) this.#uids.push(uid);
      this.#newPending = [];
      out.push({ kind: "exists", count: this.#uids.length });
      out.push({ kind: "recent", count: this.recentCount });
    }
    if (this.#flagsPending.size > 0) {
      const uids = [...this.#flagsPending.keys()].sort((a, b) => a - b);
      for (const uid of uids) {
        if (this.#expungedPending.has(uid)) continue;
        const seq = this.seqOf(uid);
        if (seq === undefined) continue;
        const f = this.#flagsPending.get(uid)!;
        const flags = this.#recent.has(uid) ? [...f.flags, "\\Recent"] : f.flags;
        out.push({ kind: "flags", seq, uid, flags, modseq: f.modseq });
      }
      this.#flagsPending.clear();
    }
    return out;
  }

  /**
   * Call `listener` whenever a change is queued (for IDLE, RFC 2177). Returns a function that
   * removes it.
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Leave the mailbox (CLOSE, UNSELECT, SELECT of another, logout). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#onClose(this);
  }

  #notify(): void {
    for (const l of [...this.#listeners]) {
      try {
        l();
      } catch {
        // a listener's failure is its own business
      }
    }
  }

  // --- fed by the store (AccountMail) ----------------------------------------------------

  /** Store feed: messages `uids` (ascending, above all known) arrived. */
  noteAdded(uids: readonly number[], recent: boolean): void {
    if (this.#closed || uids.length === 0) return;
    for (const uid of uids) {
      this.#newPending.push(uid);
      if (recent) this.#recent.add(uid);
    }
    this.#notify();
  }

  /** Store feed: another session (or program) changed flags. */
  noteFlags(changes: readonly { uid: number; flags: string[]; modseq: number }[]): void {
    if (this.#closed || changes.length === 0) return;
    for (const c of changes) this.#flagsPending.set(c.uid, { flags: c.flags, modseq: c.modseq });
    this.#notify();
  }

  /** Store feed: messages were expunged. */
  noteExpunged(uids: readonly number[]): void {
    if (this.#closed || uids.length === 0) return;
    let any = false;
    for (const uid of uids) {
      const n = this.#newPending.indexOf(uid);
      if (n >= 0) {
        this.#newPending.splice(n, 1); // never announced: never reported
        this.#recent.delete(uid);
      } else if (indexOf(this.#uids, uid) >= 0) {
        this.#expungedPending.add(uid);
        any = true;
      }
    }
    if (any) this.#notify();
  }

  /** Store feed: the mailbox was renamed. */
  noteRenamed(name: string): void {
    this.#name = name;
  }

  /** Store feed: the mailbox was deleted; every message becomes a pending expunge. */
  noteDeleted(): void {
    this.#deleted = true;
    this.#newPending = [];
    this.noteExpunged([...this.#uids]);
  }
}
