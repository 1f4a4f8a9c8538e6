/**
 * `postie relay-check`: an open-relay self-test for a server the user owns.
 *
 * It connects without authentication and tries the relay tricks of the battery (MAIL FROM forms
 * F1-F5 crossed with RCPT TO forms R1-R22 and R26, the whole-session probes R25 and R28, and
 * HELO/EHLO identities that pretend to be the server), each toward the external address the
 * user names. Every probe is `MAIL FROM`, `RCPT TO`, record the reply, `RSET`. The client never
 * sends `DATA` or `BDAT` (a whitelist in the sender enforces it), so an accepted probe cannot
 * turn into relayed mail: the test itself can never spam the address it is given.
 *
 * Verdicts: a 2xx reply to the probed RCPT is ACCEPTED (the server is an open relay for that
 * form). A 5xx to RCPT, or a refused MAIL FROM (including `530` authentication required), is
 * refused. A 4xx is counted as refused but flagged, because the relay decision is deterministic
 * and a server should say 5xx. Network trouble, timeouts and protocol violations are errors.
 *
 * Connections: one session is used for the whole battery. When the server closes it (a `421`,
 * typically after too many errors, or the end of the stream), the client reconnects, counts the
 * reconnection and retries the probe once on the fresh session; a probe that fails twice is an
 * error. After three errors in a row the check stops and marks the remaining probes as errors
 * (not attempted), so a dead or hostile server cannot keep it busy for hours.
 *
 * TLS: STARTTLS is used when offered (unless `starttls: false`). `Deno.startTls` has no switch
 * to skip certificate verification (only the `--unsafely-ignore-certificate-errors` command line
 * flag does that, for the whole process); the client disables the host name check, but the
 * chain must still verify against the system roots. If the handshake fails (a self-signed or
 * private CA certificate), the client reconnects, continues in plain text and says so in the
 * report notes. The relay policy is what is tested, and an attacker can use plain text as well.
 *
 * @module
 */

import { type Placeholders, type ProbeSpec, relayBattery } from "./relay_battery.ts";
import { ConnectionLost, printable, type Reply, Wire } from "./wire.ts";

/** Options for {@link runRelayCheck}. */
export interface RelayCheckOptions {
  /** The server to test (a host name or an IP address). */
  host: string;
  port: number;
  /** The external address relaying is attempted to (it never receives anything). */
  to: string;
  /**
   * The server's own mail domain (L). Default: the banner host name minus its first label if
   * it has 3 or more labels, else the banner host name.
   */
  domain?: string;
  /** A valid local recipient, for R25 (a local recipient first does not open relaying). */
  local?: string;
  /** Per reply (and per connection attempt / TLS handshake), in ms. Default 30000. */
  timeoutMs?: number;
  /**
   * Use STARTTLS when the server offers it (default true). The certificate chain must verify
   * (the host name is not checked); if it does not, the check continues in plain text and
   * notes it. `false` never uses STARTTLS.
   */
  starttls?: boolean;
  /** The EHLO name. Default "relay-check.invalid". */
  helo?: string;
}

/** The outcome of one probe. */
export interface ProbeResult {
  /** e.g. "F2xR6", "R25", "H1xR1". */
  id: string;
  /** The MAIL FROM argument exactly as sent (after "MAIL FROM:"). */
  mailFrom: string;
  /** The probed RCPT TO argument exactly as sent (after "RCPT TO:"). */
  rcptTo: string;
  /** First line of the RCPT reply, or of the MAIL (or HELO) reply if that was refused. */
  reply: string;
  verdict: "refused" | "ACCEPTED" | "error";
  /** The HELO/EHLO command of an identity probe. */
  helo?: string;
  /** Local recipients sent before the probed one (R25, R28), exactly as sent. */
  controls?: string[];
  /** Which command `reply` answers. */
  step?: "connect" | "HELO" | "MAIL" | "RCPT";
  /** Remarks: a 4xx refusal, a control recipient that was not accepted, a retry. */
  note?: string;
}

/** The whole result. */
export interface RelayCheckReport {
  probes: ProbeResult[];
  /** Number of ACCEPTED probes. */
  accepted: number;
  /** Number of error probes. */
  errors: number;
  /** True iff no probe was ACCEPTED and none ended in an error. */
  ok: boolean;
  /** Connections opened after the first one (the server closed, TLS fallback, a retry). */
  reconnects: number;
  /** How the probes travelled. */
  tls: "used" | "not offered" | "disabled" | "failed, plain text" | "refused, plain text";
  /** What the check found out about the server, and the placeholders it used. */
  server: { host: string; port: number; banner: string; domain: string; literal: string };
  /** Remarks about the run (TLS fallback, inconclusive controls). */
  notes: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_HELO = "relay-check.invalid";
/** Stop after this many probes in a row ended in an error. */
const MAX_CONSECUTIVE_ERRORS = 3;

/** A session could not be opened (connect, banner, EHLO). */
class SessionFailed extends Error {}

interface Session {
  wire: Wire;
  /** Whether the last greeting was our own EHLO/HELO (not an identity probe's). */
  defaultHelo: boolean;
  /** HELO instead of EHLO was needed. */
  heloOnly: boolean;
}

interface Target {
  local: string;
  domain: string;
}

const DOT_ATOM_LOCAL = /^[A-Za-z0-9#$&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9#$&'*+/=?^_`{|}~-]+)*$/;
const HOSTNAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\.?$/;

function normDomain(d: string): string {
  return d.toLowerCase().replace(/\.$/, "");
}

function parseTarget(to: string): Target {
  const at = to.lastIndexOf("@");
  const local = to.slice(0, at);
  const domain = to.slice(at + 1);
  if (at <= 0 || !DOT_ATOM_LOCAL.test(local) || !HOSTNAME.test(domain)) {
    throw new Error(
      `--to must be a plain external address like user@example.com (got ${JSON.stringify(to)})`,
    );
  }
  return { local, domain: normDomain(domain) };
}

/** The L default: the banner host name minus its first label if it has 3+ labels. */
export function domainFromHostName(host: string): string {
  const labels = normDomain(host).split(".");
  return labels.length >= 3 ? labels.slice(1).join(".") : labels.join(".");
}

function addressLiteral(ip: string): string {
  return ip.includes(":") ? `[IPv6:${ip}]` : `[${ip}]`;
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(?:\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

class RelayCheck {
  readonly #o: RelayCheckOptions;
  readonly #timeoutMs: number;
  readonly #helo: string;
  readonly #target: Target;
  #session: Session | null = null;
  #connections = 0;
  #tls: RelayCheckReport["tls"];
  readonly notes: string[] = [];
  banner = "";
  bannerHost: string | undefined;
  literal = "";

  constructor(o: RelayCheckOptions) {
    this.#o = o;
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#helo = o.helo ?? DEFAULT_HELO;
    if (!/^[\x21-\x7e]{1,255}$/.test(this.#helo)) throw new Error("invalid HELO name");
    if (o.domain !== undefined && !HOSTNAME.test(o.domain)) {
      throw new Error(`--domain must be a domain name (got ${JSON.stringify(o.domain)})`);
    }
    if (
      o.local !== undefined &&
      !/^[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+$/.test(o.local)
    ) {
      throw new Error(`--local must be an address like user@example.com`);
    }
    this.#target = parseTarget(o.to);
    if (o.domain !== undefined) this.#checkTargetIsExternal(normDomain(o.domain));
    this.#tls = o.starttls === false ? "disabled" : "not offered";
  }

  get reconnects(): number {
    return Math.max(0, this.#connections - 1);
  }

  get tls(): RelayCheckReport["tls"] {
    return this.#tls;
  }

  #checkTargetIsExternal(ourDomain: string): void {
    const x = this.#target.domain;
    if (x === ourDomain || (this.bannerHost !== undefined && x === this.bannerHost)) {
      throw new Error(
        `--to must be an address outside the server's own domain ${ourDomain}; ` +
          `a local recipient would be accepted legitimately`,
      );
    }
    if (x.endsWith("." + ourDomain)) {
      this.notes.push(
        `the target domain ${x} is a subdomain of ${ourDomain}: if the server handles it, ` +
          `accepted probes are legitimate deliveries, not relaying`,
      );
    }
  }

  /** Open the first session and work out the placeholders. */
  async start(): Promise<Placeholders> {
    await this.#open();
    let ourDomain: string;
    if (this.#o.domain !== undefined) {
      ourDomain = normDomain(this.#o.domain);
    } else if (this.bannerHost !== undefined) {
      ourDomain = domainFromHostName(this.bannerHost);
    } else if (!isIpAddress(this.#o.host) && HOSTNAME.test(this.#o.host)) {
      ourDomain = domainFromHostName(this.#o.host);
      this.notes.push(`no host name in the banner; domain ${ourDomain} taken from ${this.#o.host}`);
    } else {
      throw new Error("cannot tell the server's domain from its banner; pass --domain");
    }
    this.#checkTargetIsExternal(ourDomain);
    return {
      victimLocal: this.#target.local,
      victimDomain: this.#target.domain,
      ourDomain,
      ourHost: this.bannerHost ?? ourDomain,
      ourLiteral: this.literal,
      ...(this.#o.local !== undefined ? { localRecipient: this.#o.local } : {}),
    };
  }

  async #connect(): Promise<Wire> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.#timeoutMs);
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: this.#o.host, port: this.#o.port, signal: ac.signal });
    } catch (e) {
      const why = ac.signal.aborted
        ? `timed out after ${this.#timeoutMs} ms`
        : e instanceof Error
        ? e.message
        : String(e);
      throw new SessionFailed(`cannot connect to ${this.#o.host}:${this.#o.port}: ${why}`);
    } finally {
      clearTimeout(timer);
    }
    this.#connections++;
    const remote = conn.remoteAddr as Deno.NetAddr;
    this.literal ||= addressLiteral(remote.hostname);
    return new Wire(conn, this.#timeoutMs);
  }

  /** Connect, read the banner, greet, maybe STARTTLS. Sets this.#session. */
  async #open(): Promise<Session> {
    const wire = await this.#connect();
    try {
      const banner = await wire.reply();
      if (banner.code !== 220) throw new SessionFailed(`greeting refused: ${banner.first}`);
      if (this.banner === "") {
        this.banner = banner.first;
        const name = /^220[ -](\S+)/.exec(banner.lines[0] ?? "")?.[1];
        if (name !== undefined && HOSTNAME.test(name)) this.bannerHost = normDomain(name);
      }
      const session: Session = { wire, defaultHelo: true, heloOnly: false };
      let ehlo = await this.#greet(session);
      if (
        this.#tls === "not offered" && !session.heloOnly &&
        ehlo.lines.slice(1).some((l) => /^\d{3}[ -]STARTTLS\s*$/i.test(l))
      ) {
        const r = await wire.command("STARTTLS");
        if (r.code === 220) {
          const serverName = isIpAddress(this.#o.host)
            ? this.bannerHost ?? this.#o.host
            : this.#o.host;
          try {
            await wire.startTls(serverName);
          } catch (e) {
            this.#tls = "failed, plain text";
            this.notes.push(
              `STARTTLS offered, but the certificate did not verify (${
                e instanceof Error ? printable(e.message) : String(e)
              }); the probes ran in plain text (Deno cannot skip certificate verification)`,
            );
            await wire.close();
            return await this.#open();
          }
          this.#tls = "used";
          ehlo = await this.#greet(session);
        } else {
          this.#tls = "refused, plain text";
          this.notes.push(
            `STARTTLS offered but refused (${r.first}); the probes ran in plain text`,
          );
        }
      }
      this.#session = session;
      return session;
    } catch (e) {
      await wire.close();
      if (e instanceof ConnectionLost) throw new SessionFailed(`opening a session: ${e.message}`);
      throw e;
    }
  }

  /** EHLO, or HELO if EHLO is refused. Returns the accepted reply. */
  async #greet(s: Session): Promise<Reply> {
    if (!s.heloOnly) {
      const r = await s.wire.command(`EHLO ${this.#helo}`);
      if (r.code === 250) {
        s.defaultHelo = true;
        return r;
      }
      if (r.code === 421) throw new SessionFailed(`EHLO: ${r.first}`);
    }
    const r = await s.wire.command(`HELO ${this.#helo}`);
    if (r.code !== 250) throw new SessionFailed(`HELO refused: ${r.first}`);
    s.heloOnly = true;
    s.defaultHelo = true;
    return r;
  }

  async #drop(): Promise<void> {
    const s = this.#session;
    this.#session = null;
    if (s) await s.wire.close();
  }

  /** Politely end the session. */
  async finish(): Promise<void> {
    const s = this.#session;
    if (!s) return;
    try {
      await s.wire.send("QUIT");
      await s.wire.reply();
    } catch {
      // the server may already have gone
    }
    await this.#drop();
  }

  async close(): Promise<void> {
    await this.#drop();
  }

  /** Run one probe, retrying once on a fresh session if the server closed the first one. */
  async probe(spec: ProbeSpec): Promise<ProbeResult> {
    const base = {
      id: spec.id,
      mailFrom: spec.mailFrom,
      rcptTo: spec.rcptTo,
      ...(spec.helo !== undefined ? { helo: spec.helo } : {}),
      ...(spec.controls.length > 0 ? { controls: spec.controls } : {}),
    };
    let why = "";
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const session = this.#session ?? await this.#open();
        const r = await this.#attempt(session, spec);
        if ("closed" in r) {
          why = r.closed;
          await this.#drop();
          continue;
        }
        if (attempt > 1) {
          const retried = `retried on a new connection after: ${why}`;
          r.note = r.note === undefined ? retried : `${r.note}; ${retried}`;
        }
        return { ...base, ...r };
      } catch (e) {
        await this.#drop();
        if (e instanceof ConnectionLost || e instanceof SessionFailed) {
          why = e.message;
          continue;
        }
        throw e;
      }
    }
    return { ...base, reply: why, verdict: "error", note: "no answer after one retry" };
  }

  async #attempt(
    s: Session,
    spec: ProbeSpec,
  ): Promise<Omit<ProbeResult, "id" | "mailFrom" | "rcptTo"> | { closed: string }> {
    const w = s.wire;
    const closed = (r: Reply) => ({ closed: `the server closed the connection: ${r.first}` });
    if (spec.helo !== undefined) {
      const h = await w.command(spec.helo);
      if (h.code === 421) return closed(h);
      s.defaultHelo = false;
      if (h.code < 200 || h.code > 299) {
        // Refusing to be greeted as ourselves is fine; greet normally for the next probe.
        await this.#greet(s);
        return { step: "HELO", reply: h.first, ...this.#refusal(h) };
      }
    } else if (!s.defaultHelo) {
      await this.#greet(s);
    }
    let result: Omit<ProbeResult, "id" | "mailFrom" | "rcptTo"> | { closed: string };
    const m = await w.command(`MAIL FROM:${spec.mailFrom}`);
    if (m.code === 421) return closed(m);
    if (m.code < 200 || m.code > 299) {
      result = { step: "MAIL", reply: m.first, ...this.#refusal(m) };
    } else {
      const notes: string[] = [];
      for (const c of spec.controls) {
        const r = await w.command(`RCPT TO:${c}`);
        if (r.code === 421) return closed(r);
        if (r.code < 200 || r.code > 299) {
          notes.push(`control RCPT TO:${c} was not accepted (${r.first}), so this is inconclusive`);
        }
      }
      const r = await w.command(`RCPT TO:${spec.rcptTo}`);
      if (r.code === 421) return closed(r);
      result = { step: "RCPT", reply: r.first, ...this.#refusal(r) };
      if (notes.length > 0) {
        result.note = [...notes, ...(result.note !== undefined ? [result.note] : [])].join("; ");
      }
    }
    // Always end the transaction. If RSET is not confirmed, drop the connection: a closed
    // connection aborts any open transaction (RFC 5321 §3.8), and DATA is never sent anyway.
    try {
      const rs = await w.command("RSET");
      if (rs.code !== 250) await this.#drop();
    } catch {
      await this.#drop();
    }
    return result;
  }

  #refusal(r: Reply): Pick<ProbeResult, "verdict" | "note"> {
    if (r.code >= 200 && r.code <= 299) return { verdict: "ACCEPTED" };
    if (r.code >= 500 && r.code <= 599) return { verdict: "refused" };
    if (r.code >= 400 && r.code <= 499) {
      return { verdict: "refused", note: "4xx: temporary, a server should say 5xx" };
    }
    return { verdict: "error", note: "not a valid reply to this command" };
  }
}

/**
 * Run the relay battery against `host:port` without authentication. Never sends DATA.
 * Throws only for invalid options (including a target in the server's own domain); network
 * trouble ends up in the report as "error" probes.
 */
export async function runRelayCheck(opts: RelayCheckOptions): Promise<RelayCheckReport> {
  const check = new RelayCheck(opts);
  const probes: ProbeResult[] = [];
  const report = (domain: string): RelayCheckReport => {
    const accepted = probes.filter((p) => p.verdict === "ACCEPTED").length;
    const errors = probes.filter((p) => p.verdict === "error").length;
    return {
      probes,
      accepted,
      errors,
      ok: probes.length > 0 && accepted === 0 && errors === 0,
      reconnects: check.reconnects,
      tls: check.tls,
      server: {
        host: opts.host,
        port: opts.port,
        banner: check.banner,
        domain,
        literal: check.literal,
      },
      notes: check.notes,
    };
  };
  try {
    let placeholders: Placeholders;
    try {
      placeholders = await check.start();
    } catch (e) {
      if (!(e instanceof SessionFailed)) throw e;
      probes.push({
        id: "connect",
        mailFrom: "",
        rcptTo: "",
        reply: e.message,
        verdict: "error",
        step: "connect",
      });
      return report(opts.domain ?? "");
    }
    let errorsInARow = 0;
    for (const spec of relayBattery(placeholders)) {
      if (errorsInARow >= MAX_CONSECUTIVE_ERRORS) {
        probes.push({
          id: spec.id,
          mailFrom: spec.mailFrom,
          rcptTo: spec.rcptTo,
          reply: "not attempted",
          verdict: "error",
          note: `the check stopped after ${MAX_CONSECUTIVE_ERRORS} errors in a row`,
        });
        continue;
      }
      const r = await check.probe(spec);
      errorsInARow = r.verdict === "error" ? errorsInARow + 1 : 0;
      probes.push(r);
    }
    await check.finish();
    return report(placeholders.ourDomain);
  } finally {
    await check.close();
  }
}
