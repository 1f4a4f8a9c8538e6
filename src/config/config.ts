/**
 * postie's configuration: the typed form the server uses, the embedded default that needs no
 * file, and the loader that validates a YAML file and names the key of every mistake.
 *
 * Every key is documented in `config.example.yaml`; a test keeps that file and {@link KNOWN_KEYS}
 * in step.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import { dirname, resolve } from "node:path";
import { isIP } from "node:net";
import { AddressSyntaxError, canonicalDomain, isDotString } from "../smtp/address.ts";

/** A socket address to listen on. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** The listener kinds (RFC 5321 MX service, RFC 6409 submission, RFC 8314 implicit TLS). */
export type ListenerKind = "smtp" | "submission" | "submissions";

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
  listen: Record<ListenerKind, ListenAddress[]>;
  tls: { certFile?: string; keyFile?: string };
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
  rateLimits: { messagesPerHour: number; recipientsPerDay: number };
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

/** A configuration mistake. The message names the key and the reason. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * The keys a config file may contain, as dotted paths; "*" stands for any map key. Used to
 * reject typos (an unknown key is an error, not silently ignored) and by the test that checks
 * `config.example.yaml` documents them all.
 */
export const KNOWN_KEYS: readonly string[] = [
  "hostname",
  "data_dir",
  "domains",
  "aliases",
  "listen",
  "listen.smtp",
  "listen.submission",
  "listen.submissions",
  "tls",
  "tls.cert_file",
  "tls.key_file",
  "limits",
  "limits.max_message_bytes",
  "limits.max_recipients",
  "limits.max_connections",
  "limits.max_connections_per_ip",
  "limits.max_errors",
  "limits.max_line_bytes",
  "timeouts",
  "timeouts.command_seconds",
  "timeouts.data_seconds",
  "timeouts.greeting_delay_ms",
  "timeouts.shutdown_seconds",
  "dns",
  "dns.nameservers",
  "dns.backend",
  "dns.timeout_ms",
  "dns.attempts",
  "dns.cache_size",
  "spf",
  "spf.reject_fail",
  "spf.temperror_defer",
  "authserv_id",
  "submission",
  "submission.allowed_senders",
  "submission.reveal_client_ip",
  "relay",
  "relay.trusted_networks",
  "auth",
  "auth.max_failures_per_ip",
  "auth.max_failures_per_account",
  "auth.failure_window_seconds",
  "auth.failure_delay_ms",
  "rate_limits",
  "rate_limits.messages_per_hour",
  "rate_limits.recipients_per_day",
  "queue",
  "queue.max_age",
  "queue.retry_initial",
  "queue.retry_max",
  "queue.delay_warning",
  "queue.concurrency",
  "queue.per_domain_concurrency",
  "outbound",
  "outbound.port",
  "outbound.source_ipv4",
  "outbound.source_ipv6",
  "outbound.require_tls",
  "outbound.smarthost",
  "outbound.smarthost.host",
  "outbound.smarthost.port",
  "outbound.smarthost.tls",
  "outbound.smarthost.username",
  "outbound.smarthost.password_file",
  "outbound.routes",
  "check",
  "check.dnsbl",
  "dmarc",
  "dmarc.mode",
  "dmarc.domains",
  "log",
  "log.level",
  "log.format",
];

const DEFAULT_LIMITS: Config["limits"] = {
  maxMessageBytes: 26_214_400,
  maxRecipients: 100,
  maxConnections: 1000,
  maxConnectionsPerIp: 20,
  maxErrors: 10,
  maxLineBytes: 2048,
};

const DEFAULT_TIMEOUTS: Config["timeouts"] = {
  // RFC 5321 §4.5.3.2.7: at least 5 minutes awaiting the next command.
  commandSeconds: 300,
  // RFC 5321 §4.5.3.2.5/6 give the client 3 minutes per data block and 10 for the end.
  dataSeconds: 600,
  greetingDelayMs: 0,
  shutdownSeconds: 30,
};

const DEFAULT_DNS: Config["dns"] = {
  nameservers: [],
  backend: "stub",
  timeoutMs: 2000,
  attempts: 2,
  cacheSize: 10000,
};

const DEFAULT_AUTH: Config["auth"] = {
  maxFailuresPerIp: 5,
  maxFailuresPerAccount: 10,
  failureWindowSeconds: 900,
  failureDelayMs: 1000,
};

// Enough for a person, far too little for a spam run: 1,007 mails in a day cannot happen.
const DEFAULT_RATE_LIMITS: Config["rateLimits"] = { messagesPerHour: 100, recipientsPerDay: 300 };

// The blocklists most receivers consult (the ones that listed the server in the story).
const DEFAULT_DNSBL = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"];

const HOUR_MS = 3600_000;
const DEFAULT_QUEUE: Config["queue"] = {
  maxAgeMs: 5 * 24 * HOUR_MS,
  retryInitialMs: 5 * 60_000,
  retryMaxMs: 4 * HOUR_MS,
  delayWarningMs: 4 * HOUR_MS,
  concurrency: 20,
  perDomainConcurrency: 20,
};

/** Parse a duration such as "90s", "5m", "4h", "5d" (or "0") into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: HOUR_MS, d: 24 * HOUR_MS }[m[2] ?? "s"]!;
  return Number(m[1]) * unit;
}

/**
 * The embedded default: a working local instance on unprivileged loopback ports, with data in
 * `./data`. `postie serve` uses it when no `--config` is given.
 */
export function embeddedDefault(): Config {
  return {
    source: "(embedded default)",
    hostname: "localhost",
    dataDir: resolve("data"),
    domains: ["localhost"],
    aliases: new Map(),
    listen: {
      smtp: [{ host: "127.0.0.1", port: 2525 }],
      submission: [{ host: "127.0.0.1", port: 5870 }],
      submissions: [{ host: "127.0.0.1", port: 4650 }],
    },
    tls: {},
    limits: { ...DEFAULT_LIMITS },
    timeouts: { ...DEFAULT_TIMEOUTS },
    dns: { ...DEFAULT_DNS },
    spf: { rejectFail: false, deferTemperror: false },
    authservId: "localhost",
    submission: { allowedSenders: new Map(), revealClientIp: false },
    relay: { trustedNetworks: [] },
    auth: { ...DEFAULT_AUTH },
    rateLimits: { ...DEFAULT_RATE_LIMITS },
    queue: { ...DEFAULT_QUEUE },
    outbound: { port: 25, requireTls: false, routes: new Map() },
    check: { dnsbl: [...DEFAULT_DNSBL] },
    dmarc: { mode: "enforce", domains: new Map() },
    log: { level: "info", format: "text" },
  };
}

type Obj = Record<string, unknown>;

function describe(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

class Reader {
  constructor(readonly source: string) {}

  fail(key: string, reason: string, value?: unknown): never {
    const current = arguments.length >= 3 ? `: current value is ${describe(value)}` : "";
    throw new ConfigError(`Cannot load config "${this.source}": "${key}" ${reason}${current}`);
  }

  section(obj: Obj, key: string, path: string): Obj {
    const v = obj[key];
    if (v === undefined || v === null) return {};
    if (typeof v !== "object" || Array.isArray(v)) this.fail(path, "must be a mapping", v);
    this.checkKeys(v as Obj, path);
    return v as Obj;
  }

  checkKeys(obj: Obj, prefix: string): void {
    for (const k of Object.keys(obj)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (!KNOWN_KEYS.includes(path) && !KNOWN_KEYS.includes(`${prefix}.*`)) {
        this.fail(path, "is not a known key (see config.example.yaml)");
      }
    }
  }

  string(obj: Obj, key: string, path: string, def?: string): string {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (def === undefined) this.fail(path, "is required");
      return def;
    }
    if (typeof v !== "string" || v.trim() === "") this.fail(path, "must be a non-empty string", v);
    return v;
  }

  duration(obj: Obj, key: string, path: string, def: number): number {
    const v = obj[key];
    if (v === undefined || v === null) return def;
    const ms = parseDuration(String(v));
    if (ms === undefined) this.fail(path, 'must be a duration like "90s", "5m", "4h" or "5d"', v);
    return ms;
  }

  relay(obj: Obj, path: string): Relay {
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      this.fail(path, "must be a mapping with host, port, tls", obj);
    }
    for (const k of Object.keys(obj)) {
      if (!["host", "port", "tls", "username", "password_file"].includes(k)) {
        this.fail(`${path}.${k}`, "is not a known key (see config.example.yaml)");
      }
    }
    const tls = this.string(obj, "tls", `${path}.tls`, "starttls");
    if (!["starttls", "implicit", "none"].includes(tls)) {
      this.fail(`${path}.tls`, "must be starttls, implicit or none", tls);
    }
    const relay: Relay = {
      host: this.string(obj, "host", `${path}.host`),
      port: this.int(obj, "port", `${path}.port`, tls === "implicit" ? 465 : 587, 1, 65535),
      tls: tls as Relay["tls"],
    };
    if (obj["username"] !== undefined) {
      relay.username = this.string(obj, "username", `${path}.username`);
      if (obj["password_file"] === undefined) {
        this.fail(`${path}.password_file`, "is required with username");
      }
    }
    if (obj["password_file"] !== undefined) {
      relay.passwordFile = this.string(obj, "password_file", `${path}.password_file`);
    }
    if (relay.username !== undefined && relay.tls === "none") {
      this.fail(`${path}.tls`, "must not be none when a password is sent", tls);
    }
    return relay;
  }

  bool(obj: Obj, key: string, path: string, def: boolean): boolean {
    const v = obj[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== "boolean") this.fail(path, "must be true or false", v);
    return v;
  }

  int(obj: Obj, key: string, path: string, def: number, min: number, max: number): number {
    const v = obj[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      this.fail(path, `must be an integer from ${min} to ${max}`, v);
    }
    return v;
  }

  stringList(obj: Obj, key: string, path: string, def?: string[]): string[] {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (def === undefined) this.fail(path, "is required");
      return def;
    }
    const list = typeof v === "string" ? [v] : v;
    if (!Array.isArray(list) || list.some((x) => typeof x !== "string")) {
      this.fail(path, "must be a string or a list of strings", v);
    }
    return list as string[];
  }

  domain(value: string, path: string): string {
    try {
      return canonicalDomain(value);
    } catch (e) {
      const why = e instanceof AddressSyntaxError ? e.message : String(e);
      this.fail(path, `must be a domain name (${why})`, value);
    }
  }

  address(value: string, path: string): { local: string; domain: string } {
    const at = value.lastIndexOf("@");
    if (at < 0) this.fail(path, "must be an address local@domain", value);
    const local = value.slice(0, at).toLowerCase();
    // Only plain dot-atoms without the characters old MTAs treated as routes.
    if (local !== "" && (!isDotString(local) || /[%!@"\\]/.test(local))) {
      this.fail(path, "must have a plain local part (no quotes, %, ! or @)", value);
    }
    return { local, domain: this.domain(value.slice(at + 1), path) };
  }

  listen(obj: Obj, key: string, path: string, def: ListenAddress[]): ListenAddress[] {
    if (obj[key] === undefined || obj[key] === null) return def;
    return this.stringList(obj, key, path).map((s, i) => {
      const a = parseHostPort(s);
      if (!a) this.fail(`${path}[${i}]`, 'must be "host:port" or "[ipv6]:port"', s);
      return a;
    });
  }
}

/** Parse "host:port", "[v6]:port". Returns undefined when malformed. */
export function parseHostPort(s: string, defaultPort?: number): ListenAddress | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(s) ?? /^([^:\[\]]+)(?::(\d+))?$/.exec(s);
  if (!m || !m[1]) return undefined;
  const portText = m[2];
  const port = portText === undefined ? defaultPort : Number(portText);
  if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: m[1], port };
}

/**
 * Validate a parsed YAML document into a {@link Config}.
 *
 * @param doc The parsed YAML.
 * @param source File name for error messages.
 * @param baseDir Relative paths in the file are taken relative to this directory.
 * @throws {ConfigError} naming the key and the reason.
 */
export function validateConfig(doc: unknown, source: string, baseDir: string): Config {
  const r: Reader = new Reader(source);
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    r.fail("(top level)", "must be a mapping of keys to values", doc);
  }
  const top = doc as Obj;
  r.checkKeys(top, "");
  const hostname = r.domain(r.string(top, "hostname", "hostname"), "hostname");
  const dataDir = resolve(baseDir, r.string(top, "data_dir", "data_dir", "/var/lib/postie"));
  const domains = r.stringList(top, "domains", "domains").map((d, i) =>
    r.domain(d, `domains[${i}]`)
  );
  if (domains.length === 0) r.fail("domains", "must list at least one domain", []);
  const local = new Set(domains);

  const aliases = new Map<string, string[]>();
  const aliasObj = top["aliases"];
  if (aliasObj !== undefined && aliasObj !== null) {
    if (typeof aliasObj !== "object" || Array.isArray(aliasObj)) {
      r.fail("aliases", "must be a mapping of address to address(es)", aliasObj);
    }
    for (const k of Object.keys(aliasObj as Obj)) {
      const path = `aliases.${k}`;
      const key = r.address(k, path);
      if (!local.has(key.domain)) r.fail(path, "must be in one of the local domains", k);
      const targets = r.stringList(aliasObj as Obj, k, path).map((t) => {
        const a = r.address(t, path);
        if (a.local === "") r.fail(path, "targets must be full addresses", t);
        if (!local.has(a.domain)) {
          r.fail(path, "targets must be local addresses (forwarding comes with outbound)", t);
        }
        return `${a.local}@${a.domain}`;
      });
      aliases.set(`${key.local}@${key.domain}`, targets);
    }
  }

  const listen = r.section(top, "listen", "listen");
  const tls = r.section(top, "tls", "tls");
  const limits = r.section(top, "limits", "limits");
  const timeouts = r.section(top, "timeouts", "timeouts");
  const dns = r.section(top, "dns", "dns");
  const log = r.section(top, "log", "log");
  const spf = r.section(top, "spf", "spf");
  const submission = r.section(top, "submission", "submission");
  const relay = r.section(top, "relay", "relay");
  const auth = r.section(top, "auth", "auth");
  const rate = r.section(top, "rate_limits", "rate_limits");
  const queue = r.section(top, "queue", "queue");
  const check = r.section(top, "check", "check");
  const dmarc = r.section(top, "dmarc", "dmarc");
  const dmarcMode = (v: string, path: string): DmarcMode => {
    if (!["enforce", "quarantine", "monitor"].includes(v)) {
      r.fail(path, "must be enforce, quarantine or monitor", v);
    }
    return v as DmarcMode;
  };
  const dmarcDomains = new Map<string, DmarcMode>();
  const dd = dmarc["domains"];
  if (dd !== undefined && dd !== null) {
    if (typeof dd !== "object" || Array.isArray(dd)) {
      r.fail("dmarc.domains", "must be a mapping of local domain to mode", dd);
    }
    for (const [d, v] of Object.entries(dd as Obj)) {
      const dom = r.domain(d, `dmarc.domains.${d}`);
      if (!domains.includes(dom)) r.fail(`dmarc.domains.${d}`, "must be a local domain", d);
      dmarcDomains.set(dom, dmarcMode(String(v), `dmarc.domains.${d}`));
    }
  }
  const outbound = r.section(top, "outbound", "outbound");
  const routes = new Map<string, Relay>();
  const routesObj = outbound["routes"];
  if (routesObj !== undefined && routesObj !== null) {
    if (typeof routesObj !== "object" || Array.isArray(routesObj)) {
      r.fail("outbound.routes", "must be a mapping of domain to relay", routesObj);
    }
    for (const [d, v] of Object.entries(routesObj as Obj)) {
      const relay = r.relay(v as Obj, `outbound.routes.${d}`);
      if (relay.passwordFile) relay.passwordFile = resolve(baseDir, relay.passwordFile);
      routes.set(r.domain(d, `outbound.routes.${d}`), relay);
    }
  }
  let smarthost: Relay | undefined;
  if (outbound["smarthost"] !== undefined && outbound["smarthost"] !== null) {
    smarthost = r.relay(outbound["smarthost"] as Obj, "outbound.smarthost");
    if (smarthost.passwordFile) smarthost.passwordFile = resolve(baseDir, smarthost.passwordFile);
  }
  const sourceIp = (key: string, family: 4 | 6): string | undefined => {
    if (outbound[key] === undefined) return undefined;
    const ip = r.string(outbound, key, `outbound.${key}`);
    if (isIP(ip) !== family) r.fail(`outbound.${key}`, `must be an IPv${family} address`, ip);
    return ip;
  };
  const allowedSenders = new Map<string, string[]>();
  const senderObj = submission["allowed_senders"];
  if (senderObj !== undefined && senderObj !== null) {
    if (typeof senderObj !== "object" || Array.isArray(senderObj)) {
      r.fail("submission.allowed_senders", "must be a mapping of account to addresses", senderObj);
    }
    for (const k of Object.keys(senderObj as Obj)) {
      const path = `submission.allowed_senders.${k}`;
      const acct = r.address(k, path);
      if (acct.local === "") r.fail(path, "must be an account address", k);
      const list = r.stringList(senderObj as Obj, k, path).map((v) => {
        const a = r.address(v, path);
        return a.local === "" ? `@${a.domain}` : `${a.local}@${a.domain}`;
      });
      allowedSenders.set(`${acct.local}@${acct.domain}`, list);
    }
  }
  const trustedNetworks = r.stringList(relay, "trusted_networks", "relay.trusted_networks", [])
    .map((cidr, i) => {
      const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(cidr);
      const ip = m?.[1] ?? "";
      const max = isIP(ip) === 6 ? 128 : 32;
      const bits = m?.[2] === undefined ? max : Number(m[2]);
      if (!m || !isIP(ip) || bits > max) {
        r.fail(`relay.trusted_networks[${i}]`, 'must be "ip" or "ip/bits"', cidr);
      }
      return { network: ip, bits };
    });
  const backend = r.string(dns, "backend", "dns.backend", "stub");
  if (backend !== "stub" && backend !== "deno") {
    r.fail("dns.backend", "must be stub or deno", backend);
  }

  const certFile = tls["cert_file"] === undefined
    ? undefined
    : resolve(baseDir, r.string(tls, "cert_file", "tls.cert_file"));
  const keyFile = tls["key_file"] === undefined
    ? undefined
    : resolve(baseDir, r.string(tls, "key_file", "tls.key_file"));
  if ((certFile === undefined) !== (keyFile === undefined)) {
    r.fail(
      certFile ? "tls.key_file" : "tls.cert_file",
      "is required when the other TLS file is set",
    );
  }

  const level = r.string(log, "level", "log.level", "info");
  if (!["debug", "info", "warning", "error"].includes(level)) {
    r.fail("log.level", "must be one of debug, info, warning, error", level);
  }
  const format = r.string(log, "format", "log.format", "text");
  if (!["text", "json"].includes(format)) r.fail("log.format", "must be text or json", format);

  const nameservers = r.stringList(dns, "nameservers", "dns.nameservers", []).map((s, i) => {
    const a = parseHostPort(s, 53);
    // A resolver must be reachable without DNS: IP literals only.
    if (!a || !isIP(a.host) || a.port === 0) {
      r.fail(`dns.nameservers[${i}]`, 'must be "ip", "ip:port" or "[ipv6]:port"', s);
    }
    return a;
  });

  const config: Config = {
    source,
    hostname,
    dataDir,
    domains,
    aliases,
    listen: {
      smtp: r.listen(listen, "smtp", "listen.smtp", [{ host: "0.0.0.0", port: 25 }, {
        host: "::",
        port: 25,
      }]),
      submission: r.listen(listen, "submission", "listen.submission", [{
        host: "0.0.0.0",
        port: 587,
      }]),
      submissions: r.listen(listen, "submissions", "listen.submissions", [{
        host: "0.0.0.0",
        port: 465,
      }]),
    },
    tls: {},
    limits: {
      maxMessageBytes: r.int(
        limits,
        "max_message_bytes",
        "limits.max_message_bytes",
        DEFAULT_LIMITS.maxMessageBytes,
        1024,
        1 << 30,
      ),
      maxRecipients: r.int(
        limits,
        "max_recipients",
        "limits.max_recipients",
        DEFAULT_LIMITS.maxRecipients,
        1,
        10000,
      ),
      maxConnections: r.int(
        limits,
        "max_connections",
        "limits.max_connections",
        DEFAULT_LIMITS.maxConnections,
        1,
        1_000_000,
      ),
      maxConnectionsPerIp: r.int(
        limits,
        "max_connections_per_ip",
        "limits.max_connections_per_ip",
        DEFAULT_LIMITS.maxConnectionsPerIp,
        1,
        1_000_000,
      ),
      maxErrors: r.int(
        limits,
        "max_errors",
        "limits.max_errors",
        DEFAULT_LIMITS.maxErrors,
        1,
        1000,
      ),
      maxLineBytes: r.int(
        limits,
        "max_line_bytes",
        "limits.max_line_bytes",
        DEFAULT_LIMITS.maxLineBytes,
        512,
        65536,
      ),
    },
    timeouts: {
      commandSeconds: r.int(
        timeouts,
        "command_seconds",
        "timeouts.command_seconds",
        DEFAULT_TIMEOUTS.commandSeconds,
        1,
        3600,
      ),
      dataSeconds: r.int(
        timeouts,
        "data_seconds",
        "timeouts.data_seconds",
        DEFAULT_TIMEOUTS.dataSeconds,
        1,
        3600,
      ),
      greetingDelayMs: r.int(
        timeouts,
        "greeting_delay_ms",
        "timeouts.greeting_delay_ms",
        DEFAULT_TIMEOUTS.greetingDelayMs,
        0,
        60000,
      ),
      shutdownSeconds: r.int(
        timeouts,
        "shutdown_seconds",
        "timeouts.shutdown_seconds",
        DEFAULT_TIMEOUTS.shutdownSeconds,
        0,
        3600,
      ),
    },
    dns: {
      nameservers,
      backend,
      timeoutMs: r.int(dns, "timeout_ms", "dns.timeout_ms", DEFAULT_DNS.timeoutMs, 50, 60000),
      attempts: r.int(dns, "attempts", "dns.attempts", DEFAULT_DNS.attempts, 1, 10),
      cacheSize: r.int(dns, "cache_size", "dns.cache_size", DEFAULT_DNS.cacheSize, 0, 10_000_000),
    },
    spf: {
      rejectFail: r.bool(spf, "reject_fail", "spf.reject_fail", false),
      deferTemperror: r.bool(spf, "temperror_defer", "spf.temperror_defer", false),
    },
    submission: {
      allowedSenders,
      revealClientIp: r.bool(
        submission,
        "reveal_client_ip",
        "submission.reveal_client_ip",
        false,
      ),
    },
    relay: { trustedNetworks },
    auth: {
      maxFailuresPerIp: r.int(
        auth,
        "max_failures_per_ip",
        "auth.max_failures_per_ip",
        DEFAULT_AUTH.maxFailuresPerIp,
        1,
        1000,
      ),
      maxFailuresPerAccount: r.int(
        auth,
        "max_failures_per_account",
        "auth.max_failures_per_account",
        DEFAULT_AUTH.maxFailuresPerAccount,
        1,
        1000,
      ),
      failureWindowSeconds: r.int(
        auth,
        "failure_window_seconds",
        "auth.failure_window_seconds",
        DEFAULT_AUTH.failureWindowSeconds,
        1,
        86400,
      ),
      failureDelayMs: r.int(
        auth,
        "failure_delay_ms",
        "auth.failure_delay_ms",
        DEFAULT_AUTH.failureDelayMs,
        0,
        60000,
      ),
    },
    rateLimits: {
      messagesPerHour: r.int(
        rate,
        "messages_per_hour",
        "rate_limits.messages_per_hour",
        DEFAULT_RATE_LIMITS.messagesPerHour,
        1,
        1_000_000,
      ),
      recipientsPerDay: r.int(
        rate,
        "recipients_per_day",
        "rate_limits.recipients_per_day",
        DEFAULT_RATE_LIMITS.recipientsPerDay,
        1,
        10_000_000,
      ),
    },
    queue: {
      maxAgeMs: r.duration(queue, "max_age", "queue.max_age", DEFAULT_QUEUE.maxAgeMs),
      retryInitialMs: r.duration(
        queue,
        "retry_initial",
        "queue.retry_initial",
        DEFAULT_QUEUE.retryInitialMs,
      ),
      retryMaxMs: r.duration(queue, "retry_max", "queue.retry_max", DEFAULT_QUEUE.retryMaxMs),
      delayWarningMs: r.duration(
        queue,
        "delay_warning",
        "queue.delay_warning",
        DEFAULT_QUEUE.delayWarningMs,
      ),
      concurrency: r.int(queue, "concurrency", "queue.concurrency", 20, 1, 1000),
      perDomainConcurrency: r.int(
        queue,
        "per_domain_concurrency",
        "queue.per_domain_concurrency",
        DEFAULT_QUEUE.perDomainConcurrency,
        1,
        100,
      ),
    },
    dmarc: {
      mode: dmarcMode(r.string(dmarc, "mode", "dmarc.mode", "enforce"), "dmarc.mode"),
      domains: dmarcDomains,
    },
    check: {
      dnsbl: r.stringList(check, "dnsbl", "check.dnsbl", DEFAULT_DNSBL).map((z, i) =>
        r.domain(z, `check.dnsbl[${i}]`)
      ),
    },
    outbound: {
      port: r.int(outbound, "port", "outbound.port", 25, 1, 65535),
      requireTls: r.bool(outbound, "require_tls", "outbound.require_tls", false),
      routes,
    },
    authservId: top["authserv_id"] === undefined
      ? hostname
      : r.domain(r.string(top, "authserv_id", "authserv_id"), "authserv_id"),
    log: { level: level as Config["log"]["level"], format: format as Config["log"]["format"] },
  };
  if (certFile !== undefined && keyFile !== undefined) config.tls = { certFile, keyFile };
  const v4 = sourceIp("source_ipv4", 4);
  const v6 = sourceIp("source_ipv6", 6);
  if (v4) config.outbound.sourceIpv4 = v4;
  if (v6) config.outbound.sourceIpv6 = v6;
  if (smarthost) config.outbound.smarthost = smarthost;
  return config;
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
