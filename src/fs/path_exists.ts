/**
 * Whether a path exists, telling "not there" from the errors that must not be mistaken for
 * it (permissions, I/O).
 *
 * @module
 */

/**
 * Whether `path` exists (a dangling symbolic link counts: it is not followed).
 *
 * @example
 * ```ts
 * if (!(await pathExists("/etc/postie/postie.yaml"))) console.log("no config yet");
 * ```
 * @throws for any error other than NotFound.
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
