/**
 * The IMAP service: `listen.imap` (STARTTLS, 143) and `listen.imaps` (implicit TLS, 993,
 * RFC 8314 §3.3) on the shared listener layer, with the SMTP server's certificate, accounts and
 * AuthGuard (lockout and doubling delay shared with submission). Each connection gets an
 * {@link ImapTransport} running an {@link ImapSession}; mail comes from the account registry
 * ({@link MailRegistry}) that the SMTP delivery path notifies of new mail.
 *
 * Limits: `imap.max_connections_per_ip` (at the listener, `* BYE` beyond),
 * `imap.max_connections_per_account` (at login), `imap.max_line_bytes`, APPENDLIMIT =
 * `limits.max_message_bytes`, autologout `imap.autologout_seconds` (RFC 9051 §5.4), IDLE
 * keepalive `imap.idle_keepalive_seconds`.
 *
 * @module
 */

import type { Config, ImapListenerKind } from "../config/config.ts";
import { type AuthGuard, checkCredentials, type CredentialStore } from "../auth/guard.ts";
import {
  type BoundAddress,
  type ConnectionHandler,
  type ConnectionLimits,
  ListenerGroup,
} from "../listen/listener_group.ts";
import type { Connection } from "../listen/connection.ts";
import type { TlsContext } from "../listen/tls_context.ts";
import { log } from "../log/logger.ts";
import type { MailRegistry } from "./store/mod.ts";
import { ImapSession } from "./session.ts";
import { ImapTransport } from "./transport.ts";
import { storeAdapter } from "./store_adapter.ts";
import { MailStoreError } from "./mail_store.ts";

/** What the IMAP service shares with the rest of the server. */
export interface ImapServiceOptions {
  config: Config;
  accounts: CredentialStore;
  guard: AuthGuard;
  tls: TlsContext;
  registry: MailRegistry;
  /** An account logged in from `ip` (for the metrics, and the rate-limit alert's login list). */
  onLogin?: (account: string, ip: string) => void;
}

function newSessionId(): string {
  const alphabet = "0123456789bcdfghjklmnpqrstvwxyz";
  let s = "";
  for (const b of crypto.getRandomValues(new Uint8Array(10))) s += alphabet[b % alphabet.length];
  return s;
}

/** The IMAP listeners and their sessions. Create with {@link ImapService.start}. */
export class ImapService {
  #config: Config;
  readonly #o: ImapServiceOptions;
  readonly #listeners: ListenerGroup<ImapListenerKind>;
  readonly #perAccount = new Map<string, number>();
  #sessions = 0;
  readonly #log = log("imap");

  private constructor(o: ImapServiceOptions) {
    this.#o = o;
    this.#config = o.config;
    this.#listeners = new ListenerGroup({
      protocol: (conn, listener) => this.#connection(conn, listener.kind),
      limits: limitsOf(o.config),
      tls: o.tls,
      log: this.#log,
    });
  }

  /** Bind every configured IMAP address. */
  static async start(o: ImapServiceOptions): Promise<ImapService> {
    const service = new ImapService(o);
    try {
      for (const kind of ["imap", "imaps"] as const) {
        for (const { host, port } of o.config.listen[kind]) {
          await service.#listeners.listen({ kind, host, port, implicitTls: kind === "imaps" });
        }
      }
    } catch (e) {
      await service.stop(0);
      throw e;
    }
    return service;
  }

  /** The addresses bound. */
  get addresses(): readonly BoundAddress<ImapListenerKind>[] {
    return this.#listeners.addresses;
  }

  /** IMAP sessions open now (connections being served). */
  get sessions(): number {
    return this.#sessions;
  }

  /** A reloaded config applies to connections from now on. */
  configure(config: Config): void {
    this.#config = config;
    this.#listeners.configure(limitsOf(config));
  }

  /** Stop accepting, say BYE to every session, and cut what is left after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    await this.#listeners.stop(graceMs);
  }

  #connection(conn: Connection, kind: ImapListenerKind): ConnectionHandler {
    const config = this.#config;
    const id = newSessionId();
    const ip = conn.peer.address;
    const slog = log("imap").with({ session: id, peer: ip, listener: kind });
    const transport = new ImapTransport(
      conn,
      {
        maxLineBytes: config.imap.maxLineBytes,
        writeTimeoutMs: config.timeouts.commandSeconds * 1000,
        handshakeTimeoutMs: config.timeouts.commandSeconds * 1000,
      },
      this.#o.tls,
      slog,
    );
    let account: string | null = null;
    return {
      log: slog,
      refuse: (reason) => transport.refuse(`${config.hostname} ${reason}, try later`),
      stop: () => transport.stop(),
      serve: async () => {
        const session = new ImapSession({
          peer: { address: ip },
          tls: conn.tls !== null,
          tlsAvailable: this.#o.tls.current !== null,
          checkCredentials: async (user, password) =>
            (await checkCredentials(this.#o.accounts, user, password))?.address,
          openAccount: async (address) => {
            // The slot is taken before the first await, so that logins racing each other
            // cannot all pass the check.
            const n = this.#perAccount.get(address) ?? 0;
            if (n >= config.imap.maxConnectionsPerAccount) {
              throw new MailStoreError("LIMIT", "Too many sessions for this account");
            }
            this.#perAccount.set(address, n + 1);
            account = address;
            let mail;
            try {
              mail = await this.#o.registry.open(address);
            } catch (e) {
              this.#release(address);
              account = null;
              throw e;
            }
            slog.info("login {account}", { event: "login", account: address });
            this.#o.onLogin?.(address, ip);
            return storeAdapter(mail, () => this.#o.registry.release(mail));
          },
          guard: this.#o.guard,
          maxMessageBytes: config.limits.maxMessageBytes,
          autologoutMs: config.imap.autologoutSeconds * 1000,
          idleKeepaliveMs: config.imap.idleKeepaliveSeconds * 1000,
          flush: (chunks) => transport.flush(chunks),
        });
        this.#sessions++;
        try {
          await transport.run(session);
        } finally {
          this.#sessions--;
          if (account !== null) this.#release(account);
        }
      },
    };
  }

  /** One session of `account` ended (or never got its mail). */
  #release(account: string): void {
    const n = (this.#perAccount.get(account) ?? 1) - 1;
    if (n <= 0) this.#perAccount.delete(account);
    else this.#perAccount.set(account, n);
  }
}

function limitsOf(config: Config): ConnectionLimits {
  return {
    maxConnections: config.limits.maxConnections,
    maxConnectionsPerIp: config.imap.maxConnectionsPerIp,
    handshakeTimeoutMs: config.timeouts.commandSeconds * 1000,
  };
}
