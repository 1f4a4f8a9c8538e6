/**
 * The state one IMAP session shares with its per-concern handlers (session_auth.ts,
 * session_mailbox.ts, session_selected.ts, session_fetch.ts, session_search.ts,
 * session_idle.ts): the connection state of RFC 3501 §3, the account and selected view, the
 * output collected for the current input, and helpers every handler needs: status lines,
 * mapping store errors to response codes, reporting the view's queued changes in legal order
 * (RFC 3501 §7.4.1, RFC 9051 §7.5.1), and announcing keywords before they are used
 * (RFC 3501 §7.2.6: FLAGS lists the flags "applicable for this mailbox").
 *
 * @module
 */

import type { AccountMailStore, SessionView } from "./mail_store.ts";
import { storeErrorCode } from "./mail_store.ts";
import { mailboxFromWire } from "./mutf7.ts";
import { Response, statusLine } from "./response.ts";
import { capabilities } from "./capabilities.ts";

const enc = new TextEncoder();

/** RFC 3501 §3 states (plus the two line-reading modes of IDLE and AUTHENTICATE). */
export type State = "notauth" | "auth" | "selected" | "logout";

/** What the session asks the transport to do, besides sending the chunks. */
export type SessionAction =
  /** Send the chunks, then run the TLS handshake and call `tlsStarted()`. */
  | { kind: "starttls" }
  /** IDLE began (RFC 2177): read raw lines (`DONE`), push `updates()` when the view changes. */
  | { kind: "idle-start" }
  /** IDLE ended: back to reading commands. */
  | { kind: "idle-stop" }
  /** An AUTHENTICATE continuation was sent: read one raw line and pass it to `line()`. */
  | { kind: "authenticate-continue" }
  /** Send the chunks, then close the connection. */
  | { kind: "close" };

/** What one input produced. */
export interface SessionOutput {
  chunks: Uint8Array[];
  actions: SessionAction[];
}

/** The guard against password guessing (src/auth/guard.ts AuthGuard). */
export interface Guard {
  blocked(ip: string, account?: string): boolean;
  failed(ip: string, account: string): number;
  succeeded(ip: string): void;
}

/** Everything a session needs; the transport builds one per connection. */
export interface ImapSessionOptions {
  /** The client's address (for the guard). */
  peer: { address: string };
  /** The connection is already TLS (implicit TLS, port 993, RFC 8314). */
  tls: boolean;
  /** STARTTLS can be offered (a certificate is loaded). */
  tlsAvailable: boolean;
  /** Check a user name and password; the account name, or undefined when wrong. */
  checkCredentials(user: string, password: string): Promise<string | undefined>;
  /** The mail of a logged-in account; a MailStoreError (e.g. LIMIT) refuses the login. */
  openAccount(account: string): Promise<AccountMailStore>;
  guard?: Guard;
  /** limits.max_message_bytes: APPENDLIMIT (RFC 7889) and the APPEND literal limit. */
  maxMessageBytes: number;
  /** Largest literal in commands other than APPEND (default 65536). */
  maxLiteralBytes?: number;
  /** BAD replies before `* BYE` (default 10). */
  maxBadCommands?: number;
  /** Failed logins on one connection before `* BYE` (default 3). */
  maxAuthFailures?: number;
  /** Autologout when authenticated (default 30 min, the minimum of RFC 3501 §5.4). */
  autologoutMs?: number;
  /** Autologout before authentication (default 60 s). */
  preauthTimeoutMs?: number;
  /** Period of `* OK Still here` during IDLE (default 120 s). */
  idleKeepaliveMs?: number;
  /** Waits the guard's delay (default setTimeout; tests pass a recorder). */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Send output now, in the middle of a long command (a FETCH of many bodies), and resolve once
   * the connection has taken it, so that a large FETCH is never held in memory whole and a
   * client that reads slowly slows the command down. Without it, output waits for the end.
   */
  flush?: (chunks: Uint8Array[]) => Promise<boolean>;
  /** Greeting text (default "postie ready"). */
  greeting?: string;
}

/** A NO/BAD with a response code, thrown by handlers and answered by the dispatcher. */
export class CommandFailed extends Error {
  constructor(
    readonly status: "NO" | "BAD",
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "CommandFailed";
  }
}

/** Shorthands for {@link CommandFailed}. */
export function no(message: string, code?: string): CommandFailed {
  return new CommandFailed("NO", message, code);
}
export function bad(message: string, code?: string): CommandFailed {
  return new CommandFailed("BAD", message, code);
}

/** Untagged output queued beyond this is written before the command goes on. */
const FLUSH_BYTES = 256 * 1024;

const SYSTEM_FLAGS = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/** The shared session state (see module doc). */
export class SessionContext {
  readonly o: ImapSessionOptions;
  state: State = "notauth";
  tls: boolean;
  account: string | null = null;
  mail: AccountMailStore | null = null;
  view: SessionView | null = null;
  /** UTF8=ACCEPT enabled (RFC 6855 §3). */
  utf8 = false;
  /** Lower-cased keywords announced in FLAGS for the selected mailbox, and their spelling. */
  keywords = new Map<string, string>();
  idleTag: string | null = null;
  /** Tag of an AUTHENTICATE waiting for its client response. */
  authTag: string | null = null;
  /** Text and response code of the tagged OK, set by a handler (else "NAME completed"). */
  result: { text: string; code?: string } | null = null;
  badCount = 0;
  authFailures = 0;
  #chunks: Uint8Array[] = [];
  #actions: SessionAction[] = [];
  #unwatch: (() => void) | null = null;
  watcher: (() => void) | null = null;

  constructor(options: ImapSessionOptions) {
    this.o = options;
    this.tls = options.tls;
  }

  /** A response builder honouring UTF8=ACCEPT; `emit` it when done. */
  response(): Response {
    return new Response({ utf8: this.utf8 });
  }

  /** Queue the chunks of a built response. */
  emit(r: Response): void {
    this.#chunks.push(...r.chunks());
  }

  /**
   * When more than {@link FLUSH_BYTES} of untagged output is queued, hand it to the transport
   * and wait until it is written (see {@link ImapSessionOptions.flush}).
   */
  async flushIfLarge(): Promise<void> {
    if (!this.o.flush) return;
    let n = 0;
    for (const c of this.#chunks) n += c.length;
    if (n < FLUSH_BYTES) return;
    await this.o.flush(this.#chunks.splice(0));
  }

  /** Queue protocol text (it must end in CRLF). */
  raw(text: string): void {
    this.#chunks.push(enc.encode(text));
  }

  /** `* text` CRLF. */
  untagged(text: string): void {
    this.raw(`* ${text}\r\n`);
  }

  /** A tagged (or, with tag "*", untagged) status response (RFC 3501 §7.1). */
  status(tag: string, status: "OK" | "NO" | "BAD" | "BYE", text: string, code?: string): void {
    this.raw(statusLine(tag, status, text, code));
  }

  action(a: SessionAction): void {
    this.#actions.push(a);
  }

  /** Everything produced since the last take. */
  take(): SessionOutput {
    return { chunks: this.#chunks.splice(0), actions: this.#actions.splice(0) };
  }

  capabilityList(): string {
    return capabilities({
      tls: this.tls,
      tlsAvailable: this.o.tlsAvailable,
      authenticated: this.state === "auth" || this.state === "selected",
      maxMessageBytes: this.o.maxMessageBytes,
    }).join(" ");
  }

  /** The account's store; handlers run only in authenticated states. */
  get store(): AccountMailStore {
    if (!this.mail) throw new Error("no account");
    return this.mail;
  }

  /** The selected view; handlers of the selected state only. */
  get selected(): SessionView {
    if (!this.view) throw new Error("no mailbox selected");
    return this.view;
  }

  /**
   * A wire mailbox name as Unicode (RFC 3501 §5.1.3 modified UTF-7, RFC 6855 UTF-8); a name
   * that is not valid modified UTF-7 is refused with NO (RFC 5530 CANNOT).
   */
  mailboxName(wire: string): string {
    const name = mailboxFromWire(wire, this.utf8);
    if (name === null) throw no("Invalid mailbox name (bad modified UTF-7)", "CANNOT");
    return name.toUpperCase() === "INBOX" ? "INBOX" : name;
  }

  /**
   * A LIST/LSUB reference or pattern as Unicode. Unlike a mailbox name, a pattern that is not
   * valid modified UTF-7 is no error: it is taken as it is and simply matches no mailbox
   * (RFC 3501 §6.3.8 answers a LIST that matches nothing with OK).
   */
  patternName(wire: string): string {
    return mailboxFromWire(wire, this.utf8) ?? wire;
  }

  /** Map a store error to `NO [code]` (RFC 5530 §3, RFC 3501 §7.1); others are rethrown. */
  storeFailure(e: unknown): CommandFailed {
    const code = storeErrorCode(e);
    if (code === null) throw e;
    const message = (e as Error).message;
    switch (code) {
      case "BADNAME":
        return no(message, "CANNOT");
      case "CLOSED":
        return no(message, "UNAVAILABLE");
      default:
        return no(message, code);
    }
  }

  /** Run a store call, turning its errors into {@link CommandFailed}. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.storeFailure(e);
    }
  }

  /** Take a view as the selected mailbox; the IDLE watcher follows it. */
  select(view: SessionView, keywords: readonly string[]): void {
    this.view = view;
    this.state = "selected";
    this.keywords = new Map(keywords.map((k) => [k.toLowerCase(), k]));
    this.#unwatch = view.onChange(() => this.watcher?.());
  }

  /** Leave the selected mailbox (CLOSE, UNSELECT, another SELECT, logout). */
  deselect(): void {
    this.#unwatch?.();
    this.#unwatch = null;
    this.view?.close();
    this.view = null;
    if (this.state === "selected") this.state = "auth";
    this.keywords = new Map();
  }

  /** `* FLAGS` (RFC 3501 §7.2.6) for the selected mailbox. */
  flagsResponse(): void {
    this.untagged(`FLAGS (${[...SYSTEM_FLAGS, ...this.keywords.values()].join(" ")})`);
  }

  /** `* OK [PERMANENTFLAGS]` (RFC 3501 §7.1): none in EXAMINE, else all and new keywords. */
  permanentFlagsResponse(): void {
    const flags = [...SYSTEM_FLAGS, ...this.keywords.values()];
    const perm = this.selected.readOnly ? "" : `${flags.join(" ")} \\*`;
    this.status(
      "*",
      "OK",
      this.selected.readOnly ? "No permanent flags permitted" : "Flags permitted",
      `PERMANENTFLAGS (${perm})`,
    );
  }

  /** FLAGS and PERMANENTFLAGS again (the keyword set grew). */
  announceFlags(): void {
    this.flagsResponse();
    this.permanentFlagsResponse();
  }

  /**
   * Before a FETCH response names `flags`: when one is a keyword the client was not told about,
   * send FLAGS and PERMANENTFLAGS again (RFC 3501 §7.2.6).
   */
  ensureKeywords(flags: readonly string[]): void {
    let fresh = false;
    for (const f of flags) {
      if (f.startsWith("\\")) continue;
      const k = f.toLowerCase();
      if (!this.keywords.has(k)) {
        this.keywords.set(k, f);
        fresh = true;
      }
    }
    if (fresh) this.announceFlags();
  }

  /**
   * Report the view's queued changes (RFC 3501 §7.4.1: EXPUNGE only when `expunges`; EXISTS
   * before any new message is referred to; unsolicited FETCH FLAGS after). With `uid`, flag
   * updates carry UID (RFC 3501 §6.4.8 keeps UID responses unambiguous).
   */
  flushUpdates(expunges: boolean, uid = false): void {
    const view = this.view;
    if (!view || view.closed) return;
    for (const c of view.pending({ expunges })) {
      switch (c.kind) {
        case "expunge":
          this.untagged(`${c.seq} EXPUNGE`);
          break;
        case "exists":
          this.untagged(`${c.count} EXISTS`);
          break;
        case "recent":
          this.untagged(`${c.count} RECENT`);
          break;
        case "flags":
          this.ensureKeywords(c.flags);
          this.untagged(
            `${c.seq} FETCH (${uid ? `UID ${c.uid} ` : ""}FLAGS (${c.flags.join(" ")}))`,
          );
          break;
      }
    }
  }
}
