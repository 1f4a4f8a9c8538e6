/**
 * Login sessions of the admin page: a random id (the cookie) and a CSRF token per session,
 * kept in memory only (a restart logs everyone out; nothing secret is written to disk). A
 * session ends `admin.session_hours` after login, at logout, or when its account is deleted,
 * locked or loses the admin role (the page asks the account store on every request).
 *
 * The id and the token are 32 random bytes each, base64url; the id is compared through the
 * map lookup, the token in constant time.
 *
 * @module
 */

/** One logged-in browser. */
export interface AdminSession {
  id: string;
  /** The account that logged in (canonical address). */
  address: string;
  /** Sent back in `X-CSRF-Token` with every state change. */
  csrf: string;
  /** Unix ms. */
  created: number;
  expires: number;
}

/** At most this many sessions; the oldest is dropped for a new one beyond it. */
export const MAX_SESSIONS = 1000;

function token(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...b)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/** Compare two strings in time that depends only on their lengths. */
export function sameToken(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The sessions; see the module documentation. */
export class AdminSessions {
  // Insertion order is creation order: the first entry is the oldest.
  readonly #sessions = new Map<string, AdminSession>();
  #lifetimeMs: number;
  readonly #now: () => number;

  constructor(lifetimeHours: number, now: () => number = Date.now) {
    this.#lifetimeMs = lifetimeHours * 3_600_000;
    this.#now = now;
  }

  /** A new lifetime (reload) for sessions made from now on. */
  configure(lifetimeHours: number): void {
    this.#lifetimeMs = lifetimeHours * 3_600_000;
  }

  /** The lifetime of new sessions, seconds (the cookie's Max-Age). */
  get lifetimeSeconds(): number {
    return Math.floor(this.#lifetimeMs / 1000);
  }

  /** Start a session for `address`. */
  create(address: string): AdminSession {
    while (this.#sessions.size >= MAX_SESSIONS) {
      this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    const now = this.#now();
    const s = {
      id: token(),
      address,
      csrf: token(),
      created: now,
      expires: now + this.#lifetimeMs,
    };
    this.#sessions.set(s.id, s);
    return s;
  }

  /** The live session with this id, if any (an expired one is removed). */
  get(id: string | undefined): AdminSession | undefined {
    if (id === undefined) return undefined;
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (s.expires <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s;
  }

  /** End one session. */
  delete(id: string): void {
    this.#sessions.delete(id);
  }

  /** End every session of an account (deleted, locked, password reset). */
  deleteAccount(address: string): number {
    let n = 0;
    for (const [id, s] of this.#sessions) {
      if (s.address === address) {
        this.#sessions.delete(id);
        n++;
      }
    }
    return n;
  }

  /** Sessions alive now. */
  get size(): number {
    return this.#sessions.size;
  }
}
