/**
 * A private Postfix (3.x, Debian's `postfix` package) for the interop tests: its own
 * config_directory, queue_directory, data_directory, log file and virtual Maildirs in one
 * temporary directory, one smtpd listener on a loopback port with STARTTLS, and no DNS.
 * The system Postfix (/etc/postfix, /var/spool/postfix) is neither used nor touched.
 *
 * Settings that are needed beyond the obvious ones, and why:
 *
 * - Postfix's master must start as root (it binds, then runs its daemons as `mail_owner`,
 *   which must not be root): the tests fail clearly when not run as root.
 * - `queue_directory` has to exist before `postfix start`: the postfix command chdir()s into
 *   it before anything else. It is created root-owned 0755; `postfix start` then runs
 *   `post-install create-missing`, which creates the queue subdirectories owned by `postfix`
 *   (and `postdrop` for maildrop/public) and the data_directory, as `postfix check` expects.
 *   No `set-permissions` is needed (and it would touch the system's program files).
 * - master.cf is written from scratch with the chroot column `n` everywhere: Debian's stock
 *   master.cf chroots most daemons into the queue directory, where the certificate, the
 *   Maildirs, the maps and the resolver files are not. `postlog` must be in it because
 *   `maillog_file` is set (`postfix start` refuses otherwise).
 * - `maillog_file` in the temporary directory also needs `maillog_file_prefixes` to name
 *   that directory (the default allows only /var and /dev/stdout).
 * - The virtual(8) agent never delivers as root (`virtual_minimum_uid`, default 100): mail is
 *   stored as `nobody`; the Maildir base is chowned to it and the temporary directory made
 *   world-traversable (0711) so that `nobody` can reach it.
 * - `mydestination =` (empty): a domain must not be both in mydestination and
 *   virtual_mailbox_domains, and there is no local delivery. `alias_maps =` and
 *   `local_recipient_maps =` drop Debian's defaults (hash:/etc/aliases and nis:mail.aliases,
 *   the passwd database), none of which belongs to this instance.
 * - `virtual_mailbox_maps = texthash:...`: read straight from the text file, so no postmap
 *   and no Berkeley DB file.
 * - No DNS: `myhostname` is set (else Postfix looks up the FQDN of the machine's name),
 *   `smtpd_peername_lookup = no` (no reverse lookup of the client: the log and Received
 *   header say `unknown[127.0.0.1]`), `smtp_dns_support_level = disabled` and
 *   `smtp_host_lookup = native` (no MX lookups), and the relay host is an address literal,
 *   `[127.0.0.1]:port`, so nothing is looked up at all. `inet_protocols = ipv4` and
 *   `inet_interfaces = 127.0.0.1` keep everything on IPv4 loopback.
 *
 * @module
 */

import { join } from "node:path";
import { currentUser, freePort, run, runOk, systemUser } from "../tools.ts";
import { canConnect, living, postfixProgram, processFamily, sleep } from "./processes.ts";

/** Options for {@link startPostfix}. */
export interface PostfixOptions {
  /** myhostname. Default "mx.pf.test". */
  hostname?: string;
  /** Virtual mailboxes (full addresses); their domains become virtual_mailbox_domains. */
  mailboxes?: string[];
  /** relayhost, e.g. "[127.0.0.1]:2525" (an address literal: no DNS). */
  relayhost?: string;
}

/** What {@link RunningPostfix.stop} found. */
export interface PostfixStopReport {
  /** Exit status of `postfix stop`. */
  code: number;
  /** The master and its processes seen before the stop. */
  processes: { pid: number; command: string }[];
  /** Exit status of `postfix status` after the stop: 1 means "not running". */
  statusAfter: number;
  /** Processes still alive after the stop (then killed with SIGKILL). Should be empty. */
  survivors: number[];
  /** Whether the listener still accepted connections after the stop. */
  listening: boolean;
  /** Whether the temporary directory is gone. */
  dirRemoved: boolean;
}

/** A running private Postfix. */
export interface RunningPostfix {
  /** The smtpd port on 127.0.0.1. */
  port: number;
  dir: string;
  configDir: string;
  masterPid: number;
  /** Full paths of the files in new/ of a virtual mailbox, sorted. */
  newMail(address: string): Promise<string[]>;
  /** The Postfix log so far. */
  log(): Promise<string>;
  /** The queue as `postqueue -j` reports it: one object per message. */
  queue(): Promise<Record<string, unknown>[]>;
  /** `postfix stop`, make sure no process survives, remove the directory. */
  stop(): Promise<PostfixStopReport>;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile) out.push(join(dir, e.name));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** Write the configuration of a private Postfix into a new temporary directory and start it. */
export async function startPostfix(opts: PostfixOptions = {}): Promise<RunningPostfix> {
  const postfix = await postfixProgram("postfix");
  const postqueue = await postfixProgram("postqueue");
  // Deno.uid() would need --allow-sys=uid; `id` does not.
  if ((await currentUser()).uid !== 0) {
    throw new Error(
      "interop: the Postfix tests must run as root: Postfix's master daemon only starts as " +
        "the super-user. These tests never skip.",
    );
  }
  const hostname = opts.hostname ?? "mx.pf.test";
  const mailboxes = opts.mailboxes ?? [];
  const domains = [...new Set(mailboxes.map((a) => a.split("@")[1]!))];
  const mailUser = await systemUser("nobody");
  const dir = await Deno.makeTempDir({ prefix: "postie-postfix-" });
  try {
    // nobody (virtual delivery) and postfix (daemons) must traverse it; nothing is listable.
    await Deno.chmod(dir, 0o711);
    const configDir = join(dir, "conf");
    const queueDir = join(dir, "queue");
    const vmail = join(dir, "vmail");
    const tls = join(dir, "tls");
    for (const d of [configDir, queueDir, vmail, tls]) await Deno.mkdir(d, { mode: 0o755 });
    await Deno.chown(vmail, mailUser.uid, mailUser.gid);

    await runOk("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/CN=${hostname}`,
        "-addext",
        `subjectAltName=DNS:${hostname}`,
        "-keyout",
        join(tls, "key.pem"),
        "-out",
        join(tls, "cert.pem"),
      ],
    });
    await Deno.chmod(join(tls, "key.pem"), 0o600);

    const vmailbox = join(configDir, "vmailbox");
    await Deno.writeTextFile(
      vmailbox,
      mailboxes.map((a) => {
        const [local, domain] = a.split("@") as [string, string];
        return `${a} ${domain}/${local}/\n`;
      }).join(""),
    );

    const port = freePort();
    const main = [
      "# Written by postie's interop tests; removed when the test ends.",
      "compatibility_level = 3.6",
      `queue_directory = ${queueDir}`,
      `data_directory = ${join(dir, "data")}`,
      `myhostname = ${hostname}`,
      `mydomain = ${hostname.split(".").slice(1).join(".")}`,
      "myorigin = $myhostname",
      "mydestination =",
      "inet_interfaces = 127.0.0.1",
      "inet_protocols = ipv4",
      "mynetworks = 127.0.0.0/8",
      "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
      "alias_maps =",
      "alias_database =",
      "local_recipient_maps =",
      "biff = no",
      "append_dot_mydomain = no",
      `virtual_mailbox_domains = ${domains.join(" ")}`,
      `virtual_mailbox_base = ${vmail}`,
      `virtual_mailbox_maps = texthash:${vmailbox}`,
      `virtual_uid_maps = static:${mailUser.uid}`,
      `virtual_gid_maps = static:${mailUser.gid}`,
      `relayhost = ${opts.relayhost ?? ""}`,
      // TLS: offered by smtpd, used when offered by the smtp client; both logged.
      "smtpd_tls_security_level = may",
      `smtpd_tls_cert_file = ${join(tls, "cert.pem")}`,
      `smtpd_tls_key_file = ${join(tls, "key.pem")}`,
      "smtpd_tls_received_header = yes",
      "smtpd_tls_loglevel = 1",
      "smtp_tls_security_level = may",
      "smtp_tls_loglevel = 1",
      // No DNS, anywhere.
      "smtpd_peername_lookup = no",
      "smtp_dns_support_level = disabled",
      "smtp_host_lookup = native",
      "smtp_address_preference = ipv4",
      // Quick retries, short timeouts.
      "queue_run_delay = 1s",
      "minimal_backoff_time = 1s",
      "maximal_backoff_time = 2s",
      "smtp_connect_timeout = 5s",
      "delay_warning_time = 0",
      `maillog_file = ${join(dir, "maillog")}`,
      `maillog_file_prefixes = ${dir}`,
      "",
    ];
    await Deno.writeTextFile(join(configDir, "main.cf"), main.join("\n"));
    // service type private unpriv chroot wakeup maxproc command
    const master = [
      `127.0.0.1:${port} inet n - n - - smtpd`,
      "cleanup unix n - n - 0 cleanup",
      "qmgr unix n - n 300 1 qmgr",
      "tlsmgr unix - - n 1000? 1 tlsmgr",
      "rewrite unix - - n - - trivial-rewrite",
      "bounce unix - - n - 0 bounce",
      "defer unix - - n - 0 bounce",
      "trace unix - - n - 0 bounce",
      "verify unix - - n - 1 verify",
      "flush unix n - n 1000? 0 flush",
      "proxymap unix - - n - - proxymap",
      "smtp unix - - n - - smtp",
      "relay unix - - n - - smtp",
      "showq unix n - n - - showq",
      "error unix - - n - - error",
      "retry unix - - n - - error",
      "discard unix - - n - - discard",
      "virtual unix - n n - - virtual",
      "anvil unix - - n - 1 anvil",
      "scache unix - - n - 1 scache",
      "postlog unix-dgram n - n - 1 postlogd",
      "",
    ];
    await Deno.writeTextFile(join(configDir, "master.cf"), master.join("\n"));
    return await launch({ postfix, postqueue, dir, configDir, vmail, port });
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

interface Paths {
  postfix: string;
  postqueue: string;
  dir: string;
  configDir: string;
  vmail: string;
  port: number;
}

async function launch(p: Paths): Promise<RunningPostfix> {
  const logFile = join(p.dir, "maillog");
  const log = () => Deno.readTextFile(logFile).catch(() => "");
  const ctl = (cmd: string) =>
    run(p.postfix, { args: ["-c", p.configDir, cmd], timeoutMs: 20_000 });

  // `postfix start` checks the instance (creating the queue directories) and returns once
  // the master daemon (`master -w`) has initialized and opened the listener.
  const started = await ctl("start");
  const pidFile = join(p.dir, "queue", "pid", "master.pid");
  const masterPid = Number((await Deno.readTextFile(pidFile).catch(() => "")).trim());
  let stopped: Promise<PostfixStopReport> | null = null;
  const stop = (): Promise<PostfixStopReport> => {
    stopped ??= (async () => {
      const processes = masterPid > 0
        ? (await processFamily(masterPid)).map((r) => ({ pid: r.pid, command: r.command }))
        : [];
      const res = await ctl("stop");
      const statusAfter = (await ctl("status")).code;
      let survivors: number[] = [];
      let listening = false;
      try {
        const deadline = Date.now() + 5000;
        for (;;) {
          survivors = await living(processes.map((r) => r.pid));
          if (survivors.length === 0 || Date.now() > deadline) break;
          await sleep(50);
        }
        for (const pid of survivors) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch {
            // gone meanwhile
          }
        }
        listening = await canConnect(p.port);
      } finally {
        await Deno.remove(p.dir, { recursive: true }).catch(() => {});
      }
      const dirRemoved = await Deno.stat(p.dir).then(() => false, () => true);
      return { code: res.code, processes, statusAfter, survivors, listening, dirRemoved };
    })();
    return stopped;
  };

  if (started.code !== 0 || !(masterPid > 0)) {
    const text = `postfix start exited with ${started.code}\n${started.stdout}\n` +
      `${started.stderr}\n${await log()}`;
    await stop();
    throw new Error(text);
  }
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(p.port))) {
    if (Date.now() > deadline) {
      const text = `postfix did not listen on 127.0.0.1:${p.port}\n${await log()}`;
      await stop();
      throw new Error(text);
    }
    await sleep(50);
  }

  return {
    port: p.port,
    dir: p.dir,
    configDir: p.configDir,
    masterPid,
    async newMail(address) {
      const [local, domain] = address.split("@") as [string, string];
      return await listFiles(join(p.vmail, domain, local, "new"));
    },
    log,
    async queue() {
      const out = await runOk(p.postqueue, { args: ["-c", p.configDir, "-j"] });
      return out.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
    },
    stop,
  };
}
