/**
 * When to renew and when to try again: renewal at two thirds of the certificate's lifetime
 * (Let's Encrypt's advice for 90-day certificates: 30 days before the end), or inside the
 * window the CA gives through ACME Renewal Information (RFC 9773 §4.2); after a failure a
 * growing pause, and after a rate limit (RFC 8555 §6.6) hours, never a retry loop.
 *
 * @module
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** When a certificate valid from `notBefore` to `notAfter` should be renewed. */
export function renewalTime(
  notBefore: Date,
  notAfter: Date,
  ari?: { start: Date; end: Date },
  random: () => number = Math.random,
): Date {
  // RFC 9773 §4.2: a time chosen uniformly at random inside the suggested window.
  if (ari && ari.end.getTime() > ari.start.getTime()) {
    const span = ari.end.getTime() - ari.start.getTime();
    return new Date(ari.start.getTime() + Math.floor(random() * span));
  }
  const life = notAfter.getTime() - notBefore.getTime();
  return new Date(notBefore.getTime() + Math.floor((life * 2) / 3));
}

/**
 * When to try again after the `failures`-th failure in a row: 5 minutes, then four times longer
 * each time up to 12 hours. A rate limit waits at least 3 hours, or longer when the CA's
 * Retry-After says so.
 */
export function retryTime(
  now: Date,
  failures: number,
  problem: { rateLimited: boolean; retryAfter?: Date },
): Date {
  const pause = Math.min(5 * MINUTE * 4 ** Math.max(0, failures - 1), 12 * HOUR);
  let at = now.getTime() + pause;
  if (problem.rateLimited) at = Math.max(at, now.getTime() + 3 * HOUR);
  if (problem.retryAfter) at = Math.max(at, problem.retryAfter.getTime());
  return new Date(at);
}
