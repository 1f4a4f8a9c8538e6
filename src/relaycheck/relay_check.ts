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
/** A reply longer than this is garbage, not SMTP. */
const MAX_REPLY_BYTES = 64 * 1024;
/** The only commands this client ever sends. DATA and BDAT are deliberately absent. */
const ALLOWED_VERBS = new Set(["EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "QUIT"]);

// ---------------------------------------------------------------------------------------------
// The battery

/** The values the address forms are built from. */
export interface Placeholders {
  /** v: the local part of the target address. */
  victimLocal: string;
  /** X: the domain of the target address (lower case). */
  victimDomain: string;
  /** L: the server's domain. */
  ourDomain: string;
  /** The server's banner host name (F3, H3). */
  ourHost: string;
  /** IP: the server's address literal, `[192.0.2.25]` or `[IPv6:2001:db8::25]`. */
  ourLiteral: string;
  /** A valid local recipient, enabling R25. */
  localRecipient?: string;
}

/** One probe: an optional HELO identity, a sender, accepted-recipient controls, the probe. */
export interface ProbeSpec {
  id: string;
  /** A full HELO/EHLO command line, for identity probes. */
  helo?: string;
  /** Text after "MAIL FROM:". */
  mailFrom: string;
  /** Texts after "RCPT TO:" that a correct server accepts (local recipients). */
  controls: string[];
  /** Text after "RCPT TO:" that must be refused. */
  rcptTo: string;
}

/**
 * The probes, in order: F1-F5 x (R1-R22, R26), then R25 (when a local recipient is known),
 * R28, and the HELO/EHLO identity probes H1-H5.
 */
export function relayBattery(p: Placeholders): ProbeSpec[] {
  const v = p.victimLocal;
  const x = p.victimDomain;
  const l = p.ourDomain;
  const ip = p.ourLiteral;
  const [firstLabel, ...restLabels] = l.split(".");
  const senders: [string, string][] = [
    ["F1", "<>"], // the null sender
    ["F2", `<antispam@${l}>`], // forges our domain
    ["F3", `<antispam@${p.ourHost}>`], // forges our banner host name
    ["F4", `<antispam@${ip}>`], // forges our address literal
    ["F5", `<antispam@${x}>`], // a plain external sender
  ];
  const recipients: [string, string][] = [
    ["R1", `<${v}@${x}>`], // plain third-party relay
    ["R2", `<${v}%${x}@${l}>`], // percent hack
    ["R3", `<${v}%${x}@${ip}>`], // percent hack, our literal
    ["R4", `<"${v}@${x}">`], // quoted "@", no domain
    ["R5", `<"${v}%${x}">`], // quoted percent form, no domain
    ["R6", `<${v}@${x}@${l}>`], // double "@"
    ["R7", `<"${v}@${x}"@${l}>`], // quoted "@" in our domain
    ["R8", `<${v}@${x}@${ip}>`], // double "@", our literal
    ["R9", `<"${v}@${x}"@${ip}>`], // quoted "@", our literal
    ["R10", `<@${l}:${v}@${x}>`], // source route via us
    ["R11", `<@${ip}:${v}@${x}>`], // source route via our literal
    ["R12", `<@${l},@${x}:${v}@${x}>`], // multi-hop source route
    ["R13", `<${x}!${v}>`], // bang path, no domain
    ["R14", `<${x}!${v}@${l}>`], // bang path in our domain
    ["R15", `<${x}!${v}@${ip}>`], // bang path, our literal
    ["R16", `<${v}@[203.0.113.50]>`], // external IPv4 literal (TEST-NET-3)
    ["R17", `<${v}@[IPv6:2001:db8::50]>`], // external IPv6 literal (documentation prefix)
    ["R18", `<${v}@${x}.>`], // trailing dot
    ["R19", `<${v}@${x.toUpperCase()}>`], // upper case
    ["R20", `<${v}@${l}.${x}>`], // our domain as a prefix
    ["R21a", `<${v}@${[`evil-${firstLabel}`, ...restLabels].join(".")}>`], // suffix, no boundary
    ["R21b", `<${v}@not${l}>`], // suffix, no boundary
    ["R22", `<${v}\\@${x}@${l}>`], // backslash outside quotes
    ["R26a", ` ${v}@${x}`], // no angle brackets
    ["R26b", `<${v}@${x}> `], // trailing space
    ["R26c", `<${v}@${x}> NOTIFY=NEVER`], // a DSN parameter
  ];
  const out: ProbeSpec[] = [];
  for (const [f, mailFrom] of senders) {
    for (const [r, rcptTo] of recipients) {
      out.push({ id: `${f}x${r}`, mailFrom, controls: [], rcptTo });
    }
  }
  const plain = `<${v}@${x}>`;
  if (p.localRecipient !== undefined) {
    // One accepted local recipient must not open relaying for the next.
    out.push({ id: "R25", mailFrom: "<>", controls: [`<${p.localRecipient}>`], rcptTo: plain });
  }
  // The null sender to postmaster, then a relay recipient.
  out.push({ id: "R28", mailFrom: "<>", controls: [`<postmaster@${l}>`], rcptTo: plain });
  // Identities that pretend to be us must not grant relaying.
  const helos: [string, string][] = [
    ["H1", `EHLO ${l}`],
    ["H2", `HELO ${l}`],
    ["H3", `EHLO ${p.ourHost}`],
    ["H4", "EHLO localhost"],
    ["H5", `EHLO ${ip}`],
  ];
  for (const [h, helo] of helos) {
    out.push({ id: `${h}xR1`, helo, mailFrom: `<antispam@${l}>`, controls: [], rcptTo: plain });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Wire

interface Reply {
  code: number;
  lines: string[];
  /** The first line as received (code included), made printable. */
  first: string;
}

/** The connection is unusable: closed, reset, timed out or not speaking SMTP. */
class ConnectionLost extends Error {}

/** A session could not be opened (connect, banner, EHLO). */
class SessionFailed extends Error {}

function printable(s: string, max = 200): string {
  const t = s.replace(/[^\x20-\x7e]/g, "?");
  return t.length > max ? t.slice(0, max) + "..." : t;
}

/** `p`, or a ConnectionLost saying "timed out after `shownMs` ms `what`" after `ms`. */
async function withTimeout<T>(p: Promise<T>, ms: number, what: string, shownMs = ms): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ConnectionLost(`timed out after ${shownMs} ms ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const encoder = new TextEncoder();

/** One SMTP client connection: sends command lines, reads (multi-line) replies. */
class Wire {
  #conn: Deno.Conn;
  #buf = "";
  #decoder = new TextDecoder();
  #eof = false;
  #closed = false;
  // A read that outlived a timeout is kept: closing the connection settles it.
  #pending: Promise<Uint8Array | null> | null = null;

  constructor(conn: Deno.Conn, readonly timeoutMs: number) {
    this.#conn = conn;
  }

  #read(): Promise<Uint8Array | null> {
    this.#pending ??= (async () => {
      const b = new Uint8Array(16384);
      try {
        const n = await this.#conn.read(b);
        return n === null ? null : b.slice(0, n);
      } catch {
        return null; // reset, or closed locally
      }
    })();
    return this.#pending;
  }

  /** Read one reply (RFC 5321 §4.2.1: "ddd-text" lines, then "ddd text" or "ddd"). */
  async reply(): Promise<Reply> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const parsed = this.#parse();
      if (parsed) return parsed;
      if (this.#eof) {
        const rest = this.#buf.trim();
        throw new ConnectionLost(
          rest === ""
            ? "connection closed by the server"
            : `connection closed after "${printable(rest, 80)}"`,
        );
      }
      if (this.#buf.length > MAX_REPLY_BYTES) throw new ConnectionLost("reply too long");
      const chunk = await withTimeout(
        this.#read(),
        Math.max(0, deadline - Date.now()),
        "waiting for a reply",
        this.timeoutMs,
      );
      this.#pending = null;
      if (chunk === null) {
        this.#eof = true;
        this.#buf += this.#decoder.decode();
      } else {
        this.#buf += this.#decoder.decode(chunk, { stream: true });
      }
    }
  }

  #parse(): Reply | null {
    const lines: string[] = [];
    let pos = 0;
    let code = 0;
    for (;;) {
      const nl = this.#buf.indexOf("\n", pos);
      if (nl < 0) return null;
      const line = this.#buf.slice(pos, nl).replace(/\r$/, "");
      pos = nl + 1;
      const m = /^(\d{3})([ -]|$)(.*)$/.exec(line);
      if (!m) throw new ConnectionLost(`not an SMTP reply: "${printable(line, 80)}"`);
      const c = Number(m[1]);
      if (lines.length > 0 && c !== code) {
        throw new ConnectionLost(`inconsistent multi-line reply: "${printable(line, 80)}"`);
      }
      code = c;
      lines.push(line);
      if (m[2] !== "-") {
        this.#buf = this.#buf.slice(pos);
        return { code, lines, first: printable(lines[0]!) };
      }
    }
  }

  async send(line: string): Promise<void> {
    const verb = line.split(" ", 1)[0]!.toUpperCase();
    // The safety property of the whole tool: nothing but these commands ever leaves.
    if (!ALLOWED_VERBS.has(verb) || /[\r\n]/.test(line)) {
      throw new Error(`relay-check refuses to send ${JSON.stringify(line)}`);
    }
    const bytes = encoder.encode(line + "\r\n");
    try {
      await withTimeout(
        (async () => {
          let off = 0;
          while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
        })(),
        this.timeoutMs,
        "sending a command",
      );
    } catch (e) {
      if (e instanceof ConnectionLost) throw e;
      throw new ConnectionLost(`send failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  async command(line: string): Promise<Reply> {
    await this.send(line);
    return await this.reply();
  }

  /** Upgrade to TLS after the 220 reply to STARTTLS. */
  async startTls(serverName: string): Promise<void> {
    // RFC 3207 §4.2: anything received before the handshake is discarded (and would be an
    // injection attempt).
    this.#buf = "";
    const tls = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname: serverName,
      unsafelyDisableHostnameVerification: true,
    });
    this.#conn = tls;
    await withTimeout(tls.handshake(), this.timeoutMs, "in the TLS handshake");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    if (this.#pending) await this.#pending;
    this.#pending = null;
  }
}

// ---------------------------------------------------------------------------------------------
// The check

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

function shown(arg: string): string {
  return /^\s|\s$|[^\x20-\x7e]/.test(arg) ? JSON.stringify(arg) : arg;
}

/** A human-readable report: a header, one line per probe, notes and a summary line. */
export function formatReport(r: RelayCheckReport): string {
  const out: string[] = [];
  const s = r.server;
  out.push(
    `relay-check ${s.host}:${s.port}  banner: ${s.banner || "(none)"}`,
    `  domain L=${s.domain || "?"}  literal IP=${s.literal || "?"}  TLS: ${r.tls}`,
  );
  for (const p of r.probes) {
    const cmds: string[] = [];
    if (p.helo !== undefined) cmds.push(p.helo);
    if (p.step !== "connect") {
      cmds.push(`MAIL FROM:${shown(p.mailFrom)}`);
      for (const c of p.controls ?? []) cmds.push(`RCPT TO:${shown(c)}`);
      cmds.push(`RCPT TO:${shown(p.rcptTo)}`);
    }
    const at = p.step === "MAIL" || p.step === "HELO" ? `${p.step}: ` : "";
    const note = p.note !== undefined ? `  (${p.note})` : "";
    out.push(
      `${p.verdict.padEnd(8)} ${p.id.padEnd(9)} ${cmds.join(" ")}  -> ${at}${p.reply}${note}`,
    );
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  const refused = r.probes.filter((p) => p.verdict === "refused").length;
  const soft = r.probes.filter((p) => p.verdict === "refused" && /^4/.test(p.reply)).length;
  out.push(
    `${r.ok ? "PASS" : "FAIL"}: ${r.probes.length} probes, ${refused} refused` +
      (soft > 0 ? ` (${soft} only with 4xx)` : "") +
      `, ${r.accepted} ACCEPTED, ${r.errors} errors; ${r.reconnects} reconnects` +
      (r.accepted > 0
        ? ". The server relays for unauthenticated clients: it is an OPEN RELAY."
        : r.ok
        ? ". No relay attempt was accepted."
        : ". The check is incomplete; see the errors above."),
  );
  return out.join("\n") + "\n";
}
