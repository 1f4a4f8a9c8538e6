/**
 * The failure that ends an attempt at delivery, with the reply to report for it (the server's,
 * or one chosen here for local decisions and network trouble), and the helpers that make and
 * judge one. Private to src/client.
 *
 * @module
 */

import type { Reply } from "../smtp/reply.ts";

/** A failure that ends the attempt, with the reply to report. */
export class Failure extends Error {
  constructor(
    readonly code: number,
    readonly enhanced: string | undefined,
    readonly text: string,
    /** The server sent this reply (as opposed to a local decision or a network failure). */
    readonly fromServer: boolean,
    /** What we were doing, e.g. "MAIL FROM". */
    readonly stage: string,
    /** The connection is unusable (lost, timed out, garbled): close without QUIT. */
    readonly broken = false,
  ) {
    super(`${code} ${enhanced ?? ""} ${text}`.replace(/\s+/g, " "));
    this.name = "Failure";
  }

  get permanent(): boolean {
    return this.code >= 500;
  }

  static reply(r: Reply, stage: string): Failure {
    return new Failure(r.code, r.enhanced, replyText(r), true, stage);
  }

  /** The line for logs and `connectionError.text`. */
  describe(): string {
    const enh = this.enhanced ? ` ${this.enhanced}` : "";
    return `${this.code}${enh} ${this.text} (${
      this.fromServer ? "in reply to" : "at"
    } ${this.stage})`;
  }
}

/** Network trouble: temporary (RFC 3463 X.4.2 "bad connection"). */
export function lost(stage: string, text: string): Failure {
  return new Failure(421, "4.4.2", text, false, stage, true);
}

/** A reply we cannot parse: temporary, and the connection is not trusted further. */
export function garbled(stage: string, text: string): Failure {
  return new Failure(421, "4.5.0", text, false, stage, true);
}

/** A reply that is not the expected 2xx/3xx: the server's failure, or a protocol error. */
export function unexpected(r: Reply, stage: string): Failure {
  if (r.code >= 400) return Failure.reply(r, stage);
  return new Failure(421, "4.5.0", `unexpected reply ${r.code} ${replyText(r)}`, false, stage);
}

/** A reply's text lines joined into one. */
export function replyText(r: Reply): string {
  return r.lines.join(" ").trim();
}

/** An error's message, with its `code` (such as ECONNREFUSED) in front when it has one. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === "string" && !e.message.includes(code)
      ? `${code} ${e.message}`
      : e.message;
  }
  return String(e);
}

/** Any error as a {@link Failure}; an unexpected one (a bug) is temporary, never a loss. */
export function asFailure(e: unknown): Failure {
  if (e instanceof Failure) return e;
  return new Failure(421, "4.3.0", `internal error: ${errorText(e)}`, false, "SMTP", true);
}

/**
 * Whether QUIT is worth sending after a failure: not after a 421 reply or on a broken
 * connection, where the server is gone; after a timeout RFC 5321 §4.5.3.2 has the client
 * close rather than talk on.
 */
export function quitAfter(f: Failure): boolean {
  return !f.broken && !(f.fromServer && f.code === 421);
}
