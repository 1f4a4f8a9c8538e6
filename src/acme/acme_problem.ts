/**
 * ACME errors: a problem document (RFC 7807, `application/problem+json`; RFC 8555 §6.7) from
 * the CA becomes an {@link AcmeProblem}, carrying the CA's `type`, `detail`, HTTP status,
 * `subproblems` (one per identifier, §6.7.1) and, on 429 or 503, when to try again
 * (`Retry-After`, RFC 9110 §10.2.3). {@link isRateLimited} tells the caller to back off for hours
 * rather than retry (§6.6).
 *
 * @module
 */

/** The URN namespace of ACME's problem types (RFC 8555 §6.7). */
export const ACME_ERROR = "urn:ietf:params:acme:error:";

/** One problem of a subproblems list (RFC 8555 §6.7.1). */
export interface Subproblem {
  type: string;
  detail?: string;
  identifier?: { type: string; value: string };
}

/** A problem document from the CA, or a failure of the protocol exchange itself. */
export class AcmeProblem extends Error {
  /** The problem type URI, e.g. `urn:ietf:params:acme:error:badNonce`; `about:blank` if none. */
  readonly type: string;
  /** The CA's human-readable explanation. */
  readonly detail: string;
  /** The HTTP status of the response that carried it (0 when it came inside an object). */
  readonly status: number;
  /** The per-identifier problems (RFC 8555 §6.7.1). */
  readonly subproblems: Subproblem[];
  /** When the CA says to try again (from `Retry-After` on 429 and 503). */
  readonly retryAfter?: Date;

  constructor(
    fields: { type?: string; detail?: string; status?: number; subproblems?: Subproblem[] },
    retryAfter?: Date,
    context?: string,
  ) {
    const type = fields.type || "about:blank";
    const detail = fields.detail ?? "";
    const sub = (fields.subproblems ?? []).map((p) =>
      `${p.identifier?.value ?? "?"}: ${p.detail ?? p.type}`
    );
    const short = type.startsWith(ACME_ERROR) ? type.slice(ACME_ERROR.length) : type;
    super(
      `${context ? `${context}: ` : ""}${short}${detail ? `: ${detail}` : ""}` +
        (sub.length > 0 ? ` (${sub.join("; ")})` : ""),
    );
    this.name = "AcmeProblem";
    this.type = type;
    this.detail = detail;
    this.status = fields.status ?? 0;
    this.subproblems = fields.subproblems ?? [];
    if (retryAfter) this.retryAfter = retryAfter;
  }

  /** Whether the type is `urn:ietf:params:acme:error:<name>`. */
  is(name: string): boolean {
    return this.type === ACME_ERROR + name;
  }

  /** A problem from a JSON value of unknown shape (a response body, a challenge's `error`). */
  static from(
    value: unknown,
    status: number,
    retryAfter?: Date,
    context?: string,
  ): AcmeProblem {
    const v = (typeof value === "object" && value !== null ? value : {}) as Record<
      string,
      unknown
    >;
    const subproblems = Array.isArray(v.subproblems)
      ? v.subproblems.filter((p): p is Subproblem =>
        typeof p === "object" && p !== null && typeof (p as Subproblem).type === "string"
      )
      : [];
    return new AcmeProblem(
      {
        type: typeof v.type === "string" ? v.type : undefined,
        detail: typeof v.detail === "string" ? v.detail : undefined,
        status: typeof v.status === "number" && status === 0 ? v.status : status,
        subproblems,
      },
      retryAfter,
      context,
    );
  }
}

/** Whether the CA refused for a rate limit: type `rateLimited` or HTTP 429 (RFC 8555 §6.6). */
export function isRateLimited(e: unknown): e is AcmeProblem {
  return e instanceof AcmeProblem && (e.is("rateLimited") || e.status === 429);
}

/**
 * A `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an HTTP date.
 * @returns the moment, or undefined when absent or malformed
 */
export function parseRetryAfter(value: string | null, now: number): Date | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return new Date(now + Number(text) * 1000);
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : new Date(t);
}
