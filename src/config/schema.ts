/**
 * The configuration schema: every key of the config file, in the order of
 * `config.example.yaml`, with its type (and so its limits), its default (written as it would
 * be in the file) and its one line of doc. The loader reads files against it, unknown keys
 * are found with it, and the README's configuration reference is generated from it
 * (`deno task config:doc`); tests keep that table and `config.example.yaml` in step with it.
 *
 * A new key is one entry here (plus its field in the `Config` interface and its commented
 * line in `config.example.yaml`).
 *
 * @module
 */

import { optional, required, type Section, withDefault } from "./schema_reader.ts";
import {
  bool,
  cidrList,
  contactAddress,
  domainList,
  domainName,
  duration,
  filePath,
  httpsUrl,
  int,
  ipAddress,
  listenList,
  loopbackListenList,
  nameserverList,
  oneOf,
  text,
} from "./value_types.ts";
import {
  allowedSenders,
  dmarcDomains,
  dmarcMode,
  localAliases,
  relayHost,
  relayRoutes,
} from "./mapping_types.ts";

/** Every key of the config file. */
export const SCHEMA = {
  hostname: required(
    domainName,
    "name in the greeting, EHLO and Received headers; must match your PTR",
  ),
  data_dir: withDefault(filePath, "/var/lib/postie", "Maildirs (`mail/`), `accounts.db`, `tls/`"),
  domains: required(domainList(1), "mail is accepted for these domains only; the first is primary"),
  aliases: withDefault(
    localAliases,
    {},
    '`address: target` or `[targets]`; `"@domain"` is a catch-all; external targets forward',
  ),
  listen: {
    smtp: withDefault(
      listenList,
      ["0.0.0.0:25", "[::]:25"],
      "MX service, receives mail for local domains (RFC 5321)",
    ),
    submission: withDefault(
      listenList,
      ["0.0.0.0:587"],
      "submission with STARTTLS, AUTH required (RFC 6409)",
    ),
    submissions: withDefault(
      listenList,
      ["0.0.0.0:465"],
      "submission over implicit TLS (RFC 8314)",
    ),
    imap: withDefault(
      listenList,
      ["0.0.0.0:143", "[::]:143"],
      "IMAP for mail clients, login only after STARTTLS (RFC 9051, RFC 3501)",
    ),
    imaps: withDefault(
      listenList,
      ["0.0.0.0:993", "[::]:993"],
      "IMAP over implicit TLS (RFC 8314)",
    ),
    http: optional(
      listenList,
      "plain HTTP: ACME http-01 answers, client autoconfig; other paths redirect to HTTPS",
      '`["0.0.0.0:80"]` when `acme` uses http-01, else none',
    ),
    https: withDefault(
      listenList,
      [],
      "HTTPS with the mail certificate: ACME tls-alpn-01 (RFC 8737), client autoconfig",
    ),
    admin: withDefault(
      loopbackListenList,
      ["127.0.0.1:8080"],
      "admin web page and `/metrics`, plain HTTP, loopback only (reach it by SSH tunnel)",
    ),
  },
  // The admin web page: login with an account that has the admin flag.
  admin: {
    public: withDefault(
      bool,
      false,
      "also serve the admin page under `/admin/` on `listen.https` (login over TLS)",
    ),
    session_hours: withDefault(int(1, 720), 12, "how long a login to the admin page lasts"),
  },
  tls: {
    cert_file: optional(
      filePath,
      "PEM certificate chain (with `tls.key_file`)",
      "self-signed in `data_dir/tls`",
    ),
    key_file: optional(
      filePath,
      "PEM private key (with `tls.cert_file`)",
      "self-signed in `data_dir/tls`",
    ),
  },
  forwarding: {
    srs: withDefault(
      bool,
      true,
      "rewrite the envelope sender of forwarded mail (SRS) so that SPF passes at the target",
    ),
    max_per_hour: withDefault(
      int(1, 1_000_000),
      200,
      "messages forwarded to one target address per rolling hour (`451 4.7.1` beyond)",
    ),
  },
  // RFC 8555: a trusted certificate by itself, renewed before it expires.
  acme: {
    enabled: withDefault(bool, false, "get and renew the certificate from an ACME CA (RFC 8555)"),
    directory: withDefault(
      httpsUrl,
      "https://acme-v02.api.letsencrypt.org/directory",
      "the CA's directory URL (Let's Encrypt; staging: `https://acme-staging-v02.api.letsencrypt.org/directory`)",
    ),
    email: optional(contactAddress, "contact address the CA writes to about expiry", "none"),
    challenge: withDefault(
      oneOf(["http-01", "tls-alpn-01"]),
      "http-01",
      "`http-01` (port 80, `listen.http`) or `tls-alpn-01` (port 443, `listen.https`)",
    ),
    names: withDefault(
      domainList(),
      [],
      "extra names on the certificate (the hostname and `autoconfig.<domain>` come by themselves)",
    ),
    ca_file: optional(
      filePath,
      "extra CA (PEM) to trust for the directory's own HTTPS (private CAs, tests)",
      "system roots",
    ),
    eab: {
      kid: optional(text, "External Account Binding key id, for CAs that require it", "none"),
      hmac_key_file: optional(
        filePath,
        "file holding the EAB HMAC key (base64url), with `acme.eab.kid`",
        "none",
      ),
    },
    rotate_key: withDefault(
      bool,
      false,
      "a new private key at each renewal (changes the `TLSA 3 1 1` record)",
    ),
  },
  limits: {
    max_message_bytes: withDefault(int(1024, 1 << 30), 26_214_400, "SIZE limit (RFC 1870)"),
    max_recipients: withDefault(int(1, 10000), 100, "recipients per message (`452 4.5.3` beyond)"),
    max_connections: withDefault(int(1, 1_000_000), 1000, "total connections (`421 4.7.0` beyond)"),
    max_connections_per_ip: withDefault(
      int(1, 1_000_000),
      20,
      "connections from one IP (`421 4.7.0` beyond)",
    ),
    max_errors: withDefault(
      int(1, 1000),
      10,
      "5xx replies per session before `421 4.7.0` and close",
    ),
    // RFC 5321 §4.5.3.1.4: a command line of at least 512 octets.
    max_line_bytes: withDefault(int(512, 65536), 2048, "longest command line (`500 5.5.2` beyond)"),
  },
  timeouts: {
    // RFC 5321 §4.5.3.2.7: at least 5 minutes awaiting the next command.
    command_seconds: withDefault(
      int(1, 3600),
      300,
      "idle time before `421 4.4.2` (RFC 5321 §4.5.3.2.7)",
    ),
    // RFC 5321 §4.5.3.2.5 and §4.5.3.2.6 give the client 3 minutes per data block and 10 for
    // the end.
    data_seconds: withDefault(int(1, 3600), 600, "stall time inside DATA/BDAT before `421 4.4.2`"),
    greeting_delay_ms: withDefault(
      int(0, 60000),
      0,
      "pause before the greeting; clients that talk first get `554`",
    ),
    shutdown_seconds: withDefault(
      int(0, 3600),
      30,
      "how long messages in flight may take on SIGTERM",
    ),
  },
  imap: {
    max_line_bytes: withDefault(
      int(1000, 1 << 20),
      65536,
      "longest command line outside literals (`BAD` beyond; RFC 7162 §4 asks for 8192)",
    ),
    max_connections_per_account: withDefault(
      int(1, 10000),
      20,
      "IMAP sessions logged in as one account at once (`NO [LIMIT]` beyond)",
    ),
    max_connections_per_ip: withDefault(
      int(1, 1_000_000),
      50,
      "IMAP connections from one IP (`* BYE` beyond); clients open several each",
    ),
    // RFC 9051 §5.4: the autologout timer is at least 30 minutes.
    autologout_seconds: withDefault(
      int(1, 86400),
      1800,
      "idle time before `* BYE` (RFC 9051 §5.4: at least 30 minutes)",
    ),
    idle_keepalive_seconds: withDefault(
      int(1, 3600),
      120,
      "`* OK Still here` during IDLE this often (keeps NAT entries alive)",
    ),
  },
  dns: {
    nameservers: withDefault(
      nameserverList,
      [],
      "DNS servers, `ip[:port]` or `[ipv6]:port`",
      "`/etc/resolv.conf`",
    ),
    backend: withDefault(
      oneOf(["stub", "deno"]),
      "stub",
      "`stub` (own resolver) or `deno` (`Deno.resolveDns`, which cannot tell SERVFAIL from NXDOMAIN)",
    ),
    timeout_ms: withDefault(int(50, 60000), 2000, "wait for one answer"),
    attempts: withDefault(int(1, 10), 2, "rounds over all nameservers before a temporary failure"),
    cache_size: withDefault(
      int(0, 10_000_000),
      10000,
      "cached answers (by TTL; failures never cached); 0 turns it off",
    ),
  },
  spf: {
    reject_fail: withDefault(
      bool,
      false,
      "refuse MAIL FROM identities that get SPF `fail` (`550 5.7.23`)",
    ),
    temperror_defer: withDefault(bool, false, "answer `451 4.4.3` when SPF gives `temperror`"),
  },
  authserv_id: optional(
    domainName,
    "our name in `Authentication-Results` (RFC 8601)",
    "the hostname",
  ),
  log: {
    level: withDefault(
      oneOf(["debug", "info", "warning", "error"]),
      "info",
      "`debug`, `info`, `warning`, `error`",
    ),
    format: withDefault(oneOf(["text", "json"]), "text", "`text` (logfmt) or `json` (JSON lines)"),
  },
  submission: {
    allowed_senders: withDefault(
      allowedSenders,
      {},
      "extra addresses or `@domain` an account may send as",
    ),
    reveal_client_ip: withDefault(bool, false, "put the submitting client's IP in `Received`"),
  },
  relay: {
    trusted_networks: withDefault(
      cidrList,
      [],
      "networks that may relay without AUTH (each is an open relay for that network)",
    ),
  },
  auth: {
    max_failures_per_ip: withDefault(
      int(1, 1000),
      5,
      "failed AUTH per IP in the window before `454 4.7.0`",
    ),
    max_failures_per_account: withDefault(
      int(1, 1000),
      10,
      "failed AUTH per account in the window",
    ),
    failure_window_seconds: withDefault(int(1, 86400), 900, "the window"),
    failure_delay_ms: withDefault(
      int(0, 60000),
      1000,
      "delay before answering a failure, doubling per failure (up to 16x)",
    ),
  },
  // Enough for a person, far too little for a spam run: 1,007 mails in a day cannot happen.
  rate_limits: {
    messages_per_hour: withDefault(
      int(1, 1_000_000),
      100,
      "messages an account may submit per rolling hour",
    ),
    recipients_per_day: withDefault(int(1, 10_000_000), 300, "recipients per rolling 24 hours"),
    on_limit: withDefault(
      oneOf(["hold", "defer"]),
      "hold",
      "past a limit, `hold` the account's queued outbound mail (and alert), or only `defer` new mail",
    ),
  },
  // The owner is told: one mechanism, mail to the postmaster, at most once per `repeat`.
  alerts: {
    to: optional(contactAddress, "who gets alerts", "`postmaster@<primary domain>`"),
    repeat: withDefault(duration, "24h", "the same alert at most this often"),
    dnsbl_interval: withDefault(
      duration,
      "6h",
      "look our addresses up in `check.dnsbl` this often (0: never)",
    ),
    queue_size: withDefault(int(1, 100_000_000), 1000, "alert when the queue holds more messages"),
    bounce_share: withDefault(
      int(1, 100),
      30,
      "alert when more than this percent of delivery attempts in an hour get 5xx (at least 10)",
    ),
    min_free_mb: withDefault(
      int(1, 10_000_000),
      1024,
      "alert below this much free space in `data_dir`",
    ),
  },
  // RFC 7489 §7.2: aggregate feedback reports.
  reports: {
    interval: withDefault(duration, "24h", "send DMARC aggregate reports this often"),
    from: optional(
      contactAddress,
      "sender of the reports we send",
      "`dmarc-noreply@<primary domain>`",
    ),
    send_dmarc: withDefault(
      bool,
      true,
      "send DMARC aggregate reports to domains that ask (`rua=`)",
    ),
    address: optional(
      contactAddress,
      "where reports about our domains arrive (in the DMARC record `postie dns` prints)",
      "`dmarc-reports@<primary domain>`",
    ),
  },
  queue: {
    max_age: withDefault(duration, "5d", "give up and bounce after this long"),
    retry_initial: withDefault(
      duration,
      "5m",
      "first retry delay, doubling per retry up to `queue.retry_max`",
    ),
    retry_max: withDefault(duration, "4h", "longest delay between retries"),
    delay_warning: withDefault(
      duration,
      "4h",
      "tell the sender once when mail waits this long (0: never)",
    ),
    concurrency: withDefault(int(1, 1000), 20, "deliveries at once"),
    per_domain_concurrency: withDefault(int(1, 100), 20, "deliveries at once to one domain"),
  },
  outbound: {
    port: withDefault(int(1, 65535), 25, "port of receiving servers (tests, unusual setups)"),
    source_ipv4: optional(ipAddress(4), "IPv4 source address; it must match your PTR", "system"),
    source_ipv6: optional(ipAddress(6), "IPv6 source address; it must match your PTR", "system"),
    require_tls: withDefault(bool, false, "deliver only over verified TLS"),
    smarthost: optional(
      relayHost,
      "`{host, port, tls: starttls/implicit/none, username, password_file}`",
      "none",
    ),
    routes: withDefault(relayRoutes, {}, "per destination domain, the same as `smarthost`"),
  },
  // The blocklists most receivers consult (the ones that listed the server in the story).
  check: {
    dnsbl: withDefault(
      domainList(),
      ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"],
      "blocklists `postie check` looks our addresses up in (RFC 5782)",
    ),
  },
  dmarc: {
    mode: withDefault(
      dmarcMode,
      "enforce",
      "`enforce` (reject refused, quarantine to Junk), `quarantine` (never refuse), `monitor` (record only)",
    ),
    domains: withDefault(dmarcDomains, {}, "per local domain, another mode"),
  },
} satisfies Section;
