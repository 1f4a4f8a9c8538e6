/**
 * `postie cert renew`: ask the running server to order a new certificate now, and wait for the
 * outcome. The server owns the challenge listeners (port 80 or 443), so the CLI does not order
 * itself: it leaves a request file in `<data_dir>/acme/` that the server takes within a few
 * seconds, and watches `state.json` for the result of that attempt.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import { readAcmeState, requestRenewal } from "../acme/acme_state.ts";

/** The outcome of a renewal request. */
export type RenewOutcome =
  | { ok: true; at: string }
  | { ok: false; reason: string };

/** Request a renewal and wait up to `waitMs` for the server to report on it. */
export async function requestAndAwaitRenewal(
  config: Config,
  waitMs: number,
  pollMs = 500,
): Promise<RenewOutcome> {
  if (!config.acme) {
    return { ok: false, reason: `acme is not enabled in ${config.source} (acme.enabled: true)` };
  }
  const asked = new Date();
  await requestRenewal(config.dataDir, asked);
  const end = Date.now() + waitMs;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, pollMs));
    const s = await readAcmeState(config.dataDir).catch(() => undefined);
    if (!s) continue;
    if (s.lastSuccess && Date.parse(s.lastSuccess) >= asked.getTime()) {
      return { ok: true, at: s.lastSuccess };
    }
    if (s.lastError && Date.parse(s.lastError.at) >= asked.getTime()) {
      return { ok: false, reason: `the CA refused: ${s.lastError.type}: ${s.lastError.detail}` };
    }
  }
  return {
    ok: false,
    reason: `no outcome within ${Math.round(waitMs / 1000)} s: is postie running with ` +
      `${config.source}? (the server takes the request; it stays pending until it does)`,
  };
}
