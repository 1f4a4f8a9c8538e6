/**
 * A private Dovecot 2.3 IMAP server for the interop tests: its own config, run and state
 * directories in a temporary directory, one IMAP listener on a loopback port, reading the
 * Maildirs that postie writes.
 *
 * Settings that are needed beyond the obvious ones, and why:
 *
 * - Dovecot never lets an IMAP process access mail as root: a userdb uid of 0 fails with
 *   "userdb returned 0 as uid", and `mail_uid = 0` with "Mail access not allowed for root"
 *   (hard-coded in lib-storage, `first_valid_uid = 0` does not help). So when the tests run as
 *   root, mail is accessed as `nobody`, the mailbox tree is chowned to it, and the private data
 *   directory above it is made traversable (o+x). As non-root, mail is accessed as the current
 *   user and nothing is changed.
 * - As root the auth process normally runs as `dovecot`, which cannot read the passwd-file in
 *   the private (0700) temporary directory: `service auth { user = root }`.
 * - As non-root nothing can change users or chroot: `default_login_user`,
 *   `default_internal_user` and `default_internal_group` are the current user and group
 *   (sockets are otherwise chowned to group `dovecot` and startup fails), and the login and
 *   anvil processes get `chroot =`.
 * - `imaps` gets `port = 0` (no listener) and `ssl = no`, unless a certificate is given (the
 *   benchmark); `listen = 127.0.0.1` keeps everything on loopback.
 * - The master resolves its own host name with gethostbyname (the system resolver) unless
 *   DOVECOT_HOSTDOMAIN is set, both before and after it re-executes itself with a cleaned
 *   environment: the variable is set on the child and kept by `import_environment`.
 *
 * @module
 */

import { join } from "node:path";
import { currentUser, freePort, missingTool, runOk, systemUser } from "./tools.ts";

/** Options for {@link startDovecot}. */
export interface DovecotOptions {
  /** Maildir root: a user's Maildir is `<mailRoot>/<domain>/<local>`. */
  mailRoot: string;
  /** Accounts (full address) and their plain-text passwords. */
  users: Record<string, string>;
  /** Private directories above mailRoot that the mail user must be able to traverse. */
  traverseDirs?: string[];
  /**
   * Also an implicit-TLS (imaps) listener on its own loopback port with this certificate and
   * key (PEM files; the benchmark gives postie and Dovecot the same one). Without it
   * `ssl = no` and there is no imaps listener.
   */
  tls?: { certFile: string; keyFile: string };
  /**
   * IMAP connections of one user from one IP that must fit at once (the benchmark's idle
   * connections); raises `mail_max_userip_connections` (10) and the process and client limits
   * (one imap process, and with TLS one imap-login process, per connection). Default: Dovecot's.
   */
  connections?: number;
  /**
   * Store the passwords hashed with this Dovecot scheme (`doveadm pw -s`, e.g. ARGON2ID, as
   * costly as postie's scrypt) instead of in plain text.
   */
  passwordScheme?: string;
}

/** What {@link RunningDovecot.stop} found. */
export interface DovecotStopReport {
  /** Exit status of the master process. */
  code: number;
  /** Child processes of the master seen before the stop. */
  children: number[];
  /** Children still alive after the stop (then killed with SIGKILL). Should be empty. */
  survivors: number[];
  /** Whether the temporary directory is gone. */
  dirRemoved: boolean;
}

/** A running private Dovecot. */
export interface RunningDovecot {
  port: number;
  /** The imaps listener's port when {@link DovecotOptions.tls} was given. */
  tlsPort?: number;
  dir: string;
  pid: number;
  /** The Dovecot log so far. */
  log(): Promise<string>;
  /** SIGTERM the master, reap it, make sure no child survives, remove the directory. */
  stop(): Promise<DovecotStopReport>;
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await Deno.chown(path, uid, gid);
  for await (const e of Deno.readDir(path)) {
    const p = join(path, e.name);
    if (e.isDirectory) await chownTree(p, uid, gid);
    else await Deno.chown(p, uid, gid);
  }
}

/** pid -> [parent pid, state] of every process, from `ps` (Deno only reads /proc with -A). */
async function processTable(): Promise<Map<number, { ppid: number; state: string }>> {
  const out = await runOk("ps", { args: ["-e", "-o", "pid=,ppid=,stat="] });
  const table = new Map<number, { ppid: number; state: string }>();
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 3) table.set(Number(f[0]), { ppid: Number(f[1]), state: f[2]! });
  }
  return table;
}

/** All descendants of `root`. */
async function descendants(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of await processTable()) {
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    for (const c of children.get(todo.pop()!) ?? []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

/** Those of `pids` still alive; a zombie holds nothing and only waits for its reaper. */
async function living(pids: number[]): Promise<number[]> {
  const table = await processTable();
  return pids.filter((p) => {
    const st = table.get(p);
    return st !== undefined && !st.state.startsWith("Z");
  });
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Write a config for a private Dovecot and start `dovecot -F` with it. */
export async function startDovecot(opts: DovecotOptions): Promise<RunningDovecot> {
  const me = await currentUser();
  const root = me.uid === 0;
  const mailUser = root ? await systemUser("nobody") : { uid: me.uid, gid: me.gid };
  if (root) {
    await chownTree(opts.mailRoot, mailUser.uid, mailUser.gid);
    for (const d of opts.traverseDirs ?? []) {
      const st = await Deno.stat(d);
      await Deno.chmod(d, (st.mode ?? 0o700) & 0o7777 | 0o001);
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "postie-dovecot-" });
  try {
    const port = freePort();
    const tlsPort = opts.tls ? freePort() : undefined;
    const passwd = join(dir, "passwd");
    const lines: string[] = [];
    for (const [u, p] of Object.entries(opts.users)) {
      const hash = opts.passwordScheme
        ? (await runOk("doveadm", { args: ["pw", "-s", opts.passwordScheme, "-p", p] })).trim()
        : `{PLAIN}${p}`;
      lines.push(`${u}:${hash}\n`);
    }
    await Deno.writeTextFile(passwd, lines.join(""), { mode: 0o600 });
    const conf = join(dir, "dovecot.conf");
    const limit = opts.connections !== undefined ? opts.connections + 100 : undefined;
    const identity = root
      ? [
        // The defaults (dovenull for login, dovecot for internal services) stay.
        "service auth {",
        "  user = root",
        "}",
      ]
      : [
        `default_login_user = ${me.user}`,
        `default_internal_user = ${me.user}`,
        `default_internal_group = ${me.group}`,
        "service anvil {",
        "  chroot =",
        "}",
      ];
    await Deno.writeTextFile(
      conf,
      [
        "# Written by postie's interop tests; removed when the test ends.",
        "protocols = imap",
        "listen = 127.0.0.1",
        `base_dir = ${join(dir, "run")}`,
        `state_dir = ${join(dir, "state")}`,
        `log_path = ${join(dir, "dovecot.log")}`,
        ...(opts.tls
          ? ["ssl = yes", `ssl_cert = <${opts.tls.certFile}`, `ssl_key = <${opts.tls.keyFile}`]
          : ["ssl = no"]),
        "disable_plaintext_auth = no",
        "auth_mechanisms = plain",
        "first_valid_uid = 0",
        "first_valid_gid = 0",
        "import_environment = TZ DOVECOT_HOSTDOMAIN",
        `mail_location = maildir:${opts.mailRoot}/%d/%n`,
        "passdb {",
        "  driver = passwd-file",
        `  args = scheme=PLAIN username_format=%u ${passwd}`,
        "}",
        "userdb {",
        "  driver = static",
        `  args = uid=${mailUser.uid} gid=${mailUser.gid} home=${opts.mailRoot}/%d/%n`,
        "}",
        "service imap-login {",
        ...(root ? [] : ["  chroot ="]),
        "  inet_listener imap {",
        "    address = 127.0.0.1",
        `    port = ${port}`,
        "  }",
        "  inet_listener imaps {",
        ...(tlsPort !== undefined
          ? ["    address = 127.0.0.1", `    port = ${tlsPort}`, "    ssl = yes"]
          : ["    port = 0"]),
        "  }",
        ...(limit !== undefined ? [`  process_limit = ${limit}`] : []),
        "}",
        ...(limit !== undefined
          ? [
            `default_process_limit = ${limit}`,
            `default_client_limit = ${2 * limit}`,
            `mail_max_userip_connections = ${limit}`,
            "service imap {",
            `  process_limit = ${limit}`,
            "}",
          ]
          : []),
        ...identity,
        "",
      ].join("\n"),
    );
    return { ...await launch(dir, conf, port), tlsPort };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

async function launch(dir: string, conf: string, port: number): Promise<RunningDovecot> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("dovecot", {
      args: ["-F", "-c", conf],
      // Keeps Dovecot from looking up its host name in the system resolver (see module doc).
      env: { DOVECOT_HOSTDOMAIN: "imap.example.test" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw missingTool("dovecot");
    throw e;
  }
  let output = "";
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) output += dec.decode(c, { stream: true });
  };
  const readers = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited: Deno.CommandStatus | null = null;
  const status = child.status.then((s) => exited = s);
  const logFile = join(dir, "dovecot.log");
  const log = () => Deno.readTextFile(logFile).catch(() => "");

  let stopped: Promise<DovecotStopReport> | null = null;
  const stop = (): Promise<DovecotStopReport> => {
    stopped ??= (async () => {
      // Listed before the master goes, while they are still its children.
      let children: number[] = [];
      let listError: unknown = null;
      try {
        children = await descendants(child.pid);
      } catch (e) {
        listError = e;
      }
      const signal = (sig: Deno.Signal) => {
        try {
          child.kill(sig);
        } catch {
          // exited meanwhile
        }
      };
      if (exited === null) signal("SIGTERM");
      const hard = setTimeout(() => signal("SIGKILL"), 10_000);
      const s = await status;
      clearTimeout(hard);
      await readers.catch(() => {});
      let survivors: number[] = [];
      try {
        const deadline = Date.now() + 5000;
        while (listError === null) {
          survivors = await living(children);
          if (survivors.length === 0 || Date.now() > deadline) break;
          await sleep(50);
        }
        for (const p of survivors) {
          try {
            Deno.kill(p, "SIGKILL");
          } catch {
            // gone meanwhile
          }
        }
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
      if (listError !== null) throw listError;
      const dirRemoved = await Deno.stat(dir).then(() => false, () => true);
      return { code: s.code, children, survivors, dirRemoved };
    })();
    return stopped;
  };

  // Ready once the IMAP port accepts connections; fail early if dovecot exits.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited !== null) {
      await readers.catch(() => {});
      const text = `dovecot exited with ${
        (exited as Deno.CommandStatus).code
      } at startup\n${output}\n${await log()}`;
      await stop();
      throw new Error(text);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      const text = `dovecot did not listen on 127.0.0.1:${port}\n${output}\n${await log()}`;
      await stop();
      throw new Error(text);
    }
    await sleep(50);
  }
  return { port, dir, pid: child.pid, log, stop };
}
