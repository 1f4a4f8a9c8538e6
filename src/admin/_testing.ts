/**
 * Helpers for the admin actions' unit tests: a config of two local domains with one config
 * alias, and an account store in a temporary data directory. Test-only.
 *
 * @module
 */

import { validateConfig } from "../config/config.ts";
import { AccountStore } from "../accounts/store.ts";
import type { AccountContext } from "./account_actions.ts";
import { ActionError } from "./action_error.ts";

/** Runs `fn` with a fresh context (domains a.test, b.test; alias postmaster@a.test). */
export async function withContext(
  fn: (ctx: AccountContext, dataDir: string) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "postie-admin-" });
  const config = validateConfig(
    {
      hostname: "mx.a.test",
      domains: ["a.test", "b.test"],
      data_dir: dataDir,
      aliases: { "postmaster@a.test": "alice@a.test" },
    },
    "/etc/postie/postie.yaml",
    dataDir,
  );
  const accounts = await AccountStore.open(dataDir);
  try {
    await fn({ config, accounts }, dataDir);
  } finally {
    accounts.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** Assert that `fn` throws (or rejects with) an ActionError of `kind` matching `message`. */
export async function refuses(
  fn: () => unknown,
  kind: string,
  message: RegExp,
): Promise<void> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  if (!(error instanceof ActionError)) {
    throw new Error(`expected an ActionError ${kind}, got ${String(error)}`);
  }
  if (error.kind !== kind || !message.test(error.message)) {
    throw new Error(`expected ${kind} ${message}, got ${error.kind}: ${error.message}`);
  }
}
