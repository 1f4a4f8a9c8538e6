/**
 * The relay-check report as text: a header, one line per probe, the notes and a summary line.
 *
 * @module
 */

import type { RelayCheckReport } from "./relay_check.ts";

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
