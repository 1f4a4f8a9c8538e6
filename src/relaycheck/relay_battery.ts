/**
 * The relay-check battery: the open-relay tricks `postie relay-check` tries, as probe specs built
 * from a few placeholders (the target address, the server's domain, host name and address
 * literal). MAIL FROM forms F1-F5 are crossed with RCPT TO forms R1-R22 and R26; then come the
 * whole-session probes R25 and R28 and the HELO/EHLO identities H1-H5 that pretend to be the
 * server. Pure data: nothing here touches the network.
 *
 * @module
 */

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
