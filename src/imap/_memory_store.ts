/**
 * An in-memory {@link AccountMailStore} for the session tests: mailboxes with UIDs, flags and
 * keywords, `\Recent` handling, and per-session views that queue others' changes in the
 * order RFC 3501 §7.4.1 needs. Not for production: nothing is durable.
 *
 * {@link MemoryMail} holds the accounts; `account(name)` gives the same store object to every
 * session of an account, so two sessions see each other's changes.
 *
 * @module
 */

import {
  type AccountMailStore,
  type AppendItem,
  type AppendResult,
  type CopyResult,
  type FlagUpdate,
  type MailboxEntry,
  type MailboxStatus,
  MailStoreError,
  type MessageInfo,
  type PendingOptions,
  type SelectInfo,
  type SessionView,
  type StoreMode,
  type ViewChange,
} from "./mail_store.ts";

interface Msg {
  uid: number;
  data: Uint8Array;
  flags: string[];
  internalDate: number;
  modseq: number;
}

interface Box {
  name: string;
  uidvalidity: number;
  uidnext: number;
  modseq: number;
  firstRecent: number;
  specialUse: string | null;
  msgs: Msg[];
  views: Set<MemoryView>;
}

const SYSTEM = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/** Canonical flag list: system flags in a fixed order, then keywords (case-insensitive set). */
function normalize(flags: readonly string[]): string[] {
  const sys: string[] = [];
  const kw: string[] = [];
  const seen = new Set<string>();
  for (const f of flags) {
    const lower = f.toLowerCase();
    if (lower === "\\recent" || seen.has(lower)) continue;
    seen.add(lower);
    if (f.startsWith("\\")) {
      const s = SYSTEM.find((x) => x.toLowerCase() === lower);
      if (!s) throw new MailStoreError("CANNOT", `Unknown system flag ${f}`);
      sys.push(s);
    } else kw.push(f);
  }
  sys.sort((a, b) => SYSTEM.indexOf(a) - SYSTEM.indexOf(b));
  return sys.concat(kw);
}

function apply(current: readonly string[], mode: StoreMode, change: readonly string[]): string[] {
  if (mode === "set") return normalize(change);
  if (mode === "add") return normalize([...current, ...change]);
  const drop = new Set(change.map((f) => f.toLowerCase()));
  return current.filter((f) => !drop.has(f.toLowerCase()));
}

/** The same rules as the real store's names.ts, in short. */
function checkName(name: string): string {
  const bad = (why: string) => {
    throw new MailStoreError("BADNAME", `Invalid mailbox name: ${why}`);
  };
  if (name === "") bad("empty");
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f-\x9f]/.test(name)) bad("control character");
  if (/[/*%]/.test(name)) bad("character not allowed");
  if (name.startsWith(".") || name.endsWith(".") || name.includes("..")) bad("empty level");
  const parts = name.split(".");
  if (parts[0]!.toUpperCase() === "INBOX") parts[0] = "INBOX";
  return parts.join(".");
}

/** A session's view of a {@link Box} (see SessionView). */
class MemoryView implements SessionView {
  readonly uidvalidity: number;
  readonly readOnly: boolean;
  #uids: number[];
  #recent: Set<number>;
  #new: number[] = [];
  #gone = new Set<number>();
  #flags = new Map<number, { flags: string[]; modseq: number }>();
  #listeners = new Set<() => void>();
  #closed = false;
  deleted = false;

  constructor(readonly box: Box, readOnly: boolean, recent: Iterable<number>) {
    this.uidvalidity = box.uidvalidity;
    this.readOnly = readOnly;
    this.#uids = box.msgs.map((m) => m.uid);
    this.#recent = new Set(recent);
  }
  get name(): string {
    return this.box.name;
  }
  get exists(): number {
    return this.#uids.length;
  }
  get recentCount(): number {
    return this.#uids.filter((u) => this.#recent.has(u)).length;
  }
  get closed(): boolean {
    return this.#closed;
  }
  uids(): readonly number[] {
    return this.#uids;
  }
  uidAt(seq: number): number | undefined {
    return this.#uids[seq - 1];
  }
  seqOf(uid: number): number | undefined {
    const i = this.#uids.indexOf(uid);
    return i < 0 ? undefined : i + 1;
  }
  isRecent(uid: number): boolean {
    return this.#recent.has(uid);
  }
  isExpunged(uid: number): boolean {
    return this.#gone.has(uid);
  }
  hasPending(options: PendingOptions = {}): boolean {
    return this.#new.length > 0 || ((options.expunges ?? true) && this.#gone.size > 0) ||
      [...this.#flags.keys()].some((u) => !this.#gone.has(u));
  }
  pending(options: PendingOptions = {}): ViewChange[] {
    const out: ViewChange[] = [];
    if ((options.expunges ?? true) && this.#gone.size > 0) {
      for (let i = this.#uids.length - 1; i >= 0; i--) {
        const uid = this.#uids[i]!;
        if (this.#gone.has(uid)) out.push({ kind: "expunge", seq: i + 1, uid });
      }
      this.#uids = this.#uids.filter((u) => !this.#gone.has(u));
      for (const u of this.#gone) this.#flags.delete(u);
      this.#gone.clear();
    }
    if (this.#new.length > 0) {
      this.#uids.push(...this.#new);
      this.#new = [];
      out.push({ kind: "exists", count: this.exists }, { kind: "recent", count: this.recentCount });
    }
    for (const [uid, f] of [...this.#flags].sort((a, b) => a[0] - b[0])) {
      if (this.#gone.has(uid)) continue;
      const seq = this.seqOf(uid);
      this.#flags.delete(uid);
      if (seq === undefined) continue;
      const flags = this.#recent.has(uid) ? [...f.flags, "\\Recent"] : f.flags;
      out.push({ kind: "flags", seq, uid, flags, modseq: f.modseq });
    }
    return out;
  }
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.box.views.delete(this);
  }
  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }
  noteAdded(uids: number[], recent: boolean): void {
    this.#new.push(...uids);
    if (recent) { for (const u of uids) this.#recent.add(u); }
    this.#notify();
  }
  noteFlags(m: Msg): void {
    this.#flags.set(m.uid, { flags: [...m.flags], modseq: m.modseq });
    this.#notify();
  }
  noteExpunged(uids: readonly number[]): void {
    for (const uid of uids) {
      const n = this.#new.indexOf(uid);
      if (n >= 0) this.#new.splice(n, 1);
      else if (this.#uids.includes(uid)) this.#gone.add(uid);
    }
    this.#notify();
  }
}

/** One account's mailboxes in memory. */
export class MemoryAccount implements AccountMailStore {
  readonly boxes = new Map<string, Box>();
  readonly subscribed = new Set<string>();
  #nextValidity = 1000;
  /** INTERNALDATE for messages appended without one. */
  now: () => number = () => Date.UTC(2024, 0, 2, 3, 4, 5);

  constructor() {
    this.#make("INBOX", null);
  }

  #make(name: string, specialUse: string | null): Box {
    const box: Box = {
      name,
      uidvalidity: this.#nextValidity++,
      uidnext: 1,
      modseq: 1,
      firstRecent: 1,
      specialUse,
      msgs: [],
      views: new Set(),
    };
    this.boxes.set(name, box);
    return box;
  }

  #box(name: string, missing: "NONEXISTENT" | "TRYCREATE" = "NONEXISTENT"): Box {
    const box = this.boxes.get(checkName(name));
    if (!box) throw new MailStoreError(missing, `Mailbox does not exist: ${name}`);
    return box;
  }

  #view(view: SessionView): MemoryView {
    if (!(view instanceof MemoryView) || view.closed) {
      throw new MailStoreError("CLOSED", "Mailbox is not selected");
    }
    return view;
  }

  /** Create a mailbox with a special-use attribute (for tests). */
  createSpecial(name: string, specialUse: string): void {
    this.#make(name, specialUse);
  }

  mailboxes(): Promise<MailboxEntry[]> {
    return Promise.resolve(
      [...this.boxes.values()].map((b) => ({ name: b.name, specialUse: b.specialUse })),
    );
  }
  subscriptions(): Promise<string[]> {
    return Promise.resolve([...this.subscribed]);
  }
  create(name: string): Promise<void> {
    const n = checkName(name);
    if (this.boxes.has(n)) throw new MailStoreError("ALREADYEXISTS", "Mailbox already exists");
    this.#make(n, null);
    return Promise.resolve();
  }
  delete(name: string): Promise<void> {
    const box = this.#box(name);
    if (box.name === "INBOX") throw new MailStoreError("CANNOT", "INBOX cannot be deleted");
    this.boxes.delete(box.name);
    for (const v of box.views) {
      v.deleted = true;
      v.noteExpunged(box.msgs.map((m) => m.uid));
    }
    return Promise.resolve();
  }
  rename(from: string, to: string): Promise<void> {
    const box = this.#box(from);
    const target = checkName(to);
    if (this.boxes.has(target)) throw new MailStoreError("ALREADYEXISTS", "Target exists");
    const moves = [...this.boxes.values()].filter((b) =>
      b === box || b.name.startsWith(box.name + ".")
    );
    if (box.name === "INBOX") {
      // RFC 3501 §6.3.5: renaming INBOX moves its messages and leaves it empty.
      const fresh = this.#make(target, null);
      fresh.msgs = box.msgs;
      fresh.uidnext = box.uidnext;
      box.msgs = [];
      for (const v of box.views) v.noteExpunged(fresh.msgs.map((m) => m.uid));
      return Promise.resolve();
    }
    for (const b of moves) {
      this.boxes.delete(b.name);
      b.name = target + b.name.slice(box.name.length);
      this.boxes.set(b.name, b);
    }
    return Promise.resolve();
  }
  setSubscribed(name: string, on: boolean): Promise<void> {
    const n = checkName(name);
    if (on) this.subscribed.add(n);
    else this.subscribed.delete(n);
    return Promise.resolve();
  }
  status(name: string): Promise<MailboxStatus> {
    const box = this.#box(name);
    return Promise.resolve({
      messages: box.msgs.length,
      recent: box.msgs.filter((m) => m.uid >= box.firstRecent).length,
      uidnext: box.uidnext,
      uidvalidity: box.uidvalidity,
      unseen: box.msgs.filter((m) => !m.flags.includes("\\Seen")).length,
      size: box.msgs.reduce((n, m) => n + m.data.length, 0),
      highestmodseq: box.modseq,
      deleted: box.msgs.filter((m) => m.flags.includes("\\Deleted")).length,
    });
  }

  #add(box: Box, items: readonly { data: Uint8Array; flags: string[]; date: number }[]) {
    const uids: number[] = [];
    for (const it of items) {
      const uid = box.uidnext++;
      box.msgs.push({
        uid,
        data: it.data,
        flags: it.flags,
        internalDate: it.date,
        modseq: ++box.modseq,
      });
      uids.push(uid);
    }
    // \Recent goes to the first read-write view, else stays for the next one (RFC 3501 §2.3.2).
    const claimer = [...box.views].find((v) => !v.readOnly);
    if (claimer) box.firstRecent = box.uidnext;
    for (const v of box.views) v.noteAdded(uids, v === claimer || (!claimer && v.readOnly));
    return uids;
  }

  append(name: string, items: readonly AppendItem[]): Promise<AppendResult> {
    const box = this.#box(name, "TRYCREATE");
    const prepared = items.map((i) => ({
      data: i.data.slice(),
      flags: normalize(i.flags),
      date: i.internalDate?.getTime() ?? this.now(),
    }));
    return Promise.resolve({ uidvalidity: box.uidvalidity, uids: this.#add(box, prepared) });
  }

  select(name: string, readOnly: boolean): Promise<SelectInfo> {
    const box = this.#box(name);
    const recent = box.msgs.filter((m) => m.uid >= box.firstRecent).map((m) => m.uid);
    if (!readOnly) box.firstRecent = box.uidnext;
    const view = new MemoryView(box, readOnly, recent);
    box.views.add(view);
    const keywords = new Set<string>();
    for (const m of box.msgs) for (const f of m.flags) if (!f.startsWith("\\")) keywords.add(f);
    const unseen = box.msgs.find((m) => !m.flags.includes("\\Seen"));
    return Promise.resolve({
      view,
      uidnext: box.uidnext,
      keywords: [...keywords],
      firstUnseen: unseen?.uid ?? null,
    });
  }

  messages(view: SessionView, uids: readonly number[]): Promise<MessageInfo[]> {
    const box = this.#view(view).box;
    const want = new Set(uids);
    return Promise.resolve(
      box.msgs.filter((m) => want.has(m.uid)).map((m) => ({
        uid: m.uid,
        flags: [...m.flags],
        internalDate: m.internalDate,
        size: m.data.length,
        modseq: m.modseq,
      })),
    );
  }
  read(view: SessionView, uid: number): Promise<Uint8Array | null> {
    const m = this.#view(view).box.msgs.find((x) => x.uid === uid);
    return Promise.resolve(m ? m.data : null);
  }
  store(
    view: SessionView,
    uids: readonly number[],
    mode: StoreMode,
    flags: readonly string[],
  ): Promise<FlagUpdate[]> {
    const v = this.#view(view);
    const change = normalize(flags);
    const want = new Set(uids);
    const out: FlagUpdate[] = [];
    for (const m of v.box.msgs) {
      if (!want.has(m.uid)) continue;
      const next = apply(m.flags, mode, change);
      const changed = next.join(" ").toLowerCase() !== m.flags.join(" ").toLowerCase();
      if (changed) {
        m.flags = next;
        m.modseq = ++v.box.modseq;
        for (const other of v.box.views) if (other !== v) other.noteFlags(m);
      }
      out.push({ uid: m.uid, flags: [...m.flags], modseq: m.modseq, changed });
    }
    return Promise.resolve(out);
  }
  async copy(
    view: SessionView,
    uids: readonly number[],
    target: string,
    move: boolean,
  ): Promise<CopyResult> {
    const v = this.#view(view);
    const dest = this.#box(target, "TRYCREATE");
    const want = new Set(uids);
    const src = v.box.msgs.filter((m) => want.has(m.uid));
    const added = this.#add(
      dest,
      src.map((m) => ({ data: m.data, flags: [...m.flags], date: m.internalDate })),
    );
    if (move) await this.#remove(v.box, src.map((m) => m.uid));
    return { uidvalidity: dest.uidvalidity, mapping: src.map((m, i) => [m.uid, added[i]!]) };
  }
  #remove(box: Box, uids: readonly number[]): Promise<void> {
    const drop = new Set(uids);
    box.msgs = box.msgs.filter((m) => !drop.has(m.uid));
    box.modseq++;
    for (const v of box.views) v.noteExpunged(uids);
    return Promise.resolve();
  }
  async expunge(view: SessionView, uids?: readonly number[]): Promise<number[]> {
    const v = this.#view(view);
    const within = uids ? new Set(uids) : null;
    const victims = v.box.msgs
      .filter((m) => m.flags.includes("\\Deleted") && (!within || within.has(m.uid)))
      .map((m) => m.uid);
    if (victims.length > 0) await this.#remove(v.box, victims);
    return victims;
  }
}

/** Accounts by name, created on first use. */
export class MemoryMail {
  readonly #accounts = new Map<string, MemoryAccount>();
  account(name: string): MemoryAccount {
    let a = this.#accounts.get(name);
    if (!a) this.#accounts.set(name, a = new MemoryAccount());
    return a;
  }
}
