/**
 * The SRS secrets on disk: `<data_dir>/srs/secrets.json` (mode 0600), made on first use with
 * one random 32-byte secret. A rotation adds a new current secret and retires the old one,
 * which still verifies for {@linkcode SRS_SECRET_GRACE_DAYS} days, so that bounces to
 * addresses made before the rotation still reverse (an address lives 21 days; the 9 days
 * more cover mail that waited in queues on its way back).
 *
 * ```json
 * { "secrets": [
 *   { "secret": "<base64url>", "created": "2024-02-01T00:00:00.000Z" },
 *   { "secret": "<base64url>", "created": "2024-01-01T00:00:00.000Z",
 *     "retired": "2024-02-01T00:00:00.000Z" } ] }
 * ```
 *
 * The one entry without `retired` is the current secret. A damaged file is an error naming the
 * file, never replaced: a new secret would break every outstanding SRS address.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { mkdirDurable, syncDir, writeDurably } from "../fs/durable.ts";
import { createFileOnce } from "../fs/write_new_file.ts";

/** How long a retired secret still verifies: the 21 days of an address and 9 days of slack. */
export const SRS_SECRET_GRACE_DAYS = 30;

const DAY_MS = 86_400_000;

/** The secrets file is missing parts, or is not JSON. */
export class SrsSecretsError extends Error {
  override name = "SrsSecretsError";
}

interface Entry {
  secret: string;
  created: string;
  retired?: string;
}

/** The path of the secrets file under `dataDir`. */
export function srsSecretsPath(dataDir: string): string {
  return join(dataDir, "srs", "secrets.json");
}

function newEntry(now: Date): Entry {
  return { secret: randomBytes(32).toString("base64url"), created: now.toISOString() };
}

function format(entries: Entry[]): string {
  return JSON.stringify({ secrets: entries }, null, 2) + "\n";
}

function isTime(v: unknown): v is string {
  return typeof v === "string" && !Number.isNaN(Date.parse(v));
}

function parse(path: string, text: string): Entry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SrsSecretsError(`"${path}" is not JSON: ${(e as Error).message}`);
  }
  const list = (doc as { secrets?: unknown } | null)?.secrets;
  const entries = Array.isArray(list) ? list as Record<string, unknown>[] : [];
  const valid = entries.every((e) =>
    typeof e === "object" && e !== null && typeof e.secret === "string" &&
    e.secret.length >= 16 && isTime(e.created) && (e.retired === undefined || isTime(e.retired))
  );
  if (!valid || entries.filter((e) => e.retired === undefined).length !== 1) {
    throw new SrsSecretsError(
      `"${path}" is damaged: it needs {"secrets": [...]} with one current secret ` +
        `(no "retired") and each "secret" (16+ characters) with an ISO "created" time`,
    );
  }
  return entries as unknown as Entry[];
}

/** Read the entries, creating the file with one new secret when it does not exist. */
async function readOrCreate(dataDir: string, now: Date): Promise<Entry[]> {
  const path = srsSecretsPath(dataDir);
  try {
    return parse(path, await Deno.readTextFile(path));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const dir = join(dataDir, "srs");
  await mkdirDurable(dir);
  // Whole or not at all: a crash never leaves a half-written secrets file, and of two
  // processes making it at once one secret wins.
  await createFileOnce(path, format([newEntry(now)]), 0o600);
  return parse(path, await Deno.readTextFile(path));
}

function usable(entries: Entry[], now: Date): string[] {
  const current = entries.find((e) => e.retired === undefined)!;
  const cutoff = now.getTime() - SRS_SECRET_GRACE_DAYS * DAY_MS;
  const retired = entries
    .filter((e) => e.retired !== undefined && Date.parse(e.retired) >= cutoff)
    .sort((a, b) => Date.parse(b.retired!) - Date.parse(a.retired!));
  return [current.secret, ...retired.map((e) => e.secret)];
}

/**
 * The SRS secrets to use: the current one first (it signs), then the retired ones still in
 * their grace period (they verify). Makes the file on first use.
 *
 * @throws {SrsSecretsError} when the file is damaged (it names the file).
 */
export async function loadSrsSecrets(dataDir: string, now = new Date()): Promise<string[]> {
  return usable(await readOrCreate(dataDir, now), now);
}

/**
 * Make a new current secret and retire the old one (it verifies for
 * {@linkcode SRS_SECRET_GRACE_DAYS} more days); secrets retired longer ago are dropped from
 * the file. A running server uses the new secret once it reads the file again (reload).
 *
 * @returns the usable secrets, as {@linkcode loadSrsSecrets} returns them.
 * @throws {SrsSecretsError} when the file is damaged.
 */
export async function rotateSrsSecret(dataDir: string, now = new Date()): Promise<string[]> {
  const old = await readOrCreate(dataDir, now);
  const cutoff = now.getTime() - SRS_SECRET_GRACE_DAYS * DAY_MS;
  const kept = old
    .map((e) => e.retired === undefined ? { ...e, retired: now.toISOString() } : e)
    .filter((e) => Date.parse(e.retired!) >= cutoff);
  const next = [newEntry(now), ...kept];
  const path = srsSecretsPath(dataDir);
  await writeDurably(path, format(next), 0o600);
  await syncDir(join(dataDir, "srs"));
  return usable(next, now);
}
