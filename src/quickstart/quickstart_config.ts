/**
 * The config file `postie quickstart` writes: short, commented, production listeners on
 * IPv4 and IPv6, ACME enabled with the owner's address as contact, and the RFC 2142 role
 * addresses leading to the owner. Every key it leaves out takes its default
 * (`config.example.yaml` lists them all).
 *
 * @module
 */

/** What the written config is made of. */
export interface QuickstartSettings {
  /** The owner's address (canonical), e.g. "alice@example.com". */
  address: string;
  /** Its domain (canonical), the one mail domain. */
  domain: string;
  /** The server's name, e.g. "mail.example.com". */
  hostname: string;
  /** Absolute path of the data directory. */
  dataDir: string;
  /** Where the file goes, for its "check it with" line. */
  configPath: string;
}

/** RFC 2142 §4 and §5: the mailboxes every mail domain is expected to have. */
export const ROLE_ADDRESSES = ["postmaster", "abuse"] as const;

/**
 * The YAML text of the config.
 *
 * @example
 * ```ts
 * const yaml = quickstartConfig({
 *   address: "alice@example.com",
 *   domain: "example.com",
 *   hostname: "mail.example.com",
 *   dataDir: "/var/lib/postie",
 *   configPath: "/etc/postie/postie.yaml",
 * });
 * ```
 */
export function quickstartConfig(s: QuickstartSettings): string {
  // An alias for the owner's own address would shadow the account (aliases are looked up first).
  const aliases = ROLE_ADDRESSES.map((local) => `${local}@${s.domain}`)
    .filter((a) => a !== s.address)
    .map((a) => `  ${a}: ${s.address}`);
  // JSON strings are YAML double-quoted scalars: safe for any path.
  const q = (text: string) => JSON.stringify(text);
  return `# postie configuration, written by: postie quickstart ${s.address}
# Keys left out take their defaults; config.example.yaml lists every key with its doc.
# Check it with:  postie config check --config ${s.configPath}
# Reload without dropping sessions: systemctl reload postie (listen addresses need a restart).

# This server's name: in the greeting, EHLO and Received headers, and on the certificate.
# Its A/AAAA records must point to this server, and the PTR (reverse DNS) of the server's
# addresses must give this name back.
hostname: ${s.hostname}

# Where postie keeps its data: mail/ (Maildirs), accounts.db, dkim/ (signing keys), acme/
# (the certificate and its key), tls/ (the self-signed certificate served until then).
data_dir: ${q(s.dataDir)}

# Mail is accepted for these domains only. More can be added here (then run postie dns).
domains:
  - ${s.domain}

# RFC 2142: postmaster@ and abuse@ must reach a person. "@${s.domain}" as a key would be a
# catch-all for every address of the domain that matches nothing else.
aliases:
${aliases.length > 0 ? aliases.join("\n") : "  {}"}

# Listen addresses, "host:port" or "[ipv6]:port"; [] turns one off.
listen:
  # MX service (RFC 5321): mail from the whole Internet for the domains above.
  smtp: ["0.0.0.0:25", "[::]:25"]
  # Mail clients send through these, after logging in: STARTTLS (RFC 6409) and implicit TLS
  # (RFC 8314).
  submission: ["0.0.0.0:587", "[::]:587"]
  submissions: ["0.0.0.0:465", "[::]:465"]
  # Mail clients read mail here: IMAP with STARTTLS and over implicit TLS (RFC 9051, RFC 8314).
  imap: ["0.0.0.0:143", "[::]:143"]
  imaps: ["0.0.0.0:993", "[::]:993"]
  # Plain HTTP: the ACME http-01 challenge (the CA connects over IPv6 too when the hostname
  # has an AAAA record) and mail client autoconfig. If a web server owns port 80, give a
  # local port here and let it proxy /.well-known/acme-challenge/ (and autoconfig) to postie.
  http: ["0.0.0.0:80", "[::]:80"]
  # HTTPS with the mail certificate (autoconfig over TLS, Outlook's autodiscover, the
  # tls-alpn-01 challenge). Off, so that it does not take port 443 from a web server.
  https: []

# The certificate, from Let's Encrypt (ACME, RFC 8555): ordered at the first start (a
# self-signed one is served meanwhile), renewed by itself. Its key is already in
# ${s.dataDir}/acme/cert-key.pem, so the TLSA record can be published before it exists.
acme:
  enabled: true
  # To try things out without Let's Encrypt's rate limits, its staging CA:
  # https://acme-staging-v02.api.letsencrypt.org/directory
  directory: https://acme-v02.api.letsencrypt.org/directory
  # Let's Encrypt writes here about the certificate (expiry warnings).
  email: ${s.address}
  # http-01 needs port 80 (listen.http); tls-alpn-01 needs port 443 (listen.https).
  challenge: http-01

# The addresses postie sends from; they must match the PTR records. Set them to get the
# A/AAAA, PTR and SPF ip4:/ip6: records from postie dns. Default: chosen by the system.
# outbound:
#   source_ipv4: 192.0.2.25
#   source_ipv6: "2001:db8::25"
`;
}
