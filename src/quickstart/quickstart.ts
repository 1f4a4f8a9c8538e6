/**
 * `postie quickstart ADDRESS`: from nothing to a server ready to start, for one person and one
 * domain. It writes the config (./quickstart_config.ts), creates the owner's account with a
 * random password shown once and its Maildir, the domain's DKIM keys and the ACME certificate
 * key, then prints every DNS record to publish, the mail client settings and the next steps.
 *
 * Run again, it changes nothing that exists (config, account, password, keys) and says what it
 * left alone; with an existing config, that file's settings are the ones used.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { type Config, loadConfig } from "../config/config.ts";
import { AccountError, AccountStore, parseAccountAddress } from "../accounts/store.ts";
import { randomPassword } from "../accounts/password.ts";
import { createMaildir, mailboxDir } from "../delivery/maildir.ts";
import { loadDomainKeys, loadOrCreateDomainKeys } from "../dkim/mod.ts";
import { dnsReport } from "../dnscheck/dns_report.ts";
import { syncDir } from "../fs/durable.ts";
import { pathExists } from "../fs/path_exists.ts";
import { writeNewFile } from "../fs/write_new_file.ts";
import { AddressSyntaxError, canonicalDomain } from "../smtp/address.ts";
import { ensureCertificateKey } from "../tls/cert_key.ts";
import { quickstartConfig } from "./quickstart_config.ts";

/** A quickstart that cannot go ahead; the message says why and what to do. */
export class QuickstartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuickstartError";
  }
}

/** Options of {@linkcode quickstart}. */
export interface QuickstartOptions {
  /** The server's name. @default "mail.<domain of the address>" */
  hostname?: string;
  /** The directory of `postie.yaml`. @default "/etc/postie" */
  dir?: string;
  /** The data directory written into a new config. @default "/var/lib/postie" */
  dataDir?: string;
  /** Where each line of output goes, as soon as it is known (the password is shown once). */
  print: (line: string) => void;
}

/** What {@linkcode quickstart} did. */
export interface QuickstartResult {
  configPath: string;
  /** What existed and was left alone ("config", "account", "mailbox", "dkim", "certificate key"). */
  leftAlone: string[];
  /** What was made now. */
  created: string[];
}

/**
 * Check the owner's address: a valid domain name with at least two labels, and a local part
 * an account may have (the rules of `postie user add`).
 *
 * @returns the canonical address and its parts.
 * @throws {QuickstartError} naming what is wrong.
 */
export function parseQuickstartAddress(
  address: string,
): { address: string; local: string; domain: string } {
  const at = address.lastIndexOf("@");
  if (at < 1) throw new QuickstartError(`Invalid address "${address}": expected local@domain`);
  let domain: string;
  try {
    domain = canonicalDomain(address.slice(at + 1));
  } catch (e) {
    if (!(e instanceof AddressSyntaxError)) throw e;
    throw new QuickstartError(`Invalid address "${address}": ${e.message}`);
  }
  if (!domain.includes(".")) {
    throw new QuickstartError(
      `Invalid address "${address}": "${domain}" is not a public domain name (it needs a dot, ` +
        `as in example.com); for a local test instance, run postie serve without a config`,
    );
  }
  try {
    const { local } = parseAccountAddress(`${address.slice(0, at)}@${domain}`, [domain]);
    return { address: `${local}@${domain}`, local, domain };
  } catch (e) {
    if (e instanceof AccountError) throw new QuickstartError(e.message);
    throw e;
  }
}

/** Write the config file durably; never replaces one. */
async function writeConfigFile(path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeNewFile(path, text, 0o644);
  await syncDir(dirname(path));
}

/** The config to use: the existing file, or a new one written now. */
async function configStep(
  owner: { address: string; domain: string },
  options: QuickstartOptions,
  result: QuickstartResult,
): Promise<Config> {
  const { print } = options;
  const path = result.configPath;
  if (await pathExists(path)) {
    const config = await loadConfig(path);
    if (!config.domains.includes(owner.domain)) {
      throw new QuickstartError(
        `${path} exists and its domains (${config.domains.join(", ")}) do not include ` +
          `"${owner.domain}": add it there, or give another --dir`,
      );
    }
    result.leftAlone.push("config");
    print(
      `Config:      left alone: ${path} exists (hostname ${config.hostname}, data in ` +
        `${config.dataDir}); its settings are used`,
    );
    return config;
  }
  let hostname = `mail.${owner.domain}`;
  if (options.hostname !== undefined) {
    try {
      hostname = canonicalDomain(options.hostname);
    } catch (e) {
      if (!(e instanceof AddressSyntaxError)) throw e;
      throw new QuickstartError(`Invalid --hostname "${options.hostname}": ${e.message}`);
    }
  }
  const dataDir = resolve(options.dataDir ?? "/var/lib/postie");
  await writeConfigFile(
    path,
    quickstartConfig({ ...owner, hostname, dataDir, configPath: path }),
  );
  // What was written must load: a mistake here is a bug, not the user's.
  const config = await loadConfig(path);
  result.created.push("config");
  print(`Config:      wrote ${path} (hostname ${hostname}, data in ${dataDir})`);
  return config;
}

async function accountStep(
  config: Config,
  owner: { address: string; local: string; domain: string },
  options: QuickstartOptions,
  result: QuickstartResult,
): Promise<void> {
  const { print } = options;
  const accounts = await AccountStore.open(config.dataDir);
  try {
    if (accounts.get(owner.address)) {
      result.leftAlone.push("account");
      print(`Account:     left alone: ${owner.address} exists (its password is unchanged)`);
    } else {
      const password = randomPassword();
      // The owner's account is an admin: it may use the whole admin page.
      await accounts.add(owner.local, owner.domain, password, { admin: true });
      result.created.push("account");
      print(`Account:     created ${owner.address} with the password: ${password}`);
      print(
        "             (shown only this once; change it with: postie user passwd " +
          `${owner.address} --config ${result.configPath})`,
      );
      print(
        "             an admin: it logs in to the admin page (listen.admin, through an SSH " +
          "tunnel)",
      );
    }
  } finally {
    accounts.close();
  }
  const box = mailboxDir(join(config.dataDir, "mail"), owner);
  if (await pathExists(join(box, "cur"))) {
    result.leftAlone.push("mailbox");
    print(`Mailbox:     left alone: ${box} exists`);
  } else {
    await createMaildir(box);
    result.created.push("mailbox");
    print(`Mailbox:     created ${box}`);
  }
}

async function keysStep(
  config: Config,
  domain: string,
  options: QuickstartOptions,
  result: QuickstartResult,
): Promise<void> {
  const { print } = options;
  const had = await loadDomainKeys(config.dataDir, domain);
  const keys = had.length > 0 ? had : await loadOrCreateDomainKeys(config.dataDir, domain);
  const selectors = keys.map((k) => k.selector).join(", ");
  if (had.length > 0) {
    result.leftAlone.push("dkim");
    print(`DKIM:        left alone: the keys of ${domain} exist (${selectors})`);
  } else {
    result.created.push("dkim");
    print(`DKIM:        created the keys of ${domain} (${selectors})`);
  }
  if (!config.acme) {
    print("TLS key:     not needed: acme is off in the config");
    return;
  }
  const key = await ensureCertificateKey(config.dataDir);
  if (key.created) {
    result.created.push("certificate key");
    print(`TLS key:     created ${key.path} (ECDSA P-256; the TLSA record below names it)`);
  } else {
    result.leftAlone.push("certificate key");
    print(`TLS key:     left alone: ${key.path} exists`);
  }
}

function clientSettings(config: Config, address: string): string[] {
  const host = config.hostname;
  const port = (list: readonly { port: number }[]) => list[0]?.port;
  const lines = ["Mail client settings:"];
  const imaps = port(config.listen.imaps), imap = port(config.listen.imap);
  if (imaps !== undefined) lines.push(`  IMAP:        ${host} port ${imaps}, TLS (SSL/TLS)`);
  else if (imap !== undefined) lines.push(`  IMAP:        ${host} port ${imap}, STARTTLS`);
  const subs = port(config.listen.submissions), sub = port(config.listen.submission);
  const smtp = [
    ...(subs !== undefined ? [`port ${subs}, TLS (SSL/TLS)`] : []),
    ...(sub !== undefined ? [`port ${sub}, STARTTLS`] : []),
  ];
  if (smtp.length > 0) lines.push(`  SMTP:        ${host} ${smtp.join("; or ")}`);
  lines.push(
    `  Username:    ${address}`,
    "  Password:    the account's password (normal password)",
  );
  return lines;
}

function nextSteps(config: Config, configPath: string): string[] {
  const data = config.dataDir;
  const host = config.hostname;
  const standard = configPath === "/etc/postie/postie.yaml" && data === "/var/lib/postie";
  return [
    "Next steps:",
    "  1. Publish the records above in your DNS zone, and also:",
    `     - A and AAAA records of ${host}: the server's public IPv4 and IPv6 addresses;`,
    `     - the PTR (reverse DNS) of each of those addresses: ${host}. Your VPS provider`,
    "       sets it (not your zone); receivers refuse mail when it does not match.",
    "  2. Let the postie user own its data:",
    `     useradd --system --home ${data} --shell /usr/sbin/nologin postie`,
    `     chown -R postie:postie ${data}`,
    `  3. postie check --config ${configPath}     (once the DNS records are published)`,
    "  4. cp systemd/postie.service /etc/systemd/system/ && systemctl daemon-reload" +
    (standard
      ? ""
      : `\n     (the unit uses /etc/postie/postie.yaml and /var/lib/postie: edit it to ` +
        `${configPath} and ${data})`),
    "  5. systemctl enable --now postie",
    "     It orders the certificate at start; postie check shows how that went.",
  ];
}

/**
 * Set up postie for `address` (see the module doc).
 *
 * @throws {QuickstartError} for a bad address or hostname, or an existing config that does
 * not serve the address's domain.
 * @throws {ConfigError} when an existing config is invalid.
 */
export async function quickstart(
  address: string,
  options: QuickstartOptions,
): Promise<QuickstartResult> {
  const owner = parseQuickstartAddress(address);
  const { print } = options;
  const result: QuickstartResult = {
    configPath: join(resolve(options.dir ?? "/etc/postie"), "postie.yaml"),
    leftAlone: [],
    created: [],
  };
  print(`postie quickstart for ${owner.address}`);
  print("");
  const config = await configStep(owner, options, result);
  await accountStep(config, owner, options, result);
  await keysStep(config, owner.domain, options, result);
  print("");
  print(
    result.created.length === 0
      ? "Nothing was changed: everything existed already and was left alone."
      : result.leftAlone.length > 0
      ? `Left alone (they existed): ${result.leftAlone.join(", ")}.`
      : "Everything was created now.",
  );
  print("");
  print("DNS records to publish (zone-file lines; postie dns prints them again):");
  print("");
  print(await dnsReport(config, [owner.domain]));
  print("");
  for (const line of clientSettings(config, owner.address)) print(line);
  print("");
  for (const line of nextSteps(config, result.configPath)) print(line);
  return result;
}
