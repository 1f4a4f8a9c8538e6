/**
 * Metrics for Prometheus: a small registry of counters (with labels) and gauges (read by a
 * callback when rendered), rendered in the text exposition format 0.0.4 (`# HELP`, `# TYPE`,
 * one sample per line, label values escaped: backslash, double quote and newline), and
 * postie's own metrics ({@link Metrics}) with the names the admin listener's `/metrics` shows.
 *
 * Label values come only from fixed sets chosen in code (directions, results, refusal
 * reasons, alert kinds), never from addresses, so the number of series stays small.
 *
 * @module
 */

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value as the format writes it: `\` → `\\`, `"` → `\"`, newline → `\n`. */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

// HELP text escapes only backslash and newline.
function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** A sample value: integers as they are, and the format's `NaN`, `+Inf`, `-Inf`. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** A counter, one series per combination of label values. */
export class Counter<L extends string = never> {
  readonly name: string;
  readonly help: string;
  readonly labels: readonly L[];
  readonly #series = new Map<string, { values: string[]; value: number }>();

  /** Throws a TypeError for a name or label name the format does not allow. */
  constructor(name: string, help: string, labels: readonly L[] = []) {
    if (!METRIC_NAME.test(name)) throw new TypeError(`metric name is not valid: ${name}`);
    for (const l of labels) {
      if (!LABEL_NAME.test(l) || l.startsWith("__")) {
        throw new TypeError(`label name of ${name} is not valid: ${l}`);
      }
    }
    this.name = name;
    this.help = help;
    this.labels = labels;
    if (labels.length === 0) this.#series.set("", { values: [], value: 0 });
  }

  /** Add `by` (default 1; a counter only goes up, so negative values are ignored). */
  inc(labels: Record<L, string> = {} as Record<L, string>, by = 1): void {
    if (!(by >= 0)) return;
    const values = this.labels.map((l) => String(labels[l] ?? ""));
    const key = values.join("\0");
    const s = this.#series.get(key);
    if (s) s.value += by;
    else this.#series.set(key, { values, value: by });
  }

  /** Make the series exist at 0 (so that a rate can be taken before the first event). */
  init(labels: Record<L, string>): void {
    this.inc(labels, 0);
  }

  /** The value of one series (0 when it does not exist). */
  value(labels: Record<L, string> = {} as Record<L, string>): number {
    const key = this.labels.map((l) => String(labels[l] ?? "")).join("\0");
    return this.#series.get(key)?.value ?? 0;
  }

  /** The series as exposition lines. */
  render(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} counter\n`;
    for (const s of this.#series.values()) {
      const labels = s.values.length === 0
        ? ""
        : `{${this.labels.map((l, i) => `${l}="${escapeLabelValue(s.values[i]!)}"`).join(",")}}`;
      out += `${this.name}${labels} ${formatValue(s.value)}\n`;
    }
    return out;
  }
}

/** Counters and gauges, rendered together. */
export class Registry {
  readonly #metrics: { render(): string; name: string }[] = [];

  #add<T extends { render(): string; name: string }>(m: T): T {
    if (this.#metrics.some((x) => x.name === m.name)) {
      throw new TypeError(`metric ${m.name} is registered twice`);
    }
    this.#metrics.push(m);
    return m;
  }

  /** A new counter. */
  counter<L extends string = never>(name: string, help: string, labels: readonly L[] = []) {
    return this.#add(new Counter<L>(name, help, labels));
  }

  /**
   * A gauge without labels whose value `read` gives at render time; a `read` that throws
   * renders as NaN.
   */
  gauge(name: string, help: string, read: () => number): void {
    if (!METRIC_NAME.test(name)) throw new TypeError(`metric name is not valid: ${name}`);
    this.#add({
      name,
      render: () => {
        let v: number;
        try {
          v = read();
        } catch {
          v = NaN;
        }
        return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} gauge\n${name} ${
          formatValue(v)
        }\n`;
      },
    });
  }

  /** Every metric in the text exposition format 0.0.4. */
  render(): string {
    return this.#metrics.map((m) => m.render()).join("");
  }
}

/** The Content-Type of {@link Registry.render}'s text. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** What postie's gauges read when rendered. */
export interface MetricSources {
  /** Messages in the outbound queue, and how many of them are held. */
  queue?: () => { messages: number; held: number };
  /** IMAP sessions open now. */
  imapSessions?: () => number;
}

/** postie's metrics (the names are the API of `/metrics`). */
export class Metrics {
  readonly #registry = new Registry();
  /** Messages accepted: inbound (for a local mailbox), outbound (for the outside). */
  readonly accepted = this.#registry.counter(
    "postie_messages_accepted_total",
    "Messages accepted over SMTP: inbound for local mailboxes, outbound for other domains.",
    ["direction"],
  );
  /** SMTP refusals by reason (the event log's reasons). */
  readonly rejected = this.#registry.counter(
    "postie_messages_rejected_total",
    "SMTP refusals (4xx/5xx to MAIL, RCPT, DATA, AUTH) by reason.",
    ["reason"],
  );
  /** Outbound delivery attempts, per recipient, by result. */
  readonly deliveries = this.#registry.counter(
    "postie_delivery_attempts_total",
    "Outbound delivery attempts per recipient by result.",
    ["result"],
  );
  /** SMTP sessions with and without TLS: inbound per session, outbound per attempt. */
  readonly tlsSessions = this.#registry.counter(
    "postie_tls_sessions_total",
    "SMTP sessions by TLS use: inbound per session that sent MAIL, outbound per delivery.",
    ["direction", "tls"],
  );
  /** DNS lookups that failed temporarily (SERVFAIL, REFUSED, timeout, network error). */
  readonly dnsFailures = this.#registry.counter(
    "postie_dns_failures_total",
    "DNS lookups that failed temporarily (SERVFAIL, timeouts, network errors).",
  );
  /** Successful IMAP logins. */
  readonly imapLogins = this.#registry.counter(
    "postie_imap_logins_total",
    "Successful IMAP logins.",
  );
  /** Alerts raised, by the part of their key before the first ":". */
  readonly alerts = this.#registry.counter(
    "postie_alerts_total",
    "Alerts raised, by kind (the alert key up to its first colon).",
    ["key"],
  );

  /** `now` is the start time reported as `postie_start_time_seconds`. */
  constructor(sources: MetricSources = {}, now: Date = new Date()) {
    const r = this.#registry;
    r.gauge("postie_up", "1 while postie runs.", () => 1);
    r.gauge(
      "postie_start_time_seconds",
      "When postie started, in seconds since the Unix epoch.",
      () => Math.floor(now.getTime() / 1000),
    );
    r.gauge(
      "postie_queue_messages",
      "Messages in the outbound queue.",
      () => sources.queue?.().messages ?? 0,
    );
    r.gauge(
      "postie_queue_held_messages",
      "Messages in the outbound queue that are held.",
      () => sources.queue?.().held ?? 0,
    );
    r.gauge("postie_imap_sessions", "IMAP sessions open now.", () => sources.imapSessions?.() ?? 0);
    for (const direction of ["inbound", "outbound"]) {
      this.accepted.init({ direction });
      for (const tls of ["yes", "no"]) this.tlsSessions.init({ direction, tls });
    }
    for (const result of ["delivered", "deferred", "bounced"]) this.deliveries.init({ result });
  }

  /** An alert was raised: counted by its kind, so that no address reaches a label. */
  alert(key: string): void {
    const colon = key.indexOf(":");
    this.alerts.inc({ key: colon < 0 ? key : key.slice(0, colon) });
  }

  /** Every metric in the text exposition format 0.0.4. */
  render(): string {
    return this.#registry.render();
  }
}
