/**
 * What the admin page shows that is read, not changed: the dashboard (traffic per day and per
 * account from the event log, rejects by reason, the queue, the certificate, DNS health, open
 * alerts), an account's own counts, the DNS records to publish and the live `postie check`,
 * and the DMARC aggregate reports received. The same functions as the CLI compute them
 * (`dnsRecordSets`, `checkDomain`, `checkCertificate`, `ReportStore.summary`).
 *
 * The live DNS check takes seconds; its last result is kept, and the dashboard shows that one
 * (and starts a new check in the background when it is older than an hour).
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { QueueStore } from "../queue/store.ts";
import type { EventLog } from "../events/event_log.ts";
import type { AccountStore } from "../accounts/store.ts";
import type { Resolver } from "../dns/resolver.ts";
import { checkServer, countProblems, type ServerCheck } from "../dnscheck/check_server.ts";
import { dnsRecordSets } from "../dnscheck/dns_report.ts";
import { ourAddresses } from "../dnscheck/records.ts";
import { ReportStore } from "../reports/report_store.ts";
import type { ServedCertificate } from "../tls/cert_manager.ts";
import type { AcmeState } from "../acme/acme_state.ts";
import type { OpenAlert } from "../alerts/alerter.ts";

/** What the views read. */
export interface AdminViewSources {
  config(): Config;
  resolver(): Resolver;
  accounts: AccountStore;
  queue: QueueStore;
  events: EventLog;
  alerts(): OpenAlert[];
  /** The certificate served now, and the ACME state (with its last error). */
  certificate(): { served: ServedCertificate | null; acme: Readonly<AcmeState> | null };
  now?: () => Date;
}

/** The result of a live DNS check. */
export interface DnsCheckResult extends ServerCheck {
  checked: string;
}

const DAYS = 30;
const DNS_CHECK_MAX_AGE_MS = 3_600_000;

/** The read-only views; see the module documentation. */
export class AdminViews {
  readonly #s: AdminViewSources;
  #lastCheck: DnsCheckResult | null = null;
  #running: Promise<DnsCheckResult> | null = null;

  constructor(sources: AdminViewSources) {
    this.#s = sources;
  }

  #now(): Date {
    return this.#s.now?.() ?? new Date();
  }

  /** The dashboard (see the README, "The admin JSON API"). */
  dashboard() {
    const s = this.#s;
    const last = this.#lastCheck;
    if (!last || this.#now().getTime() - Date.parse(last.checked) > DNS_CHECK_MAX_AGE_MS) {
      void this.dnsCheck().catch(() => {});
    }
    return {
      days: s.events.days(DAYS),
      accounts: this.#accountTraffic(),
      rejects: s.events.rejects(DAYS),
      queue: s.queue.counts(),
      certificate: this.#certificate(),
      dns: last
        ? {
          checked: last.checked,
          problems: countProblems(last),
        }
        : { checked: null, problems: null },
      alerts: s.alerts(),
    };
  }

  // Every account, the most active first; those without traffic too (with zeros), so that
  // the owner sees them all and can chart each.
  #accountTraffic() {
    const active = this.#s.events.accounts(DAYS);
    const seen = new Set(active.map((a) => a.account));
    const idle = this.#s.accounts.list().filter((a) => !seen.has(a.address))
      .map((a) => ({ account: a.address, received: 0, sent: 0 }));
    return [...active, ...idle];
  }

  #certificate() {
    const { served, acme } = this.#s.certificate();
    const error = acme?.lastError
      ? `${acme.lastError.type}: ${acme.lastError.detail}`
      : served?.kind === "self_signed"
      ? "self-signed: mail clients refuse it (enable acme or set tls.cert_file)"
      : null;
    return {
      kind: served?.kind ?? null,
      names: served?.names ?? [],
      notAfter: served?.notAfter.toISOString() ?? null,
      daysLeft: served
        ? Math.floor((served.notAfter.getTime() - this.#now().getTime()) / 86_400_000)
        : null,
      error,
    };
  }

  /** Messages per day over 30 days: of every account, or of one (`account`). */
  traffic(account?: string) {
    const a = account?.trim().toLowerCase() || undefined;
    return { account: a ?? null, days: this.#s.events.days(DAYS, a) };
  }

  /** An account's own page: its forward and its traffic. */
  me(address: string) {
    const s = this.#s;
    const acct = s.accounts.get(address);
    const days = s.events.days(DAYS, address);
    return {
      address,
      admin: acct?.admin ?? false,
      forward: s.accounts.forward(address) ?? null,
      received: days.reduce((n, d) => n + d.received, 0),
      sent: days.reduce((n, d) => n + d.sent, 0),
      days,
    };
  }

  /** The records to publish, per local domain and for the hostname (`postie dns`). */
  async dnsRecords() {
    const config = this.#s.config();
    const sets = await dnsRecordSets(config, config.domains);
    return {
      domains: sets.filter((x) => x.kind === "domain").map((x) => ({
        domain: x.name,
        notes: x.notes,
        records: x.records,
      })),
      host: sets.filter((x) => x.kind === "host").map((x) => ({
        name: x.name,
        notes: x.notes,
        records: x.records,
      }))[0],
    };
  }

  /** The live check of every local domain and the certificate (`postie check`). */
  dnsCheck(): Promise<DnsCheckResult> {
    // One check at a time: a second request waits for the running one.
    this.#running ??= (async () => {
      try {
        const config = this.#s.config();
        const now = this.#now();
        const check = await checkServer(config, config.domains, this.#s.resolver(), now);
        const result = { checked: now.toISOString(), ...check };
        this.#lastCheck = result;
        return result;
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }

  /** The DMARC aggregate reports received in the last `days` days (`postie reports dmarc`). */
  async reports(days: number) {
    const config = this.#s.config();
    const n = Number.isInteger(days) && days > 0 && days <= 3660 ? days : DAYS;
    const store = await ReportStore.open(config.dataDir);
    try {
      const summary = store.summary({ since: new Date(this.#now().getTime() - n * 86_400_000) });
      return { ...summary, ours: ourAddresses(config), days: n };
    } finally {
      store.close();
    }
  }
}
