/**
 * SMTP AUTH as the client (RFC 4954): PLAIN (RFC 4616) or LOGIN, with the smarthost's
 * credentials, only over TLS whose certificate verified.
 *
 * @module
 */

import type { Reply } from "../smtp/reply.ts";
import type { Connection } from "./connection.ts";
import type { Extensions } from "./session.ts";
import type { Attempt } from "./_attempt.ts";
import { Failure, unexpected } from "./_failure.ts";

const encoder = new TextEncoder();

/**
 * RFC 4954 AUTH with PLAIN (RFC 4616) or LOGIN. Credentials only go over TLS whose
 * certificate verified (RFC 8314 §3 asks for TLS; a certificate nobody checked would hand the
 * password to whoever sits in the middle).
 */
export async function authenticate(
  conn: Connection,
  auth: { username: string; password: string },
  ext: Extensions,
  timeoutMs: number,
  attempt: Attempt,
  enhanced: boolean,
): Promise<void> {
  const stage = "AUTH";
  if (!attempt.tls) {
    // RFC 4954 §6's 538 5.7.11 "encryption required for requested authentication mechanism".
    throw new Failure(
      538,
      "5.7.11",
      "refusing to send credentials without TLS",
      false,
      stage,
    );
  }
  if (!attempt.tls.authorized) {
    const why = attempt.tls.authorizationError ?? "not verified";
    throw new Failure(
      421,
      "4.7.5",
      `refusing to send credentials: TLS certificate not verified: ${why}`,
      false,
      stage,
    );
  }
  if (auth.username.includes("\0") || auth.password.includes("\0")) {
    // RFC 4616 §2: NUL separates the fields and cannot be part of them.
    throw new Failure(554, "5.7.8", "credentials contain NUL", false, stage);
  }
  const mechs = (ext.get("AUTH") ?? []).map((m) => m.toUpperCase());
  const b64 = (s: string) => encodeBase64(encoder.encode(s));
  let r: Reply;
  if (mechs.includes("PLAIN")) {
    // RFC 4616 §2: [authzid] NUL authcid NUL passwd; RFC 4954 §4: as initial response.
    const resp = b64(`\0${auth.username}\0${auth.password}`);
    await conn.write(`AUTH PLAIN ${resp}\r\n`, timeoutMs, stage);
    r = await conn.readReply(timeoutMs, stage, enhanced);
    if (r.code === 334) {
      // A server that ignored the initial response asks for it.
      await conn.write(`${resp}\r\n`, timeoutMs, stage);
      r = await conn.readReply(timeoutMs, stage, enhanced);
    }
  } else if (mechs.includes("LOGIN")) {
    // draft-murchison-sasl-login: username and password, each in answer to a 334.
    await conn.write("AUTH LOGIN\r\n", timeoutMs, stage);
    r = await conn.readReply(timeoutMs, stage, enhanced);
    if (r.code === 334) {
      await conn.write(`${b64(auth.username)}\r\n`, timeoutMs, stage);
      r = await conn.readReply(timeoutMs, stage, enhanced);
    }
    if (r.code === 334) {
      await conn.write(`${b64(auth.password)}\r\n`, timeoutMs, stage);
      r = await conn.readReply(timeoutMs, stage, enhanced);
    }
  } else {
    const offered = mechs.length ? mechs.join(" ") : "none";
    throw new Failure(
      421,
      "4.7.0",
      `server offers no usable AUTH mechanism (offered: ${offered})`,
      false,
      stage,
    );
  }
  if (r.code === 334) {
    // Still asking: cancel the exchange (RFC 4954 §4) and give up.
    await conn.write("*\r\n", timeoutMs, stage);
    await conn.readReply(timeoutMs, stage, enhanced);
    throw new Failure(421, "4.7.0", "unexpected AUTH challenge", false, stage);
  }
  if (r.code !== 235) throw unexpected(r, stage); // RFC 4954 §6: 235 2.7.0 success
}

function encodeBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
