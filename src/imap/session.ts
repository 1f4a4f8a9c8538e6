/**
 * The IMAP server session (RFC 3501, with the extensions in capabilities.ts): a protocol
 * machine without I/O, like the SMTP session in src/server/session.ts. The transport reads
 * bytes with a CommandReader (command_reader.ts) and drives it:
 *
 * 1. On connect send {@link ImapSession.greeting} (`* OK [CAPABILITY ...] postie ready`,
 *    RFC 3501 §7.1.1).
 * 2. For a literal announcement ask {@link ImapSession.literalAllowed}: send its chunks
 *    (`+ OK` for an accepted synchronizing literal, `NO [TOOBIG]` for one over the limit,
 *    RFC 7889 §4 / RFC 3501 §7.5) and `accept()` or `reject()` the reader accordingly.
 * 3. For a complete command call {@link ImapSession.command}; for `too-long`
 *    {@link ImapSession.tooLong}. While {@link ImapSession.wantsLine} (IDLE, AUTHENTICATE),
 *    read raw lines (`nextLine()`) and pass them to {@link ImapSession.line}.
 * 4. Every call returns `{ chunks, actions }`: send the chunks in order, then perform the
 *    actions (`starttls` then call {@link ImapSession.tlsStarted}; `idle-start`/`idle-stop`;
 *    `authenticate-continue`; `close`).
 * 5. Register {@link ImapSession.onUpdate}: it fires when the selected mailbox changes; then
 *    send {@link ImapSession.updates} (non-empty only during IDLE, RFC 2177). Run the timers:
 *    {@link ImapSession.timeoutMs} of inactivity → {@link ImapSession.timedOut} (autologout,
 *    RFC 3501 §5.4); every {@link ImapSession.keepaliveMs} during IDLE →
 *    {@link ImapSession.keepalive}. Call {@link ImapSession.close} when the connection ends.
 *
 * Commands are checked against the state (RFC 3501 §3, §6): a command not valid in the
 * current state is BAD, as is a syntax error (with the tag, or `*` when none could be read);
 * too many BADs end the connection with BYE. In the selected state every command ends with
 * the mailbox's queued changes, EXPUNGE withheld during FETCH, STORE and SEARCH (RFC 3501
 * §7.4.1; their UID forms may carry it).
 *
 * @module
 */

import { ENABLEABLE } from "./capabilities.ts";
import { type Command, parseCommand, parseCommandHead, ParseError } from "./parser.ts";
import { decodeUtf8 } from "./cursor.ts";
import {
  type CommandFailed,
  type ImapSessionOptions,
  SessionContext,
  type SessionOutput,
  type State,
} from "./session_context.ts";
import { authenticateCommand, authenticateLine, loginCommand, startTls } from "./session_auth.ts";
import { listCommand, lsubCommand } from "./session_list.ts";
import {
  appendCommand,
  createCommand,
  deleteCommand,
  namespaceCommand,
  renameCommand,
  statusCommand,
  subscribeCommand,
} from "./session_mailbox.ts";
import {
  closeCommand,
  copyCommand,
  expungeCommand,
  selectCommand,
  storeCommand,
} from "./session_selected.ts";
import { fetchCommand } from "./session_fetch.ts";
import { searchCommand } from "./session_search.ts";
import { idleKeepalive, idleLine, idleStart, idleUpdates } from "./session_idle.ts";

export type { ImapSessionOptions, SessionAction, SessionOutput } from "./session_context.ts";

const ANY = new Set(["CAPABILITY", "NOOP", "LOGOUT", "ID"]);
const NOTAUTH = new Set(["STARTTLS", "LOGIN", "AUTHENTICATE"]);
const AUTH = new Set([
  "SELECT",
  "EXAMINE",
  "CREATE",
  "DELETE",
  "RENAME",
  "SUBSCRIBE",
  "UNSUBSCRIBE",
  "LIST",
  "LSUB",
  "STATUS",
  "APPEND",
  "NAMESPACE",
  "IDLE",
]);
const SELECTED = new Set([
  "CHECK",
  "CLOSE",
  "UNSELECT",
  "EXPUNGE",
  "SEARCH",
  "FETCH",
  "STORE",
  "COPY",
  "MOVE",
]);
/** RFC 3501 §7.4.1: no EXPUNGE while answering these (without UID). */
const NO_EXPUNGE = new Set(["FETCH", "STORE", "SEARCH"]);

function validIn(name: string, state: State): boolean | undefined {
  if (ANY.has(name)) return true;
  if (NOTAUTH.has(name)) return state === "notauth";
  if (name === "ENABLE") return state === "auth"; // RFC 5161 §3.1
  if (AUTH.has(name)) return state === "auth" || state === "selected";
  if (SELECTED.has(name)) return state === "selected";
  return undefined;
}

const latin1 = new TextDecoder("latin1");

/** One IMAP connection's protocol state (see module doc). */
export class ImapSession {
  readonly #ctx: SessionContext;

  constructor(options: ImapSessionOptions) {
    this.#ctx = new SessionContext(options);
  }

  /** The greeting (RFC 3501 §7.1.1). */
  greeting(): SessionOutput {
    const ctx = this.#ctx;
    ctx.status("*", "OK", ctx.o.greeting ?? "postie ready", `CAPABILITY ${ctx.capabilityList()}`);
    return ctx.take();
  }

  /** The RFC 3501 §3 state. */
  get state(): State {
    return this.#ctx.state;
  }

  /** Whether the next input is a raw line (IDLE's DONE, an AUTHENTICATE response). */
  get wantsLine(): boolean {
    return this.#ctx.idleTag !== null || this.#ctx.authTag !== null;
  }

  /** Whether IDLE is in progress. */
  get idling(): boolean {
    return this.#ctx.idleTag !== null;
  }

  /** Inactivity before autologout (RFC 3501 §5.4: at least 30 minutes once authenticated). */
  get timeoutMs(): number {
    const o = this.#ctx.o;
    return this.#ctx.state === "notauth"
      ? o.preauthTimeoutMs ?? 60_000
      : o.autologoutMs ?? 30 * 60_000;
  }

  /** Period of keepalive lines during IDLE. */
  get keepaliveMs(): number {
    return this.#ctx.o.idleKeepaliveMs ?? 120_000;
  }

  /**
   * Decide on a literal announced at the end of `prefix` (the command so far): APPEND may
   * carry up to APPENDLIMIT octets (RFC 7889), other commands `maxLiteralBytes`. Accepted
   * synchronizing literals get `+ OK` (RFC 3501 §7.5); refused ones `NO [TOOBIG]` before any
   * continuation, and the reader must drop the command.
   */
  literalAllowed(size: number, prefix: Uint8Array, nonSync: boolean): SessionOutput & {
    accept: boolean;
  } {
    const ctx = this.#ctx;
    const words = latin1.decode(prefix.subarray(0, 200)).split(" ");
    const tag = /^[\x21-\x7e]+$/.test(words[0] ?? "") ? words[0]! : "*";
    const name = (words[1] ?? "").toUpperCase();
    const authed = ctx.state === "auth" || ctx.state === "selected";
    const limit = name === "APPEND" && authed
      ? ctx.o.maxMessageBytes
      : ctx.o.maxLiteralBytes ?? 65536;
    if (ctx.state === "logout" || this.wantsLine) {
      return { ...ctx.take(), accept: false };
    }
    if (!Number.isFinite(size) || size > 4294967295) {
      this.#bad(tag, "Invalid literal size");
      return { ...ctx.take(), accept: false };
    }
    if (size > limit) {
      ctx.status(tag, "NO", `Literal larger than ${limit} octets`, "TOOBIG");
      return { ...ctx.take(), accept: false };
    }
    if (!nonSync) ctx.raw("+ OK\r\n");
    return { ...ctx.take(), accept: true };
  }

  /** A command line (or literal) longer than the reader's limit. */
  tooLong(): SessionOutput {
    this.#bad("*", "Command line too long");
    return this.#ctx.take();
  }

  /** TLS is now active (after the `starttls` action). */
  tlsStarted(): void {
    this.#ctx.tls = true;
  }

  /** Called when the selected mailbox has changes to report (replaces any earlier one). */
  onUpdate(listener: () => void): void {
    this.#ctx.watcher = listener;
  }

  /** Changes to push now (during IDLE only). */
  updates(): SessionOutput {
    idleUpdates(this.#ctx);
    return this.#ctx.take();
  }

  /** A keepalive line during IDLE. */
  keepalive(): SessionOutput {
    idleKeepalive(this.#ctx);
    return this.#ctx.take();
  }

  /** Autologout (RFC 3501 §5.4). */
  timedOut(): SessionOutput {
    const ctx = this.#ctx;
    if (ctx.state !== "logout") {
      ctx.status("*", "BYE", "Autologout; idle for too long");
      this.#end();
    }
    return ctx.take();
  }

  /** The connection is gone: leave the mailbox. */
  close(): void {
    this.#ctx.deselect();
    this.#ctx.state = "logout";
  }

  #end(): void {
    this.#ctx.deselect();
    this.#ctx.state = "logout";
    this.#ctx.action({ kind: "close" });
  }

  #bad(tag: string, message: string, code?: string): void {
    const ctx = this.#ctx;
    ctx.status(tag, "BAD", message, code);
    ctx.badCount++;
    if (ctx.badCount >= (ctx.o.maxBadCommands ?? 10) && ctx.state !== "logout") {
      ctx.status("*", "BYE", "Too many invalid commands");
      this.#end();
    }
  }

  /** A raw line during IDLE or AUTHENTICATE. */
  async line(bytes: Uint8Array): Promise<SessionOutput> {
    const ctx = this.#ctx;
    const text = decodeUtf8(bytes);
    if (ctx.idleTag !== null) idleLine(ctx, text);
    else if (ctx.authTag !== null) await authenticateLine(ctx, text);
    return ctx.take();
  }

  /** One complete command (see module doc). */
  async command(bytes: Uint8Array): Promise<SessionOutput> {
    const ctx = this.#ctx;
    if (ctx.state === "logout" || this.wantsLine) return ctx.take();
    let cmd: Command;
    try {
      const head = parseCommandHead(bytes);
      if (validIn(head.name, ctx.state) === false) {
        this.#bad(head.tag, `${head.name} is not valid in this state`);
        return ctx.take();
      }
      cmd = parseCommand(bytes);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      if (e.code) ctx.status(e.tag ?? "*", "NO", e.message, e.code);
      else this.#bad(e.tag ?? "*", e.message);
      return ctx.take();
    }
    ctx.result = null;
    let failed: CommandFailed | null = null;
    let replied = false;
    try {
      replied = await this.#run(cmd);
    } catch (e) {
      if (!(e instanceof Error) || e.name !== "CommandFailed") {
        ctx.status(cmd.tag, "NO", "Internal server error", "SERVERBUG");
        return ctx.take();
      }
      failed = e as CommandFailed;
    }
    if (ctx.state === "selected" && ctx.idleTag === null && cmd.name !== "LOGOUT") {
      const uid = "uid" in cmd && cmd.uid === true;
      ctx.flushUpdates(!NO_EXPUNGE.has(cmd.name) || uid, uid);
    }
    if (failed) {
      if (failed.status === "BAD") this.#bad(cmd.tag, failed.message, failed.code);
      else ctx.status(cmd.tag, "NO", failed.message, failed.code);
    } else if (!replied) {
      const r: { text: string; code?: string } = ctx.result ?? { text: `${cmd.name} completed` };
      ctx.status(cmd.tag, "OK", r.text, r.code);
    }
    return ctx.take();
  }

  /** Run a command; true when it wrote its own tagged reply (or none is due yet). */
  async #run(cmd: Command): Promise<boolean> {
    const ctx = this.#ctx;
    switch (cmd.name) {
      case "CAPABILITY":
        ctx.untagged(`CAPABILITY ${ctx.capabilityList()}`);
        return false;
      case "NOOP":
      case "CHECK":
        return false;
      case "LOGOUT":
        ctx.status("*", "BYE", "Logging out");
        ctx.status(cmd.tag, "OK", "LOGOUT completed");
        this.#end();
        return true;
      case "ID":
        // RFC 2971 §3.3: the server's own parameters.
        ctx.untagged('ID ("name" "postie")');
        return false;
      case "STARTTLS":
        startTls(ctx, cmd.tag);
        return true;
      case "LOGIN":
        await loginCommand(ctx, cmd.tag, cmd.user, cmd.password);
        return true;
      case "AUTHENTICATE":
        await authenticateCommand(ctx, cmd.tag, cmd.mechanism, cmd.initial);
        return true;
      case "ENABLE": {
        // RFC 5161 §3.1: list what this command enabled; unknown names are ignored.
        const on: string[] = [];
        for (const c of cmd.capabilities) {
          const u = c.toUpperCase();
          if (ENABLEABLE.has(u) && u === "UTF8=ACCEPT" && !ctx.utf8) {
            ctx.utf8 = true;
            on.push(u);
          }
        }
        ctx.untagged(["ENABLED", ...on].join(" "));
        return false;
      }
      case "SELECT":
      case "EXAMINE":
        await selectCommand(ctx, cmd);
        return false;
      case "CREATE":
        await createCommand(ctx, cmd.mailbox);
        return false;
      case "DELETE":
        await deleteCommand(ctx, cmd.mailbox);
        return false;
      case "RENAME":
        await renameCommand(ctx, cmd.from, cmd.to);
        return false;
      case "SUBSCRIBE":
      case "UNSUBSCRIBE":
        await subscribeCommand(ctx, cmd.mailbox, cmd.name === "SUBSCRIBE");
        return false;
      case "LIST":
        await listCommand(ctx, cmd);
        return false;
      case "LSUB":
        await lsubCommand(ctx, cmd);
        return false;
      case "STATUS":
        await statusCommand(ctx, cmd);
        return false;
      case "APPEND":
        await appendCommand(ctx, cmd);
        return false;
      case "NAMESPACE":
        namespaceCommand(ctx);
        return false;
      case "IDLE":
        idleStart(ctx, cmd.tag);
        return true;
      case "CLOSE":
      case "UNSELECT":
        await closeCommand(ctx, cmd.name === "CLOSE");
        return false;
      case "EXPUNGE":
        await expungeCommand(ctx, cmd);
        return false;
      case "SEARCH":
        await searchCommand(ctx, cmd);
        return false;
      case "FETCH":
        await fetchCommand(ctx, cmd);
        return false;
      case "STORE":
        await storeCommand(ctx, cmd);
        return false;
      case "COPY":
      case "MOVE":
        await copyCommand(ctx, cmd);
        return false;
    }
  }
}
