/**
 * The certificate every TLS listener serves (SMTP STARTTLS and 465, IMAP, HTTPS), kept current
 * while the server runs. There is one {@link TlsContext}; whatever this manager puts into it is
 * used by every handshake that starts afterwards, while sessions already encrypted keep theirs.
 *
 * Where the certificate comes from:
 * - `tls.cert_file`/`tls.key_file`: read at start and again whenever either file changes on disk
 *   (people who keep certbot); a half-written pair is not taken, the old one stays.
 * - `acme.enabled`: the stored ACME certificate when it is still valid, else the self-signed one
 *   meanwhile (the listeners never wait for a CA); an order runs in the background at start
 *   when there is no valid certificate for the wanted names, and again at the renewal time
 *   ({@link renewalTime}). Failures are logged with the CA's problem document, retried after
 *   growing pauses ({@link retryTime}), and after three failures in a row, or when fewer than
 *   14 days are left, the postmaster gets a notice (at most one a day). `postie cert renew`
 *   leaves a request file that the next tick takes.
 * - otherwise the self-signed certificate in `<data_dir>/tls/`.
 *
 * @module
 */

import "reflect-metadata"; // required by @peculiar/x509's dependency injection
import * as x509 from "@peculiar/x509";
import type { Config } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import { log as makeLog } from "../log/logger.ts";
import type { TlsContext } from "../listen/tls_context.ts";
import { loadTlsMaterial, secureContext, type TlsMaterial } from "./certificate.ts";
import { type CertificateSource, servedCertificateFiles } from "./served_certificate.ts";
import { generateCertKey, importCertKey, storeCertKey } from "./cert_key.ts";
import { mkdirDurable, syncDir, writeDurably } from "../fs/durable.ts";
import {
  acmePaths,
  type AcmeState,
  readAcmeState,
  takeRenewalRequest,
  writeAcmeState,
} from "../acme/acme_state.ts";
import { renewalTime, retryTime } from "../acme/renewal_schedule.ts";

const DAY = 86400_000;

/** What an order's failure says, in the words of the CA where it gave any (RFC 8555 §6.7). */
export interface IssueFailure {
  type: string;
  detail: string;
  status?: number;
  rateLimited: boolean;
  retryAfter?: Date;
}

/** Gets certificates; the ACME client behind it is {@link ../acme/acme_issuer.ts}. */
export interface Issuer {
  /** A certificate (full chain PEM) for `names` on `key`. */
  issue(names: string[], key: CryptoKeyPair, signal: AbortSignal): Promise<{ certPem: string }>;
  /** The CA's suggested renewal window for a certificate it issued (RFC 9773), if it gives one. */
  renewalWindow(certPem: string): Promise<{ start: Date; end: Date } | null>;
  /** Turn anything `issue` threw into an {@link IssueFailure}. */
  describe(error: unknown): IssueFailure;
}

/** The certificate being served, as `postie check` and the tests see it. */
export interface ServedCertificate {
  kind: CertificateSource;
  source: string;
  names: string[];
  notBefore: Date;
  notAfter: Date;
  issuer: string;
}

/** What a {@link CertManager} is given. */
export interface CertManagerOptions {
  config: Config;
  tls: TlsContext;
  /** Makes the issuer for a config with `acme`; not called without. */
  issuer: (config: Config) => Issuer;
  /** The names to order for (the hostname first). */
  names: (config: Config) => Promise<string[]>;
  /** Tell the postmaster (subject, body). */
  notify: (subject: string, body: string) => Promise<void>;
  /** How often files and the renewal time are looked at (default 5 s). */
  pollMs?: number;
  now?: () => Date;
  log?: Logger;
}

/** Parse the leaf of a PEM chain. @throws when there is none. */
export function describeChain(
  certPem: string,
): Pick<ServedCertificate, "names" | "notBefore" | "notAfter" | "issuer"> {
  const leaf = new x509.X509Certificate(certPem.slice(0, certPem.indexOf("-----END") + 25));
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const names = (san?.names.items ?? []).filter((n) => n.type === "dns").map((n) => n.value);
  return { names, notBefore: leaf.notBefore, notAfter: leaf.notAfter, issuer: leaf.issuer };
}

async function fileSignature(paths: string[]): Promise<string> {
  const parts = [];
  for (const p of paths) {
    try {
      const s = await Deno.stat(p);
      parts.push(`${s.ino}:${s.size}:${s.mtime?.getTime()}`);
    } catch {
      parts.push("missing");
    }
  }
  return parts.join("|");
}

/** See the module documentation. */
export class CertManager {
  #config: Config;
  readonly #o: CertManagerOptions;
  readonly #log: Logger;
  readonly #now: () => Date;
  #served: ServedCertificate | null = null;
  #state: AcmeState = { names: [], failures: 0 };
  #renewAt: Date | null = null;
  #fileSig = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy: Promise<void> | null = null;
  readonly #abort = new AbortController();
  #stopped = false;

  private constructor(o: CertManagerOptions) {
    this.#o = o;
    this.#config = o.config;
    this.#log = o.log ?? makeLog("tls");
    this.#now = o.now ?? (() => new Date());
  }

  /** Serve the best certificate there is now and start watching; orders run in the background. */
  static async start(o: CertManagerOptions): Promise<CertManager> {
    const m = new CertManager(o);
    await m.#apply(o.config);
    m.#timer = setInterval(() => m.#tick(), o.pollMs ?? 5000);
    m.#tick();
    return m;
  }

  /** The certificate handshakes get now. */
  get served(): ServedCertificate | null {
    return this.#served;
  }

  /** The ACME state (failures, last error, next attempt). */
  get state(): Readonly<AcmeState> {
    return this.#state;
  }

  /**
   * A new config (reload): the certificate is chosen again. @throws when configured files are
   * unusable; nothing is changed then.
   */
  async configure(config: Config): Promise<void> {
    await this.#apply(config);
    this.#config = config;
  }

  /** Order now (even inside a pause after failures); resolves when the attempt is over. */
  async renewNow(): Promise<void> {
    while (this.#busy) await this.#busy;
    const run = this.#run(true).finally(() => this.#busy = null);
    this.#busy = run;
    await run;
  }

  /** Stop watching; an order in flight is abandoned. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#abort.abort();
    await this.#busy?.catch(() => {});
  }

  async #apply(config: Config): Promise<void> {
    const files = await servedCertificateFiles(config, { now: this.#now() });
    if (files.source === "tls_files") {
      const sig = await fileSignature([files.certFile, files.keyFile]);
      const { material } = await loadTlsMaterial(config);
      this.#serve("tls_files", material);
      this.#fileSig = sig;
      return;
    }
    if (config.acme) {
      this.#state = await readAcmeState(config.dataDir).catch((e) => {
        this.#log.warning("ACME state not readable, starting afresh: {error}", {
          event: "acme",
          error: (e as Error).message,
        });
        return undefined;
      }) ?? { names: [], failures: 0 };
    }
    if (files.source === "acme") {
      try {
        const material = {
          certPem: await Deno.readTextFile(files.certFile),
          keyPem: await Deno.readTextFile(files.keyFile),
          source: files.certFile,
        };
        this.#serve("acme", material);
        this.#renewAt = await this.#renewalTimeOf(config, material.certPem);
        return;
      } catch (e) {
        // A key that does not match (a crash between the two writes): order again.
        this.#log.warning("stored ACME certificate not usable: {error}", {
          event: "acme",
          error: (e as Error).message,
        });
      }
    }
    const { material, generated } = await loadTlsMaterial({ ...config, tls: {} });
    if (generated) {
      this.#log.info("generated a self-signed certificate in {path}", {
        event: "tls",
        path: material.source,
      });
    }
    this.#serve("self_signed", material);
    this.#renewAt = null;
  }

  #serve(kind: ServedCertificate["kind"], m: TlsMaterial): void {
    const context = secureContext(m);
    const d = describeChain(m.certPem);
    this.#o.tls.replace(context);
    this.#served = { kind, source: m.source, ...d };
  }

  async #renewalTimeOf(config: Config, certPem: string): Promise<Date> {
    const d = describeChain(certPem);
    let window = null;
    try {
      window = await this.#o.issuer(config).renewalWindow(certPem);
    } catch (e) {
      this.#log.debug("no renewal information: {error}", { error: (e as Error).message });
    }
    return renewalTime(d.notBefore, d.notAfter, window ?? undefined);
  }

  #tick(): void {
    if (this.#busy || this.#stopped) return;
    this.#busy = this.#check().catch((e) => {
      this.#log.error("certificate check failed: {error}", {
        event: "tls",
        error: (e as Error).message,
      });
    }).finally(() => this.#busy = null);
  }

  async #check(): Promise<void> {
    const config = this.#config;
    if (config.tls.certFile && config.tls.keyFile) {
      const sig = await fileSignature([config.tls.certFile, config.tls.keyFile]);
      if (sig === this.#fileSig) return;
      this.#fileSig = sig;
      try {
        const { material } = await loadTlsMaterial(config);
        this.#serve("tls_files", material);
        this.#log.info("certificate files changed; serving {names} until {notAfter}", {
          event: "tls_reloaded",
          names: this.#served?.names.join(","),
          notAfter: this.#served?.notAfter.toISOString(),
        });
      } catch (e) {
        // Certbot writes the two files one after the other: the next change completes the pair.
        this.#log.warning("certificate files changed but are not usable yet: {error}", {
          event: "tls_reload_failed",
          error: (e as Error).message,
        });
      }
      return;
    }
    if (!config.acme) return;
    const forced = await takeRenewalRequest(config.dataDir);
    if (forced || this.#due()) await this.#run(forced);
  }

  #due(): boolean {
    const now = this.#now().getTime();
    if (this.#state.nextAttempt && now < Date.parse(this.#state.nextAttempt)) return false;
    if (this.#served?.kind !== "acme") return true;
    const must = [this.#config.hostname, ...(this.#config.acme?.names ?? [])];
    if (must.some((n) => !this.#served!.names.includes(n))) return true;
    return this.#renewAt !== null && now >= this.#renewAt.getTime();
  }

  async #run(forced: boolean): Promise<void> {
    const config = this.#config;
    const acme = config.acme;
    if (!acme) throw new Error("acme is not enabled in the configuration");
    const paths = acmePaths(config.dataDir);
    const names = await this.#o.names(config);
    this.#log.info("ordering a certificate for {names}{why}", {
      event: "acme_order",
      names: names.join(","),
      why: forced ? " (renewal asked for)" : "",
    });
    const issuer = this.#o.issuer(config);
    try {
      const key = await this.#keyFor(paths.certKey, acme.rotateKey);
      const { certPem } = await issuer.issue(names, key.pair, this.#abort.signal);
      const material = { certPem, keyPem: key.pem, source: paths.cert };
      secureContext(material); // never store what cannot be served
      // The key first: after a crash between the two, the stored pair does not match and is
      // not used (a new order follows), rather than serving a certificate without its key.
      await storeCertKey(paths.certKey, key);
      await mkdirDurable(paths.dir);
      await writeDurably(paths.cert, certPem, 0o644);
      await syncDir(paths.dir);
      const { lastError, lastNotice } = this.#state;
      this.#state = {
        names,
        failures: 0,
        lastSuccess: this.#now().toISOString(),
        ...(lastError ? { lastError } : {}),
        ...(lastNotice ? { lastNotice } : {}),
      };
      await writeAcmeState(config.dataDir, this.#state);
      this.#serve("acme", material);
      this.#renewAt = await this.#renewalTimeOf(config, certPem);
      this.#log.info("certificate for {names} issued by {issuer}, valid until {notAfter}", {
        event: "acme_issued",
        names: names.join(","),
        issuer: this.#served?.issuer,
        notAfter: this.#served?.notAfter.toISOString(),
        renewAt: this.#renewAt?.toISOString(),
      });
    } catch (e) {
      if (this.#stopped) return;
      await this.#failed(config, names, issuer.describe(e));
    }
  }

  async #keyFor(path: string, rotate: boolean) {
    if (!rotate) {
      try {
        return await importCertKey(await Deno.readTextFile(path));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    return await generateCertKey();
  }

  async #failed(config: Config, names: string[], f: IssueFailure): Promise<void> {
    const now = this.#now();
    const failures = this.#state.failures + 1;
    const next = retryTime(now, failures, f);
    this.#state = {
      ...this.#state,
      names,
      failures,
      lastError: {
        at: now.toISOString(),
        type: f.type,
        detail: f.detail,
        ...(f.status !== undefined ? { status: f.status } : {}),
      },
      nextAttempt: next.toISOString(),
    };
    this.#log.error(
      "ACME order for {names} failed ({failures} in a row): {type}: {detail}; next try {next}",
      {
        event: "acme_failed",
        names: names.join(","),
        failures,
        type: f.type,
        detail: f.detail,
        status: f.status,
        next: next.toISOString(),
      },
    );
    const left = this.#served?.kind === "acme"
      ? this.#served.notAfter.getTime() - now.getTime()
      : Infinity;
    const lastNotice = this.#state.lastNotice ? Date.parse(this.#state.lastNotice) : 0;
    if ((failures >= 3 || left < 14 * DAY) && now.getTime() - lastNotice >= DAY) {
      this.#state.lastNotice = now.toISOString();
      await this.#notify(config, names, f, failures, next, left).catch((e) =>
        this.#log.error("could not tell the postmaster: {error}", {
          event: "notice_failed",
          error: (e as Error).message,
        })
      );
    }
    await writeAcmeState(config.dataDir, this.#state);
  }

  #notify(
    config: Config,
    names: string[],
    f: IssueFailure,
    failures: number,
    next: Date,
    left: number,
  ): Promise<void> {
    const served = this.#served;
    const validity = served?.kind === "acme"
      ? `The certificate served now is valid until ${served.notAfter.toISOString()} ` +
        `(${Math.floor(left / DAY)} days left).`
      : "Mail clients see a self-signed certificate until this works.";
    const body = [
      `postie on ${config.hostname} could not get a certificate for ${names.join(", ")}`,
      `from ${config.acme?.directory} (${failures} attempts in a row failed).`,
      "",
      `The CA said: ${f.type}: ${f.detail}${f.status ? ` (HTTP ${f.status})` : ""}`,
      validity,
      `The next attempt is at ${next.toISOString()}.`,
      "",
      "What usually fixes it:",
      `- the DNS names above must point at this server (A/AAAA records);`,
      config.acme?.challenge === "http-01"
        ? "- port 80 must reach postie's listen.http (or your web server must proxy " +
          "/.well-known/acme-challenge/ to it, see the README);"
        : "- port 443 must reach postie's listen.https with ALPN acme-tls/1;",
      "- then run: postie cert renew --config <your config>",
      "- and see: postie check --config <your config>",
    ].join("\n");
    return this.#o.notify(`Certificate for ${config.hostname} not renewed`, body);
  }
}
