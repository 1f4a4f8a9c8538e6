/**
 * Haraka (npm "Haraka", pinned below) for the benchmark: installed once into
 * `$HOME/.cache/postie-bench/haraka-<version>/` with npm, a fresh instance per start made with
 * `haraka -i`, listening on one 127.0.0.1 port.
 *
 * Configuration, and why:
 *
 * - `nodes=0` in smtp.ini: one Node.js process, no cluster. postie is one process on one
 *   event loop; Haraka's cluster mode would give it every core (with smtp-source and the
 *   benchmark competing for the same two cores). Its default (`nodes` unset) is a cluster of
 *   one worker plus a master; 0 runs the server in the single process itself.
 * - plugins: only `bench_nodns` (answers the reverse lookup of the client itself and points
 *   Node's resolver at the benchmark's loopback DNS server), `rcpt_to.in_host_list` (accepts
 *   recipients of config/host_list: bench.test) and `queue/fsync_maildir` (durable Maildir
 *   delivery: write, fsync, rename into new/, fsync new/, then 250). The stock plugin list's
 *   `mail_from.is_resolvable` (DNS) and `queue/smtp_forward` are dropped; nothing else in the
 *   stock list is enabled.
 * - `public_ip=127.0.0.1` in smtp.ini: otherwise Haraka may ask a public STUN server for it.
 * - everything else (logging at INFO to stdout, which goes to a file; the inactivity timeout;
 *   message size limits; the Received header) is Haraka's default.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, run, runOk } from "../tests/interop/tools.ts";
import {
  type BenchServer,
  daemonParts,
  DOMAIN,
  spawnDaemon,
  type StartContext,
  stopDaemon,
  waitListening,
} from "./servers.ts";
import { mailboxCounter } from "./measure.ts";

/** The Haraka release the benchmark uses. */
export const HARAKA_VERSION = "3.3.4";

const PLUGINS = fileURLToPath(new URL("./haraka/", import.meta.url));

/** Where Haraka is installed: `$HOME/.cache/postie-bench/haraka-<version>`. */
export function harakaCacheDir(): string {
  const home = Deno.env.get("HOME") ?? "/tmp";
  return join(home, ".cache", "postie-bench", `haraka-${HARAKA_VERSION}`);
}

let installed: Promise<string> | undefined;

/**
 * The path of Haraka's `bin/haraka`, installing the package with npm first when it is not in
 * the cache. Rejects with a readable reason when it cannot be had.
 */
export function findHaraka(): Promise<string> {
  installed ??= (async () => {
    const dir = harakaCacheDir();
    const bin = join(dir, "node_modules", "Haraka", "bin", "haraka");
    const have = await Deno.stat(bin).then(() => true, () => false);
    if (have) return bin;
    const node = await run("node", { args: ["--version"] }).catch(() => null);
    if (!node || node.code !== 0) throw new Error("node is not installed (apt-get install nodejs)");
    await Deno.mkdir(dir, { recursive: true });
    const r = await run("npm", {
      args: ["install", "--prefix", dir, "--no-audit", "--no-fund", `Haraka@${HARAKA_VERSION}`],
      timeoutMs: 600_000,
    }).catch((e) => ({ code: -1, stdout: "", stderr: String(e) }));
    if (r.code !== 0) {
      throw new Error(`npm install Haraka@${HARAKA_VERSION} failed: ${r.stderr.slice(-500)}`);
    }
    if (!await Deno.stat(bin).then(() => true, () => false)) {
      throw new Error(`npm installed Haraka@${HARAKA_VERSION} but ${bin} is missing`);
    }
    return bin;
  })();
  installed.catch(() => installed = undefined);
  return installed;
}

/** Start a fresh single-process Haraka instance. */
export async function startHaraka(ctx: StartContext): Promise<BenchServer> {
  const bin = await findHaraka();
  const dir = await Deno.makeTempDir({ prefix: "postie-bench-haraka-" });
  try {
    await runOk("node", { args: [bin, "-i", dir], timeoutMs: 60_000 });
    const port = freePort();
    const maildir = join(dir, "maildir");
    const cfg = (name: string, text: string) => Deno.writeTextFile(join(dir, "config", name), text);
    await cfg(
      "smtp.ini",
      [
        "; written by postie's benchmark (bench/haraka.ts)",
        `listen=127.0.0.1:${port}`,
        "nodes=0",
        "public_ip=127.0.0.1",
        "",
      ].join("\n"),
    );
    await cfg("me", "mx.bench.test\n");
    await cfg("host_list", `${DOMAIN}\n`);
    await cfg(
      "plugins",
      ["bench_nodns", "rcpt_to.in_host_list", "queue/fsync_maildir", ""].join("\n"),
    );
    await cfg("fsync_maildir.ini", `[main]\nmaildir=${maildir}\n`);
    await cfg("bench_nodns.ini", `[main]\nnameserver=${ctx.dns.address}\n`);
    await Deno.mkdir(join(dir, "plugins", "queue"), { recursive: true });
    await Deno.copyFile(join(PLUGINS, "bench_nodns.js"), join(dir, "plugins", "bench_nodns.js"));
    await Deno.copyFile(
      join(PLUGINS, "fsync_maildir.js"),
      join(dir, "plugins", "queue", "fsync_maildir.js"),
    );
    const logFile = join(dir, "haraka.log");
    const d = spawnDaemon("node", [bin, "-c", dir], logFile, { cwd: dir });
    try {
      await waitListening(d, port, "haraka");
    } catch (e) {
      await stopDaemon(d);
      throw e;
    }
    const newDir = join(maildir, "new");
    return {
      name: "haraka",
      port,
      ...daemonParts(d, dir),
      ...mailboxCounter(newDir),
    };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}
