/**
 * postie's configuration: the typed form the server uses, the embedded default that needs no
 * file, and the loader that validates a YAML file against the schema (`schema.ts`, where every
 * key is listed with its type, default and doc) and names the key of every mistake.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import { dirname, resolve } from "node:path";
import { ConfigError, configError } from "./config_error.ts";
import { camelKeys, knownPaths, readSchema, type Values } from "./schema_reader.ts";
import { SCHEMA } from "./schema.ts";

/** A socket address to listen on. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** The listener kinds (RFC 5321 MX service, RFC 6409 submission, RFC 8314 implicit TLS). */
export type ListenerKind = "smtp" | "submission" | "submissions";

/** The IMAP listener kinds (STARTTLS on 143, implicit TLS on 993, RFC 8314 §3.3). */
export type ImapListenerKind = "imap" | "imaps";

/**
 * The HTTP listener kinds: plain (ACME http-01, autoconfig), HTTPS (tls-alpn-01, RFC 8737),
 * and the admin page (plain HTTP on loopback).
 */
export type HttpListenerKind = "http" | "https" | "admin";

/** ACME (RFC 8555): where and how postie gets its certificate. */
export interface AcmeConfig {
  directory: string;
  email?: string;
  challenge: "http-01" | "tls-alpn-01";
  /** Extra names; the hostname and the autoconfig names are added by the certificate manager. */
  names: string[];
  caFile?: string;
  /** External Account Binding (RFC 8555 §7.3.4). */
  eab?: { kid: string; hmacKeyFile: string };
  rotateKey: boolean;
}

/** The validated configuration. */
export interface Config {
  /** Where the config came from: a file path, or "(embedded default)". */
  source: string;
  hostname: string;
  dataDir: string;
  /** Canonical (lower-case, A-label) local domains. The first one is the primary domain. */
  domains: string[];
  /** Canonical alias address ("local@domain" or "@domain" for a catch-all) to targets. */
  aliases: Map<string, string[]>;
  listen: Record<ListenerKind | ImapListenerKind | HttpListenerKind, ListenAddress[]>;
  tls: { certFile?: string; keyFile?: string };
  /**
   * The admin web page: also on `listen.https` under `/admin/` when `public`; a login lasts
   * `sessionHours`.
   */
  admin: { public: boolean; sessionHours: number };
  /** Forwarding to external addresses (aliases with external targets, account forwards). */
  forwarding: { srs: boolean; maxPerHour: number };
  /** Present when `acme.enabled` is true. */
  acme?: AcmeConfig;
  limits: {
    maxMessageBytes: number;
    maxRecipients: number;
    maxConnections: number;
    maxConnectionsPerIp: number;
    maxErrors: number;
    maxLineBytes: number;
  };
  timeouts: {
    commandSeconds: number;
    dataSeconds: number;
    greetingDelayMs: number;
    shutdownSeconds: number;
  };
  /** IMAP (RFC 9051 / RFC 3501) for mail clients. */
  imap: {
    maxLineBytes: number;
    maxConnectionsPerAccount: number;
    maxConnectionsPerIp: number;
    autologoutSeconds: number;
    idleKeepaliveSeconds: number;
  };
  dns: {
    nameservers: ListenAddress[];
    backend: "stub" | "deno";
    timeoutMs: number;
    attempts: number;
    cacheSize: number;
  };
  spf: { rejectFail: boolean; deferTemperror: boolean };
  submission: {
    /** Canonical account address to extra addresses or "@domain" it may send as. */
    allowedSenders: Map<string, string[]>;
    /** Put the submitting client's IP and EHLO name in the Received header. */
    revealClientIp: boolean;
  };
  /** CIDR networks allowed to relay without authentication. Default: none. */
  relay: { trustedNetworks: { network: string; bits: number }[] };
  auth: {
    maxFailuresPerIp: number;
    maxFailuresPerAccount: number;
    failureWindowSeconds: number;
    failureDelayMs: number;
  };
  rateLimits: { messagesPerHour: number; recipientsPerDay: number; onLimit: "hold" | "defer" };
  /** Alerts to the owner (mail to `alerts.to`, at most once per `repeat` per alert). */
  alerts: {
    to: string;
    repeatMs: number;
    dnsblIntervalMs: number;
    queueSize: number;
    bounceShare: number;
    minFreeMb: number;
  };
  /** DMARC aggregate reports (RFC 7489 §7.2). */
  reports: { intervalMs: number; from: string; sendDmarc: boolean; address: string };
  queue: {
    /** Give up (and bounce) after this long, ms. */
    maxAgeMs: number;
    /** First retry delay, doubling per attempt up to retryMaxMs. */
    retryInitialMs: number;
    retryMaxMs: number;
    /** Warn the sender once a message waited this long (0: never). */
    delayWarningMs: number;
    concurrency: number;
    perDomainConcurrency: number;
  };
  /**
   * DMARC (RFC 7489) on inbound mail: how to apply the sender domain's policy, per local
   * (recipient) domain: "enforce" as published, "quarantine" (never refuse, Junk instead),
   * "monitor" (record only).
   */
  dmarc: { mode: DmarcMode; domains: Map<string, DmarcMode> };
  /** `postie check`: DNS blocklists (RFC 5782) to look our addresses up in. */
  check: { dnsbl: string[] };
  outbound: {
    port: number;
    sourceIpv4?: string;
    sourceIpv6?: string;
    /** Refuse to deliver without verified TLS (else opportunistic STARTTLS). */
    requireTls: boolean;
    smarthost?: Relay;
    /** Per destination domain (lower-case), a relay that overrides MX routing. */
    routes: Map<string, Relay>;
  };
  /** RFC 8601 authserv-id of our Authentication-Results header fields. */
  authservId: string;
  log: { level: "debug" | "info" | "warning" | "error"; format: "text" | "json" };
}

/** How a local domain applies DMARC policies of senders. */
export type DmarcMode = "enforce" | "quarantine" | "monitor";

/** A relay host for outbound mail (smarthost or per-domain route). */
export interface Relay {
  host: string;
  port: number;
  tls: "starttls" | "implicit" | "none";
  username?: string;
  passwordFile?: string;
}

/** The keys a config file may contain, as dotted paths (sections, keys, relay fields). */
export const KNOWN_KEYS: readonly string[] = knownPaths(SCHEMA);

/**
 * Validate a parsed YAML document into a {@link Config}.
 *
 * @param doc The parsed YAML.
 * @param source File name for error messages.
 * @param baseDir Relative paths in the file are taken relative to this directory.
 * @throws {ConfigError} naming the key and the reason.
 */
export function validateConfig(doc: unknown, source: string, baseDir: string): Config {
  const v = readSchema(SCHEMA, doc, source, baseDir);
  const { cert_file: certFile, key_file: keyFile } = v.tls;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile ? "tls.key_file" : "tls.cert_file";
    throw configError(source, missing, "is required when the other TLS file is set");
  }
  const acme = readAcme(v, source);
  if (v.admin.public && v.listen.https.length === 0) {
    throw configError(
      source,
      "admin.public",
      "needs listen.https (the page is served under /admin/ there)",
      true,
    );
  }
  const reportsAt = v.reports.address?.slice(v.reports.address.lastIndexOf("@") + 1);
  if (reportsAt !== undefined && !v.domains.includes(reportsAt)) {
    throw configError(
      source,
      "reports.address",
      "must be in one of the local domains (postie reads the reports there)",
      v.reports.address,
    );
  }
  return {
    source,
    hostname: v.hostname,
    dataDir: v.data_dir,
    domains: v.domains,
    aliases: v.aliases,
    listen: {
      ...v.listen,
      // The http-01 challenge comes to port 80 (RFC 8555 §8.3).
      http: v.listen.http ?? (acme?.challenge === "http-01" ? [{ host: "0.0.0.0", port: 80 }] : []),
    },
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : {},
    admin: { public: v.admin.public, sessionHours: v.admin.session_hours },
    forwarding: camelKeys(v.forwarding),
    ...(acme ? { acme } : {}),
    limits: camelKeys(v.limits),
    timeouts: camelKeys(v.timeouts),
    imap: camelKeys(v.imap),
    dns: camelKeys(v.dns),
    spf: { rejectFail: v.spf.reject_fail, deferTemperror: v.spf.temperror_defer },
    submission: camelKeys(v.submission),
    relay: camelKeys(v.relay),
    auth: camelKeys(v.auth),
    rateLimits: camelKeys(v.rate_limits),
    alerts: {
      to: v.alerts.to ?? `postmaster@${v.domains[0]}`,
      repeatMs: v.alerts.repeat,
      dnsblIntervalMs: v.alerts.dnsbl_interval,
      queueSize: v.alerts.queue_size,
      bounceShare: v.alerts.bounce_share,
      minFreeMb: v.alerts.min_free_mb,
    },
    reports: {
      intervalMs: v.reports.interval,
      from: v.reports.from ?? `dmarc-noreply@${v.domains[0]}`,
      sendDmarc: v.reports.send_dmarc,
      address: v.reports.address ?? `dmarc-reports@${v.domains[0]}`,
    },
    queue: {
      maxAgeMs: v.queue.max_age,
      retryInitialMs: v.queue.retry_initial,
      retryMaxMs: v.queue.retry_max,
      delayWarningMs: v.queue.delay_warning,
      concurrency: v.queue.concurrency,
      perDomainConcurrency: v.queue.per_domain_concurrency,
    },
    dmarc: camelKeys(v.dmarc),
    check: camelKeys(v.check),
    outbound: camelKeys(v.outbound),
    authservId: v.authserv_id ?? v.hostname,
    log: camelKeys(v.log),
  };
}

/** The `acme` section, checked against the listeners and the TLS files it depends on. */
function readAcme(v: Values<typeof SCHEMA>, source: string): AcmeConfig | undefined {
  const a = v.acme;
  const { kid, hmac_key_file: hmacKeyFile } = a.eab;
  if ((kid === undefined) !== (hmacKeyFile === undefined)) {
    const missing = kid === undefined ? "acme.eab.kid" : "acme.eab.hmac_key_file";
    throw configError(source, missing, "is required when the other EAB key is set");
  }
  if (!a.enabled) return undefined;
  if (v.tls.cert_file !== undefined) {
    throw configError(
      source,
      "acme.enabled",
      "cannot be true while tls.cert_file is set (choose one source of the certificate)",
    );
  }
  if (a.challenge === "http-01" && v.listen.http?.length === 0) {
    throw configError(source, "listen.http", "must not be empty when acme.challenge is http-01");
  }
  if (a.challenge === "tls-alpn-01" && v.listen.https.length === 0) {
    throw configError(
      source,
      "listen.https",
      "must not be empty when acme.challenge is tls-alpn-01",
    );
  }
  return {
    directory: a.directory,
    ...(a.email !== undefined ? { email: a.email } : {}),
    challenge: a.challenge,
    names: a.names,
    ...(a.ca_file !== undefined ? { caFile: a.ca_file } : {}),
    ...(kid !== undefined && hmacKeyFile !== undefined ? { eab: { kid, hmacKeyFile } } : {}),
    rotateKey: a.rotate_key,
  };
}

/** The embedded default, as the file it would be; every other key takes its default. */
const EMBEDDED_DOC = {
  hostname: "localhost",
  data_dir: "data",
  domains: ["localhost"],
  listen: {
    smtp: ["127.0.0.1:2525"],
    submission: ["127.0.0.1:5870"],
    submissions: ["127.0.0.1:4650"],
    imap: ["127.0.0.1:1430"],
    imaps: ["127.0.0.1:9930"],
  },
};

/**
 * The embedded default: a working local instance on unprivileged loopback ports, with data in
 * `./data`. `postie serve` uses it when no `--config` is given.
 */
export function embeddedDefault(): Config {
  return validateConfig(EMBEDDED_DOC, "(embedded default)", resolve());
}

/**
 * Read, parse and validate a YAML config file.
 *
 * @throws {ConfigError} when the file cannot be read, is not YAML, or is invalid.
 */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ConfigError(`Cannot load config "${path}": ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (e) {
    throw new ConfigError(`Cannot load config "${path}": invalid YAML: ${(e as Error).message}`);
  }
  return validateConfig(doc, path, dirname(resolve(path)));
}
