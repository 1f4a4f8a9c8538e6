/**
 * One mail transaction on a ready {@link Session} (RFC 5321 §3.3): the local refusals first
 * (SIZE, RFC 1870 §6; SMTPUTF8, RFC 6531 §3.4), then MAIL, RCPT for each recipient and DATA,
 * pipelined when PIPELINING is offered (RFC 2920), the content from {@link encodeData}, and
 * the replies read into per-recipient results.
 *
 * @module
 */

import type { Reply } from "../smtp/reply.ts";
import type { ClientTimeouts, Envelope } from "./client_options.ts";
import type { Connection } from "./connection.ts";
import { encodeData } from "./encode_data.ts";
import type { Extensions, Outcome, Session } from "./session.ts";
import { type Attempt, recipientFromReply } from "./_attempt.ts";
import { asFailure, Failure, quitAfter, unexpected } from "./_failure.ts";

/** Content is written in blocks of this size; each block has the dataBlock timeout. */
const WRITE_BLOCK = 64 * 1024;

/**
 * One mail transaction on a ready session, with the local checks first. Failures go into
 * `attempt`; the result tells what state the session is in.
 */
export async function runTransaction(
  s: Session,
  env: Envelope,
  content: readonly Uint8Array[],
  t: ClientTimeouts,
  attempt: Attempt,
): Promise<Outcome> {
  s.transactions++;
  const refusal = localRefusal(s.ext, env);
  if (refusal) {
    attempt.failure = refusal; // nothing was sent: the session stays clean
    return "clean";
  }
  try {
    return await transact(s, env, content, t, attempt);
  } catch (e) {
    const f = asFailure(e);
    attempt.failure = f;
    return quitAfter(f) ? "dirty" : "broken";
  }
}

/** Whether `env` needs SMTPUTF8 (RFC 6531 §3.4): said so, or non-ASCII in an address. */
function needsSmtpUtf8(env: Envelope): boolean {
  return env.smtputf8 || hasNonAscii(env.from) || env.to.some(hasNonAscii);
}

/**
 * What the server announced it cannot take, checked before MAIL: a message above its SIZE
 * (RFC 1870 §6; SIZE 0 means no limit), or one that needs SMTPUTF8 when that is not offered
 * (RFC 6531 §3.4).
 */
function localRefusal(ext: Extensions, env: Envelope): Failure | undefined {
  const sizeParam = ext.get("SIZE");
  if (sizeParam !== undefined) {
    const limit = /^\d{1,15}$/.test(sizeParam[0] ?? "") ? Number(sizeParam[0]) : 0;
    if (limit > 0 && env.size > limit) {
      return new Failure(
        552,
        "5.3.4",
        `message too big for remote server: ${env.size} octets, limit ${limit}`,
        false,
        "SIZE check",
      );
    }
  }
  const needUtf8 = needsSmtpUtf8(env);
  if (needUtf8 && !ext.has("SMTPUTF8")) {
    // RFC 6531 §3.4 (and §3.2 for the code): without SMTPUTF8 at the server the message cannot
    // be sent as is; we do not downgrade, so it is returned.
    return new Failure(
      553,
      "5.6.7",
      "message needs SMTPUTF8 (non-ASCII addresses or headers), which the remote server does not support",
      false,
      "SMTPUTF8 check",
    );
  }

  return undefined;
}

/**
 * The mail transaction itself (RFC 5321 §3.3): MAIL, RCPT for each recipient, DATA, the
 * content. Throws a {@link Failure} to end the session; fills `attempt.results` as recipients
 * are answered.
 */
async function transact(
  s: Session,
  env: Envelope,
  content: readonly Uint8Array[],
  t: ClientTimeouts,
  attempt: Attempt,
): Promise<Outcome> {
  const { conn, ext } = s;
  const enhanced = () => ext.has("ENHANCEDSTATUSCODES"); // RFC 2034 §3
  const sizeParam = ext.get("SIZE");
  const needUtf8 = needsSmtpUtf8(env);
  // MAIL FROM:<path> [SP params] (RFC 5321 §4.1.1.2)
  let mail = `MAIL FROM:<${env.from}>`;
  if (sizeParam !== undefined && Number.isSafeInteger(env.size) && env.size >= 0) {
    mail += ` SIZE=${env.size}`; // RFC 1870 §4
  }
  if (env.eightBit && ext.has("8BITMIME")) {
    mail += " BODY=8BITMIME"; // RFC 6152 §2
  }
  // When 8BITMIME is not offered, 8-bit content goes out without BODY=: RFC 6152 §3 would
  // have us convert to 7 bit or bounce; like Postfix, we send it and let the server decide.
  if (needUtf8) mail += " SMTPUTF8"; // RFC 6531 §3.4
  const todo: number[] = [];
  env.to.forEach((_, i) => {
    if (attempt.results[i] === undefined) todo.push(i);
  });
  const rcptLine = (i: number) => `RCPT TO:<${env.to[i]}>\r\n`; // RFC 5321 §4.1.1.3

  let accepted: number[] = [];
  let dataReply: Reply | null = null;
  if (ext.has("PIPELINING")) {
    // RFC 2920 §3.1: MAIL, every RCPT and DATA (last in the group) in one write; the replies
    // come back in order.
    await conn.write(`${mail}\r\n${todo.map(rcptLine).join("")}DATA\r\n`, t.mail, "MAIL FROM");
    const m = await conn.readReply(t.mail, "MAIL FROM", enhanced());
    if (m.code < 200 || m.code >= 300) throw unexpected(m, "MAIL FROM");
    attempt.early = false;
    accepted = await readRcptReplies(conn, env, todo, t.rcpt, attempt, enhanced());
    dataReply = await conn.readReply(t.data, "DATA", enhanced());
    if (dataReply.code === 354 && accepted.length === 0) {
      // RFC 2920 §3.1: DATA was accepted with no recipient; end it with an empty message.
      await conn.write(".\r\n", t.dataBlock, "DATA");
      const end = await conn.readReply(t.dataEnd, "end of data", enhanced());
      return end.code === 421 ? "broken" : "clean";
    }
  } else {
    await conn.write(`${mail}\r\n`, t.mail, "MAIL FROM");
    const m = await conn.readReply(t.mail, "MAIL FROM", enhanced());
    if (m.code < 200 || m.code >= 300) throw unexpected(m, "MAIL FROM");
    attempt.early = false;
    for (const i of todo) {
      await conn.write(rcptLine(i), t.rcpt, "RCPT TO");
      accepted.push(...await readRcptReplies(conn, env, [i], t.rcpt, attempt, enhanced()));
    }
    if (accepted.length > 0) {
      await conn.write("DATA\r\n", t.data, "DATA");
      dataReply = await conn.readReply(t.data, "DATA", enhanced());
    }
  }
  // No recipient accepted: no DATA (or its refusal is expected); every result is known. The
  // transaction MAIL opened is still there.
  if (accepted.length === 0) return "rset";
  if (dataReply!.code !== 354) throw unexpected(dataReply!, "DATA");

  // RFC 5321 §4.1.1.4: the content, dot-stuffed, then CRLF.CRLF.
  const data = encodeData(content);
  for (let off = 0; off < data.length; off += WRITE_BLOCK) {
    await conn.write(data.subarray(off, off + WRITE_BLOCK), t.dataBlock, "DATA content");
  }
  const final = await conn.readReply(t.dataEnd, "end of data", enhanced());
  // RFC 5321 §4.1.1.4: one reply for the whole message, for every accepted recipient.
  for (const i of accepted) attempt.results[i] = recipientFromReply(env.to[i]!, final);
  return final.code === 421 ? "broken" : "clean";
}

/** Read RCPT replies for `indexes`; return those accepted. A 421 ends the attempt. */
async function readRcptReplies(
  conn: Connection,
  env: Envelope,
  indexes: number[],
  timeoutMs: number,
  attempt: Attempt,
  enhanced: boolean,
): Promise<number[]> {
  const accepted: number[] = [];
  for (const i of indexes) {
    const r = await conn.readReply(timeoutMs, "RCPT TO", enhanced);
    // RFC 5321 §4.2.5: 251 and 252 are acceptances too.
    if (r.code >= 200 && r.code < 300) {
      accepted.push(i);
    } else if (r.code >= 400) {
      attempt.results[i] = recipientFromReply(env.to[i]!, r);
      if (r.code === 421) throw Failure.reply(r, "RCPT TO");
    } else {
      throw unexpected(r, "RCPT TO");
    }
  }
  return accepted;
}

function hasNonAscii(s: string): boolean {
  // deno-lint-ignore no-control-regex
  return /[^\x00-\x7f]/.test(s);
}
