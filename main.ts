/**
 * postie command line: `postie serve`, `postie config check`, `postie user ...`, `postie alias
 * ...`, `postie queue ...` and the rest. What `user`, `alias` and `queue` do is in src/admin/
 * (the same actions the admin page calls); this file parses the arguments and prints.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Config, embeddedDefault, loadConfig } from "./src/config/config.ts";
import { ConfigError } from "./src/config/config_error.ts";
import { formatHostPort, parseHostPort } from "./src/config/value_types.ts";
import { AccountError, AccountStore } from "./src/accounts/store.ts";
import { flushLogs, log, setupLogging } from "./src/log/logger.ts";
import { SmtpServer } from "./src/server/server.ts";
import { VERSION } from "./src/version.ts";
import { formatQueueList } from "./src/queue/format_queue_list.ts";
import { QueueStore } from "./src/queue/store.ts";
import { formatReport } from "./src/relaycheck/format_report.ts";
import { runRelayCheck } from "./src/relaycheck/relay_check.ts";
import { keygenSelector, rotateDomainKeys } from "./src/dkim/mod.ts";
import { dnsReport } from "./src/dnscheck/dns_report.ts";
import { formatCheck } from "./src/dnscheck/check.ts";
import { ourAddresses } from "./src/dnscheck/records.ts";
import { checkServer, countProblems } from "./src/dnscheck/check_server.ts";
import { makeResolver } from "./src/dns/make.ts";
import { quickstart, QuickstartError } from "./src/quickstart/quickstart.ts";
import { join } from "node:path";
import { requestAndAwaitRenewal } from "./src/tls/cert_renew_command.ts";
import {
  rotateSrsSecret,
  SRS_SECRET_GRACE_DAYS,
  SrsSecretsError,
  srsSecretsPath,
} from "./src/forward/srs_secrets.ts";
import { ActionError } from "./src/admin/action_error.ts";
import {
  type AccountContext,
  addAccount,
  deleteAccount,
  listAccounts,
  MIN_PASSWORD_LENGTH,
  resetPassword,
  setAccountAdmin,
  setAccountLocked,
} from "./src/admin/account_actions.ts";
import { clearForward, setForward } from "./src/admin/forward_actions.ts";
import { addAlias, deleteAlias, listAliases } from "./src/admin/alias_actions.ts";
import {
  bounceMessage,
  deleteMessage,
  holdMessage,
  releaseMessage,
  retryMessage,
  showMessage,
} from "./src/admin/queue_actions.ts";
import { ReportStore } from "./src/reports/report_store.ts";
import { formatReportSummary } from "./src/reports/format_report_summary.ts";

const HELP = `postie ${VERSION}: a mail server that is never an open relay

Usage:
  postie serve [--config FILE]            run the server (no --config: local test instance)
  postie quickstart ADDRESS [--hostname H] [--dir D] [--data-dir P]
                                          set up a server for ADDRESS: config (D/postie.yaml,
                                          default /etc/postie), account, keys, DNS records
  postie config check --config FILE       validate a config file and exit
  postie user add ADDRESS [--admin] [--password-stdin] [--config FILE]
  postie user passwd ADDRESS [--password-stdin] [--config FILE]
  postie user del ADDRESS [--config FILE]
  postie user list [--config FILE]        accounts, marked (admin) and (locked)
  postie user lock|unlock ADDRESS [--config FILE]
                                          a locked account cannot log in
  postie user admin ADDRESS on|off [--config FILE]
                                          an admin account may use the whole admin page
  postie user forward ADDRESS TARGET [--keep-copy] [--config FILE]
  postie user forward ADDRESS --off [--config FILE]
                                          forward an account's mail elsewhere (with SRS)
  postie alias add ADDRESS TARGET... [--config FILE]
  postie alias del ADDRESS [--config FILE]
  postie alias list [--config FILE]       aliases besides the config's (ADDRESS may be
                                          @domain, a catch-all); the server uses them at once
  postie queue list|show ID|flush [ID]|delete ID|bounce ID [--config FILE]
  postie queue hold ID | release ID | release --account ADDRESS [--config FILE]
                                          held mail is not delivered until released
                                          the outbound queue (works while the server runs:
                                          it picks up changes within a second)
  postie dns [DOMAIN] [--config FILE]     the DNS records to publish, with explanations
  postie check [DOMAIN] [--config FILE]   check the live DNS (MX, SPF, DKIM, DMARC, PTR, DNSBL)
                                          and the certificate (names, expiry, ACME errors)
  postie cert renew [--config FILE]       order a new ACME certificate now (the running server
                                          does it; this waits for the outcome)
  postie dkim keygen DOMAIN [--selector S] [--config FILE]
                                          add DKIM keys (rotation: new keys sign from now on)
  postie srs rotate [--config FILE]       new secret for forwarded senders (SRS); the old one
                                          still verifies for 30 days
  postie reports dmarc [--domain D] [--since DATE] [--config FILE]
                                          DMARC reports received: per reporter and source IP,
                                          DKIM/SPF/DMARC passes; "!" marks failing IPs not ours
  postie relay-check HOST:PORT --to ADDRESS [--domain D] [--local ADDRESS]
                                          try every open-relay trick against your server
  postie --help | --version

Without --password-stdin, "user add" and "user passwd" generate a random password and print
it once. Without --config, commands use the embedded default (domain "localhost", data in
./data).`;

/** Write a line to standard output (the CLI's own output, not a log line). */
function say(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}

function fail(text: string, code = 1): never {
  flushLogs();
  Deno.stderr.writeSync(new TextEncoder().encode(`postie: ${text}\n`));
  Deno.exit(code);
}

async function readPasswordFromStdin(): Promise<string> {
  const text = new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer());
  const pw = text.split(/\r?\n/)[0] ?? "";
  if (pw.length < MIN_PASSWORD_LENGTH) {
    fail(`password from stdin must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  return pw;
}

async function getConfig(path: string | undefined): Promise<Config> {
  return path === undefined ? embeddedDefault() : await loadConfig(path);
}

async function ensurePostmaster(config: Config, accounts: AccountStore): Promise<void> {
  // The embedded default ships with one account so that it works at once.
  if (config.source !== embeddedDefault().source || accounts.list().length > 0) return;
  // An admin, so that the admin page (listen.admin) can be used at once too.
  const { password } = await addAccount({ config, accounts }, "postmaster@localhost", {
    admin: true,
  });
  say(`Created account postmaster@localhost with password: ${password}`);
  say("(shown only this once; change it with: postie user passwd postmaster@localhost)");
  const page = config.listen.admin[0];
  if (page) say(`It is an admin: the admin page is at http://${formatHostPort(page)}/`);
}

async function serve(configPath: string | undefined): Promise<void> {
  const config = await getConfig(configPath);
  setupLogging(config.log);
  const l = log("main");
  {
    const accounts = await AccountStore.open(config.dataDir);
    await ensurePostmaster(config, accounts);
    accounts.close();
  }
  const server = await SmtpServer.start(config);
  l.info("postie {version} started with config {source}; mail is stored in {maildir}", {
    event: "start",
    version: VERSION,
    source: config.source,
    maildir: join(config.dataDir, "mail"),
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    l.info("received {signal}; stopping", { event: "stop", signal });
    await server.stop();
    l.info("stopped", { event: "stopped" });
    flushLogs();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGHUP", async () => {
    if (configPath === undefined) {
      l.info("SIGHUP: running on the embedded default, nothing to reload", { event: "reload" });
      return;
    }
    try {
      const next = await loadConfig(configPath);
      setupLogging(next.log);
      await server.reload(next);
    } catch (e) {
      l.error("reload failed, keeping the old configuration: {error}", {
        event: "reload_failed",
        error: (e as Error).message,
      });
    }
  });
}

/** `postie user ...`: the account actions of src/admin/account_actions.ts. */
async function user(sub: string | undefined, rest: string[], values: Flags): Promise<void> {
  const config = await getConfig(values.config);
  const accounts = await AccountStore.open(config.dataDir);
  const ctx: AccountContext = { config, accounts };
  try {
    switch (sub) {
      case "add":
      case "passwd": {
        const addr = rest[0] ?? fail(`usage: postie user ${sub} ADDRESS`);
        const given = values["password-stdin"] ? await readPasswordFromStdin() : undefined;
        const password = given !== undefined ? { password: given } : {};
        if (sub === "add") {
          const r = await addAccount(ctx, addr, { ...password, admin: values.admin === true });
          say(`Added ${r.account.address}${r.account.admin ? " (admin)" : ""}`);
          if (r.password) say(`Password: ${r.password}`);
        } else {
          const r = await resetPassword(ctx, addr, given);
          say(`Password changed for ${addr.toLowerCase()}`);
          if (r.password) say(`Password: ${r.password}`);
        }
        return;
      }
      case "del": {
        const addr = (rest[0] ?? fail("usage: postie user del ADDRESS")).toLowerCase();
        deleteAccount(ctx, addr);
        say(`Deleted ${addr} (its mailbox stays on disk)`);
        return;
      }
      case "list":
        for (const a of listAccounts(ctx)) {
          const marks = [a.admin ? "admin" : "", a.locked ? "locked" : ""].filter((m) => m);
          const f = a.forward;
          say(
            a.address + (marks.length > 0 ? ` (${marks.join(", ")})` : "") +
              (f ? ` -> ${f.target}${f.keepCopy ? " (keeps a copy)" : ""}` : ""),
          );
        }
        return;
      case "lock":
      case "unlock": {
        const addr = (rest[0] ?? fail(`usage: postie user ${sub} ADDRESS`, 2)).toLowerCase();
        setAccountLocked(ctx, addr, sub === "lock");
        say(
          sub === "lock"
            ? `Locked ${addr}: it cannot log in (SMTP AUTH, IMAP) until postie user unlock; ` +
              "change its password too (postie user passwd)"
            : `Unlocked ${addr}`,
        );
        return;
      }
      case "admin": {
        const usage = "usage: postie user admin ADDRESS on|off";
        const addr = (rest[0] ?? fail(usage, 2)).toLowerCase();
        const on = rest[1] === "on";
        if ((!on && rest[1] !== "off") || rest.length > 2) fail(usage, 2);
        setAccountAdmin(ctx, addr, on);
        say(
          on
            ? `${addr} is an admin: it may use the whole admin page`
            : `${addr} is no admin: on the admin page it sees its own account only`,
        );
        return;
      }
      case "forward": {
        const usage = "usage: postie user forward ADDRESS TARGET [--keep-copy] | ADDRESS --off";
        const addr = (rest[0] ?? fail(usage, 2)).toLowerCase();
        if (values.off) {
          if (rest[1]) fail(usage, 2);
          say(
            clearForward(ctx, addr)
              ? `${addr} no longer forwards; its mail stays in its mailbox`
              : `${addr} did not forward`,
          );
          return;
        }
        const keepCopy = values["keep-copy"] === true;
        let fwd: { target: string };
        try {
          fwd = setForward(ctx, addr, rest[1] ?? fail(usage, 2), keepCopy);
        } catch (e) {
          // A bad target is a usage mistake (exit 2); a missing account is not.
          if (e instanceof ActionError && e.kind === "invalid") fail(e.message, 2);
          throw e;
        }
        say(
          `${addr} forwards to ${fwd.target}` +
            (keepCopy ? " and keeps a copy" : " (no copy kept; --keep-copy keeps one)"),
        );
        if (!config.forwarding.srs) {
          say("forwarding.srs is off: the target will see SPF fail for most senders");
        }
        return;
      }
      default:
        fail(`unknown command "user ${sub ?? ""}"; see postie --help`, 2);
    }
  } finally {
    accounts.close();
  }
}

/** `postie alias ...`: the alias actions of src/admin/alias_actions.ts. */
async function alias(sub: string | undefined, rest: string[], values: Flags): Promise<void> {
  const config = await getConfig(values.config);
  const accounts = await AccountStore.open(config.dataDir);
  const ctx: AccountContext = { config, accounts };
  try {
    switch (sub) {
      case "add": {
        const [addr, ...targets] = rest;
        if (!addr || targets.length === 0) fail("usage: postie alias add ADDRESS TARGET...", 2);
        const a = addAlias(ctx, addr, targets);
        say(`Added alias ${a.address} -> ${a.targets.join(", ")}`);
        return;
      }
      case "del": {
        if (!rest[0] || rest.length > 1) fail("usage: postie alias del ADDRESS", 2);
        deleteAlias(ctx, rest[0]);
        say(`Deleted alias ${rest[0].toLowerCase()}`);
        return;
      }
      case "list": {
        const all = listAliases(ctx);
        if (all.length === 0) say("no aliases");
        for (const a of all) {
          const where = a.source === "config" ? `in ${config.source}` : "added";
          say(`${a.address} -> ${a.targets.join(", ")} (${where})`);
        }
        return;
      }
      default:
        fail("usage: postie alias add ADDRESS TARGET...|del ADDRESS|list", 2);
    }
  } finally {
    accounts.close();
  }
}

// postie dns / postie check for one domain or all local domains.
async function dnsCommand(cmd: "dns" | "check", domain: string | undefined, values: Flags) {
  const config = await getConfig(values.config);
  const domains = domain ? [domain.toLowerCase()] : config.domains;
  for (const d of domains) {
    if (!config.domains.includes(d)) fail(`"${d}" is not a local domain`);
  }
  if (cmd === "dns") {
    say(await dnsReport(config, domains));
    say("");
    return;
  }
  const check = await checkServer(config, domains, await makeResolver(config.dns));
  for (const { domain: d, items } of check.domains) {
    say(`${d}:`);
    say(formatCheck(items));
  }
  say(`certificate of ${config.hostname}:`);
  say(formatCheck(check.certificate));
  const bad = countProblems(check);
  if (bad > 0) {
    say(`${bad} problem(s) found`);
    Deno.exit(1);
  }
}

/** `postie queue ...`: the queue actions of src/admin/queue_actions.ts. */
async function queue(sub: string | undefined, rest: string[], values: Flags): Promise<void> {
  const config = await getConfig(values.config);
  const q = await QueueStore.open(config.dataDir);
  try {
    const id = rest[0];
    const need = (what: string): string => id ?? fail(`usage: postie queue ${what} ID`, 2);
    switch (sub) {
      case "list":
        return say(formatQueueList(q.list()));
      case "show": {
        const { message } = await showMessage(q, need("show"));
        say(formatQueueList([message]));
        say("");
        say(await Deno.readTextFile(q.bodyPath(message.id)));
        return;
      }
      case "flush": {
        const n = id ? retryMessage(q, id) : q.flush();
        return say(`${n} recipient(s) due for delivery now`);
      }
      case "delete":
        await deleteMessage(q, need("delete"));
        return say(`Deleted ${id} (no bounce was sent)`);
      case "bounce": {
        const n = bounceMessage(q, need("bounce"));
        return say(`${n} recipient(s) of ${id} failed; the sender gets a bounce`);
      }
      case "hold": {
        const n = holdMessage(q, need("hold"));
        return say(n > 0 ? `Held ${id}: it is not delivered until released` : `${id} was held`);
      }
      case "release": {
        const n = values.account
          ? q.release({ account: values.account.toLowerCase() })
          : releaseMessage(q, need("release"));
        return say(`Released ${n} message(s); they are due for delivery now`);
      }
      default:
        fail(
          "usage: postie queue list|show ID|flush [ID]|delete ID|bounce ID|hold ID|" +
            "release ID|release --account ADDRESS",
          2,
        );
    }
  } finally {
    q.close();
  }
}

/** `--since`: a date (2026-01-31, or an ISO time) or a number of days back (`7d`). */
function parseSince(text: string): Date | undefined {
  const days = /^(\d{1,5})d$/.exec(text);
  if (days) return new Date(Date.now() - Number(days[1]) * 86_400_000);
  if (!/^\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

async function reportsCommand(sub: string | undefined, rest: string[], values: Flags) {
  const usage = "usage: postie reports dmarc [--domain D] [--since DATE] [--config FILE]";
  if (sub !== "dmarc" || rest.length > 0) fail(usage, 2);
  const since = values.since === undefined ? undefined : parseSince(values.since);
  if (values.since !== undefined && !since) {
    fail(`--since: "${values.since}" is neither a date (2026-01-31) nor days back (7d)`, 2);
  }
  const config = await getConfig(values.config);
  const store = await ReportStore.open(config.dataDir);
  try {
    const summary = store.summary({
      ...(values.domain !== undefined ? { domain: values.domain } : {}),
      ...(since ? { since } : {}),
    });
    say(formatReportSummary(summary, ourAddresses(config)));
  } finally {
    store.close();
  }
}

interface Flags {
  config?: string;
  to?: string;
  domain?: string;
  since?: string;
  local?: string;
  selector?: string;
  hostname?: string;
  dir?: string;
  "data-dir"?: string;
  "password-stdin"?: boolean;
  admin?: boolean;
  "keep-copy"?: boolean;
  account?: string;
  off?: boolean;
  help?: boolean;
  version?: boolean;
}

async function main(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        "password-stdin": { type: "boolean" },
        admin: { type: "boolean" },
        "keep-copy": { type: "boolean" },
        account: { type: "string" },
        off: { type: "boolean" },
        to: { type: "string" },
        domain: { type: "string" },
        since: { type: "string" },
        local: { type: "string" },
        selector: { type: "string" },
        hostname: { type: "string" },
        dir: { type: "string" },
        "data-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
    });
  } catch (e) {
    fail(`${(e as Error).message}; see postie --help`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) return say(HELP);
  if (values.version) return say(`postie ${VERSION}`);
  const [cmd, sub, ...rest] = positionals;
  try {
    switch (cmd) {
      case "serve":
        return await serve(values.config);
      case "config":
        if (sub !== "check" || !values.config) fail("usage: postie config check --config FILE", 2);
        {
          const c = await loadConfig(values.config);
          say(`${values.config}: OK (hostname ${c.hostname}, domains ${c.domains.join(", ")})`);
        }
        return;
      case "quickstart": {
        if (!sub || rest.length > 0) {
          fail("usage: postie quickstart ADDRESS [--hostname H] [--dir D] [--data-dir P]", 2);
        }
        await quickstart(sub, {
          ...(values.hostname !== undefined ? { hostname: values.hostname } : {}),
          ...(values.dir !== undefined ? { dir: values.dir } : {}),
          ...(values["data-dir"] !== undefined ? { dataDir: values["data-dir"] } : {}),
          print: say,
        }).catch((e) => e instanceof QuickstartError ? fail(e.message) : Promise.reject(e));
        return;
      }
      case "user":
        return await user(sub, rest, values);
      case "alias":
        return await alias(sub, rest, values);
      case "queue":
        return await queue(sub, rest, values);
      case "dns":
      case "check":
        return await dnsCommand(cmd, sub, values);
      case "cert": {
        if (sub !== "renew") fail("usage: postie cert renew [--config FILE]", 2);
        const config = await getConfig(values.config);
        say(`Asked the server to renew the certificate of ${config.hostname}...`);
        const r = await requestAndAwaitRenewal(config, 300_000);
        if (!r.ok) fail(`cert renew: ${r.reason}`);
        say(`Renewed at ${r.at}; every TLS listener serves the new certificate.`);
        return;
      }
      case "dkim": {
        if (sub !== "keygen" || !rest[0]) {
          fail("usage: postie dkim keygen DOMAIN [--selector S] [--config FILE]", 2);
        }
        const config = await getConfig(values.config);
        const domain = rest[0].toLowerCase();
        if (!config.domains.includes(domain)) fail(`"${domain}" is not a local domain`);
        const keys = values.selector
          ? await keygenSelector(config.dataDir, domain, values.selector)
          : await rotateDomainKeys(config.dataDir, domain);
        say(`DKIM keys of ${domain}: ${keys.map((k) => k.selector).join(", ")}`);
        say(
          "Publish the new records (postie dns), then restart or reload postie to sign with them.",
        );
        return;
      }
      case "srs": {
        if (sub !== "rotate" || rest.length > 0) {
          fail("usage: postie srs rotate [--config FILE]", 2);
        }
        const config = await getConfig(values.config);
        await rotateSrsSecret(config.dataDir).catch((e) =>
          e instanceof SrsSecretsError ? fail(e.message) : Promise.reject(e)
        );
        say(`New SRS secret in ${srsSecretsPath(config.dataDir)}; it signs from now on.`);
        say(
          `The old secret still verifies for ${SRS_SECRET_GRACE_DAYS} days, so bounces to ` +
            "addresses rewritten before now still reach their senders.",
        );
        say("A running server reads the file again on reload (SIGHUP) or restart.");
        return;
      }
      case "reports":
        return await reportsCommand(sub, rest, values);
      case "relay-check": {
        // Unauthenticated probes toward an external address; never sends DATA.
        const target = sub ? parseHostPort(sub, 25) : undefined;
        if (!target || !values.to) {
          fail(
            "usage: postie relay-check HOST:PORT --to ADDRESS [--domain D] [--local ADDRESS]",
            2,
          );
        }
        const report = await runRelayCheck({
          host: target.host,
          port: target.port,
          to: values.to,
          ...(values.domain ? { domain: values.domain } : {}),
          ...(values.local ? { local: values.local } : {}),
        }).catch((e) => fail(`relay-check: ${(e as Error).message}`, 2));
        say(formatReport(report));
        if (!report.ok) Deno.exit(1);
        return;
      }
      case undefined:
        return say(HELP);
      default:
        fail(`unknown command "${cmd}"; see postie --help`, 2);
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof AccountError || e instanceof ActionError) {
      fail(e.message);
    }
    throw e;
  }
}

if (import.meta.main) await main(Deno.args);
