/**
 * Helpers for the delivery unit tests: directory listings. Test-only; private to
 * src/delivery.
 *
 * @module
 */

/** The names in `dir`, sorted; none when it does not exist. */
export async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}
