/**
 * SMTP AUTH on the submission listeners (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms: the command, the challenge/response exchange, the credential check, and the
 * {@link AuthGuard} that slows and then blocks guessing. It holds the session's authenticated
 * account.
 *
 * @module
 */

import { closingReply, refusal, type Reply, reply } from "../smtp/reply.ts";
import { checkCredentials, guardedLogin } from "../auth/guard.ts";
import type { SessionOptions } from "./session_options.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

// Strict base64 (RFC 4648 §4) decoded as UTF-8; null when either fails.
function decodeBase64Utf8(text: string): string | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    return utf8.decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
}

/** Where the session stands when AUTH arrives; AUTH needs TLS, EHLO, and no transaction. */
export interface AuthContext {
  tls: boolean;
  hello: boolean;
  inTransaction: boolean;
}

/** The AUTH state of one session: the account once logged in, and an exchange in progress. */
export class Authenticator {
  readonly #o: SessionOptions;
  /** The authenticated account (canonical address), RFC 4954. */
  #user: string | null = null;
  #exchange: { mech: "PLAIN" | "LOGIN"; username?: string } | null = null;
  #blocked = 0;
  /** The user name of the last login attempt (lower-case, at most 256 characters). */
  #attempted: string | null = null;

  constructor(options: SessionOptions) {
    this.#o = options;
  }

  /** The authenticated account (canonical address), or null. */
  get user(): string | null {
    return this.#user;
  }

  /** The user name of the last login attempt, for the event log of a refusal; or null. */
  get attempted(): string | null {
    return this.#attempted;
  }

  /** An exchange is in progress: the next line is a response, not a command (RFC 4954 §4). */
  get inExchange(): boolean {
    return this.#exchange !== null;
  }

  /** AUTH exists here: a submission listener with accounts, never the MX listener. */
  get offered(): boolean {
    return this.#o.listener !== "smtp" && this.#o.credentials !== undefined;
  }

  /** An over-long line arrived: inside an exchange it cancels it (RFC 4954 §4). */
  lineTooLong(): Reply | undefined {
    if (!this.#exchange) return undefined;
    this.#exchange = null;
    return reply(500, "5.5.6", "Authentication exchange line is too long");
  }

  /** RFC 4954 §4: AUTH mechanism [initial-response] */
  async command(arg: string, at: AuthContext): Promise<Reply> {
    if (!this.offered) return reply(502, "5.5.1", "AUTH not available");
    if (!at.tls) {
      return refusal(
        "tls_required",
        538,
        "5.7.11",
        "Encryption required for requested authentication mechanism",
      );
    }
    if (!at.hello) return reply(503, "5.5.1", "Send EHLO first");
    if (this.#user) return reply(503, "5.5.1", "Already authenticated");
    if (at.inTransaction) return reply(503, "5.5.1", "AUTH not allowed during a mail transaction");
    if (this.#o.authGuard?.blocked(this.#o.peer.address)) return this.#refused();
    const [mechText, initial, extra] = arg.split(" ");
    const mech = (mechText ?? "").toUpperCase();
    if (extra !== undefined || mechText === "") {
      return reply(501, "5.5.4", "Syntax: AUTH mechanism");
    }
    if (mech !== "PLAIN" && mech !== "LOGIN") {
      return reply(504, "5.5.4", "Unrecognized authentication mechanism");
    }
    this.#exchange = { mech };
    if (initial === undefined) {
      // RFC 4616 §2: an empty challenge for PLAIN; "Username:" for LOGIN.
      return reply(334, undefined, mech === "PLAIN" ? "" : "VXNlcm5hbWU6");
    }
    return await this.response(initial);
  }

  /** One client response in the exchange (RFC 4954 §4); only while {@link inExchange}. */
  async response(line: string): Promise<Reply> {
    const ex = this.#exchange!;
    if (line === "*") {
      this.#exchange = null;
      return refusal("auth_cancelled", 501, "5.7.0", "Authentication cancelled");
    }
    const decoded = decodeBase64Utf8(line === "=" ? "" : line);
    if (decoded === null) {
      this.#exchange = null;
      return reply(501, "5.5.2", "Cannot decode base64 response");
    }
    let username: string;
    let password: string;
    if (ex.mech === "PLAIN") {
      // RFC 4616 §2: [authzid] NUL authcid NUL passwd
      const parts = decoded.split("\0");
      if (parts.length !== 3) {
        this.#exchange = null;
        return reply(501, "5.5.2", "Malformed PLAIN response");
      }
      const [authzid, authcid, pw] = parts as [string, string, string];
      username = authcid;
      password = pw;
      if (authzid !== "" && authzid.toLowerCase() !== authcid.toLowerCase()) {
        // Acting for another identity is not supported: treat as a failed login.
        password = "";
      }
    } else if (ex.username === undefined) {
      ex.username = decoded;
      return reply(334, undefined, "UGFzc3dvcmQ6"); // "Password:"
    } else {
      username = ex.username;
      password = decoded;
    }
    this.#exchange = null;
    return await this.#login(username, password);
  }

  async #login(username: string, password: string): Promise<Reply> {
    const ip = this.#o.peer.address;
    const name = username.toLowerCase().slice(0, 256);
    this.#attempted = name === "" ? null : name;
    const login = await guardedLogin(
      this.#o.authGuard,
      ip,
      name,
      async () =>
        username === ""
          ? undefined
          : await checkCredentials(this.#o.credentials!, username, password),
    );
    if (login.kind === "blocked") return this.#refused();
    if (login.kind === "failed") {
      this.#o.log.warning("authentication failed for {user}", {
        event: "auth_failed",
        user: name,
        delay_ms: login.delayMs,
      });
      return refusal("auth_failed", 535, "5.7.8", "Authentication credentials invalid");
    }
    const acct = login.account;
    this.#user = acct.address;
    this.#o.onLogin?.(acct.address, ip);
    this.#o.log.info("authenticated as {user}", { event: "auth", user: acct.address });
    return reply(235, "2.7.0", "Authentication successful");
  }

  #refused(): Reply {
    this.#exchange = null;
    this.#o.log.warning("AUTH refused: too many failures", { event: "auth_blocked" });
    if (++this.#blocked > 1) {
      return {
        ...closingReply(421, "4.7.0", "Too many failed authentication attempts, closing"),
        reason: "auth_blocked",
      };
    }
    return refusal(
      "auth_blocked",
      454,
      "4.7.0",
      "Too many failed authentication attempts, try again later",
    );
  }
}
