/**
 * The admin page as an HTTP handler: its embedded files, login and logout, and the JSON API
 * the page and scripts use (the API is documented in the README, "The admin JSON API"). Mounted at a base
 * path: `/` on `listen.admin`, `/admin/` on `listen.https` with `admin.public`.
 *
 * Who may do what: every logged-in account sees and changes its own things (`api/me...`:
 * password, forward, its counts); only accounts with the admin role reach the rest, others get
 * 403. The role, the lock and the account itself are looked up on every request, so a change
 * takes effect at once. Every change goes through the same actions as the CLI (src/admin/
 * *_actions.ts) and is written to the audit log.
 *
 * Login goes through the server's {@link AuthGuard}, the same counts as SMTP AUTH and IMAP
 * LOGIN: a blocked address or account gets 429, each failure is answered after the guard's
 * delay.
 *
 * @module
 */

import type { HttpRequest } from "../http/read_request.ts";
import type { HttpResponse } from "../http/response.ts";
import type { Config } from "../config/config.ts";
import type { AccountStore } from "../accounts/store.ts";
import { AccountError } from "../accounts/store.ts";
import { type AuthGuard, checkCredentials, guardedLogin } from "../auth/guard.ts";
import type { QueueStore } from "../queue/store.ts";
import type { EventLog } from "../events/event_log.ts";
import type { Logger } from "../log/logger.ts";
import { ActionError } from "./action_error.ts";
import {
  accountAddress,
  addAccount,
  changeOwnPassword,
  deleteAccount,
  listAccounts,
  resetPassword,
  setAccountAdmin,
  setAccountLocked,
} from "./account_actions.ts";
import { clearForward, listForwards, setForward } from "./forward_actions.ts";
import { addAlias, deleteAlias, listAliases } from "./alias_actions.ts";
import {
  bounceMessage,
  deleteMessage,
  holdMessage,
  releaseMessage,
  retryMessage,
  showMessage,
} from "./queue_actions.ts";
import type { AuditLog } from "./audit_log.ts";
import { type AdminSession, AdminSessions } from "./sessions.ts";
import {
  cookie,
  json,
  jsonBody,
  jsonError,
  refuseStateChange,
  SECURITY_HEADERS,
  SESSION_COOKIE,
  sessionCookie,
} from "./admin_http.ts";
import { ADMIN_ASSETS } from "./assets/assets.ts";
import type { AdminViews } from "./admin_views.ts";

/** What the page works on: the running server's stores and views. */
export interface AdminDeps {
  config(): Config;
  accounts: AccountStore;
  guard: AuthGuard;
  queue: QueueStore;
  events: EventLog;
  audit: AuditLog;
  /** Read-only views (dashboard parts, DNS, reports). */
  views: AdminViews;
  /** Wake the delivery worker (after retry and release). */
  kick(): void;
  log: Logger;
}

/** A request with its session, as API handlers see it. */
interface Call {
  req: HttpRequest;
  body: Record<string, unknown>;
  session: AdminSession;
}

type Handler = (call: Call) => unknown | Promise<unknown>;

interface ApiRoute {
  method: "GET" | "POST";
  admin: boolean;
  handle: Handler;
  /** For changes: what the audit log names as the target. */
  target?: (body: Record<string, unknown>) => string | undefined;
}

const STATUS_OF_KIND = { invalid: 400, exists: 409, missing: 404, forbidden: 403 } as const;

/** A string field of a JSON body; else a 400 naming the field. */
function str(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== "string" || v === "") {
    throw new ActionError("invalid", `"${field}" must be a non-empty string`);
  }
  return v;
}

function bool(body: Record<string, unknown>, field: string): boolean {
  const v = body[field] ?? false;
  if (typeof v !== "boolean") throw new ActionError("invalid", `"${field}" must be true or false`);
  return v;
}

function optionalStr(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new ActionError("invalid", `"${field}" must be a string`);
  return v;
}

const addr = (b: Record<string, unknown>) =>
  typeof b["address"] === "string" ? accountAddress(b["address"]) : undefined;
const qid = (b: Record<string, unknown>) => typeof b["id"] === "string" ? b["id"] : undefined;

/** What the page is told about its session: who, whether admin, the CSRF token. */
function whoami(s: AdminSession, admin: boolean) {
  return { address: s.address, admin, csrf: s.csrf };
}

/** The admin page; see the module documentation. */
export class AdminApp {
  readonly #deps: AdminDeps;
  readonly sessions: AdminSessions;
  readonly #api: Map<string, ApiRoute>;

  constructor(deps: AdminDeps) {
    this.#deps = deps;
    this.sessions = new AdminSessions(deps.config().admin.sessionHours);
    this.#api = this.#routes();
  }

  /** A reload: new session lifetime for new sessions. */
  configure(config: Config): void {
    this.sessions.configure(config.admin.sessionHours);
  }

  /**
   * Answer `req`, whose path starts with `base` (which ends with "/").
   */
  async handle(req: HttpRequest, base: string): Promise<HttpResponse> {
    const rel = req.path.slice(base.length);
    if (!rel.startsWith("api/")) {
      // Own keys only: "constructor" or "__proto__" is no page.
      const asset = Object.hasOwn(ADMIN_ASSETS, rel) ? ADMIN_ASSETS[rel] : undefined;
      if (!asset || req.method === "POST") return jsonError(404, "no such page");
      return {
        status: 200,
        contentType: asset.contentType,
        headers: { ...SECURITY_HEADERS },
        body: asset.body,
      };
    }
    const name = rel.slice(4);
    try {
      if (name === "login") return await this.#login(req, base);
      const route = this.#api.get(`${req.method === "HEAD" ? "GET" : req.method} ${name}`);
      const { session, admin } = this.#session(req) ?? {};
      if (name === "session" && req.method !== "POST") {
        if (!session) return jsonError(401, "not logged in");
        return json(200, whoami(session, admin === true));
      }
      if (name === "logout" && req.method === "POST") {
        if (!session) return jsonError(401, "not logged in");
        const refused = refuseStateChange(req, session.csrf);
        if (refused) return refused;
        this.sessions.delete(session.id);
        await this.#audit(req, session.address, "logout", undefined, true);
        return json(200, { ok: true }, { "Set-Cookie": sessionCookie("", base, 0) });
      }
      if (!route) {
        const other = this.#api.has(`${req.method === "POST" ? "GET" : "POST"} ${name}`);
        return other ? jsonError(405, "method not allowed") : jsonError(404, "no such API");
      }
      if (!session) return jsonError(401, "not logged in");
      if (route.admin && !admin) {
        return jsonError(403, "admin only");
      }
      if (route.method === "GET") {
        return json(200, await route.handle({ req, body: {}, session }));
      }
      const refused = refuseStateChange(req, session.csrf);
      if (refused) return refused;
      const body = jsonBody(req);
      if (body === null) return jsonError(400, "the body must be a JSON object");
      const target = route.target?.(body);
      try {
        const result = await route.handle({ req, body, session });
        await this.#audit(req, session.address, name, target, true);
        return json(200, result);
      } catch (e) {
        await this.#audit(req, session.address, name, target, false, (e as Error).message);
        throw e;
      }
    } catch (e) {
      if (e instanceof ActionError) return jsonError(STATUS_OF_KIND[e.kind], e.message);
      if (e instanceof AccountError) return jsonError(400, e.message);
      throw e;
    }
  }

  // The session of the request's cookie and whether its account is an admin now, while the
  // account may still log in (one account lookup per request).
  #session(req: HttpRequest): { session: AdminSession; admin: boolean } | undefined {
    const s = this.sessions.get(cookie(req, SESSION_COOKIE));
    if (!s) return undefined;
    const acct = this.#deps.accounts.get(s.address);
    if (!acct || acct.locked) {
      this.sessions.deleteAccount(s.address);
      return undefined;
    }
    return { session: s, admin: acct.admin };
  }

  async #audit(
    req: HttpRequest,
    actor: string,
    action: string,
    target: string | undefined,
    ok: boolean,
    detail?: string,
  ): Promise<void> {
    const entry = {
      actor,
      ip: req.peer.address,
      action,
      ...(target !== undefined ? { target } : {}),
      ok,
      ...(detail !== undefined ? { detail } : {}),
    };
    try {
      await this.#deps.audit.write(entry);
    } catch (e) {
      this.#deps.log.error("cannot write the audit log: {error}", {
        event: "audit_failed",
        error: String(e),
      });
    }
    this.#deps.log.info("admin {actor} {action} {target}: {result}", {
      event: "admin_action",
      ...entry,
      target: target ?? "",
      result: ok ? "ok" : `failed: ${detail}`,
    });
  }

  // Login (RFC 6265 cookie session), throttled like SMTP AUTH (src/auth/guard.ts).
  async #login(req: HttpRequest, base: string): Promise<HttpResponse> {
    if (req.method !== "POST") return jsonError(405, "method not allowed");
    const refused = refuseStateChange(req, null);
    if (refused) return refused;
    const body = jsonBody(req);
    const address = typeof body?.["address"] === "string" ? body["address"].trim() : "";
    const password = typeof body?.["password"] === "string" ? body["password"] : "";
    if (!address || !password) return jsonError(400, '"address" and "password" are required');
    const account = address.toLowerCase();
    const login = await guardedLogin(
      this.#deps.guard,
      req.peer.address,
      account,
      () => checkCredentials(this.#deps.accounts, address, password),
    );
    if (login.kind === "blocked") {
      await this.#audit(req, "-", "login", account, false, "throttled");
      return jsonError(429, "too many failed logins; try again later", { "Retry-After": "60" });
    }
    if (login.kind === "failed") {
      await this.#audit(req, "-", "login", account, false, "wrong address or password");
      return jsonError(401, "wrong address or password");
    }
    const acct = login.account;
    const s = this.sessions.create(acct.address);
    await this.#audit(req, acct.address, "login", acct.address, true);
    const admin = this.#deps.accounts.get(acct.address)?.admin ?? false;
    return json(200, whoami(s, admin), {
      "Set-Cookie": sessionCookie(s.id, base, this.sessions.lifetimeSeconds),
    });
  }

  #routes(): Map<string, ApiRoute> {
    const d = this.#deps;
    const ctx = () => ({ config: d.config(), accounts: d.accounts });
    // The account a request names, in the canonical form the actions look it up by.
    const address = (c: Call) => accountAddress(str(c.body, "address"));
    const self = (c: Call) => {
      if (address(c) === c.session.address) {
        throw new ActionError("invalid", "you cannot do that to the account you are logged in as");
      }
    };
    const routes: Record<string, Omit<ApiRoute, "method"> & { method?: "GET" | "POST" }> = {
      // The account's own page.
      "GET me": { admin: false, handle: (c) => d.views.me(c.session.address) },
      "POST me/password": {
        admin: false,
        handle: async (c) => {
          await changeOwnPassword(
            ctx(),
            c.session.address,
            str(c.body, "current"),
            str(c.body, "password"),
          );
          return { ok: true };
        },
      },
      "POST me/forward": {
        admin: false,
        handle: (c) => ({
          ok: true,
          forward: setForward(
            ctx(),
            c.session.address,
            str(c.body, "target"),
            bool(c.body, "keepCopy"),
          ),
        }),
      },
      "POST me/forward/delete": {
        admin: false,
        handle: (c) => ({ ok: clearForward(ctx(), c.session.address) }),
      },
      // Admin.
      "GET dashboard": { admin: true, handle: () => d.views.dashboard() },
      "GET traffic": {
        admin: true,
        handle: (c) => d.views.traffic(c.req.query.get("account") ?? undefined),
      },
      "GET accounts": { admin: true, handle: () => ({ accounts: listAccounts(ctx()) }) },
      "POST accounts/add": {
        admin: true,
        target: addr,
        handle: async (c) => {
          const password = optionalStr(c.body, "password");
          return await addAccount(ctx(), str(c.body, "address"), {
            ...(password !== undefined ? { password } : {}),
            admin: bool(c.body, "admin"),
          });
        },
      },
      "POST accounts/delete": {
        admin: true,
        target: addr,
        handle: (c) => {
          self(c);
          deleteAccount(ctx(), address(c));
          this.sessions.deleteAccount(address(c));
          return { ok: true };
        },
      },
      "POST accounts/lock": {
        admin: true,
        target: addr,
        handle: (c) => {
          self(c);
          const locked = bool(c.body, "locked");
          setAccountLocked(ctx(), address(c), locked);
          if (locked) this.sessions.deleteAccount(address(c));
          return { ok: true };
        },
      },
      "POST accounts/password": {
        admin: true,
        target: addr,
        handle: async (c) => {
          const password = optionalStr(c.body, "password");
          const r = await resetPassword(ctx(), address(c), password);
          if (address(c) !== c.session.address) this.sessions.deleteAccount(address(c));
          return { ok: true, ...r };
        },
      },
      "POST accounts/admin": {
        admin: true,
        target: addr,
        handle: (c) => {
          const admin = bool(c.body, "admin");
          if (!admin) self(c);
          setAccountAdmin(ctx(), address(c), admin);
          return { ok: true };
        },
      },
      "GET aliases": { admin: true, handle: () => ({ aliases: listAliases(ctx()) }) },
      "POST aliases/add": {
        admin: true,
        target: addr,
        handle: (c) => {
          const t = c.body["targets"];
          if (!Array.isArray(t) || !t.every((x) => typeof x === "string")) {
            throw new ActionError("invalid", '"targets" must be a list of addresses');
          }
          addAlias(ctx(), str(c.body, "address"), t);
          return { ok: true };
        },
      },
      "POST aliases/delete": {
        admin: true,
        target: addr,
        handle: (c) => {
          deleteAlias(ctx(), str(c.body, "address"));
          return { ok: true };
        },
      },
      "GET forwards": { admin: true, handle: () => ({ forwards: listForwards(ctx()) }) },
      "POST forwards/set": {
        admin: true,
        target: addr,
        handle: (c) => ({
          ok: true,
          forward: setForward(
            ctx(),
            str(c.body, "address"),
            str(c.body, "target"),
            bool(c.body, "keepCopy"),
          ),
        }),
      },
      "POST forwards/delete": {
        admin: true,
        target: addr,
        handle: (c) => {
          if (!clearForward(ctx(), address(c))) {
            throw new ActionError("missing", `${address(c)} does not forward`);
          }
          return { ok: true };
        },
      },
      "GET queue": { admin: true, handle: () => ({ messages: d.queue.list() }) },
      "GET queue/show": {
        admin: true,
        handle: (c) => showMessage(d.queue, c.req.query.get("id") ?? ""),
      },
      "POST queue/retry": {
        admin: true,
        target: qid,
        handle: (c) => {
          const count = retryMessage(d.queue, str(c.body, "id"));
          d.kick();
          return { ok: true, count };
        },
      },
      "POST queue/hold": {
        admin: true,
        target: qid,
        handle: (c) => ({ ok: true, count: holdMessage(d.queue, str(c.body, "id")) }),
      },
      "POST queue/release": {
        admin: true,
        target: qid,
        handle: (c) => {
          const count = releaseMessage(d.queue, str(c.body, "id"));
          d.kick();
          return { ok: true, count };
        },
      },
      "POST queue/delete": {
        admin: true,
        target: qid,
        handle: async (c) => {
          await deleteMessage(d.queue, str(c.body, "id"));
          return { ok: true, count: 1 };
        },
      },
      "POST queue/bounce": {
        admin: true,
        target: qid,
        handle: (c) => {
          const count = bounceMessage(d.queue, str(c.body, "id"));
          d.kick();
          return { ok: true, count };
        },
      },
      "GET dns": { admin: true, handle: () => d.views.dnsRecords() },
      "GET dns/check": { admin: true, handle: () => d.views.dnsCheck() },
      "GET reports": {
        admin: true,
        handle: (c) => d.views.reports(Number(c.req.query.get("days") ?? "30")),
      },
      "GET audit": {
        admin: true,
        handle: async (c) => {
          const limit = Number(c.req.query.get("limit") ?? "100");
          return {
            entries: await d.audit.recent(
              Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : 100,
            ),
          };
        },
      },
      "GET log": {
        admin: true,
        handle: (c) => {
          const q = c.req.query.get("q") ?? "";
          const limit = Number(c.req.query.get("limit") ?? "100");
          return {
            events: d.events.recent({
              ...(q ? { q } : {}),
              limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : 100,
            }),
          };
        },
      },
    };
    const map = new Map<string, ApiRoute>();
    for (const [key, r] of Object.entries(routes)) {
      const [method, name] = key.split(" ") as ["GET" | "POST", string];
      map.set(`${method} ${name}`, { ...r, method });
    }
    return map;
  }
}
