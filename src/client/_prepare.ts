/**
 * The local checks before any connection is made for a delivery: the options (a programming
 * error is a TypeError), the addresses (nothing that could break a command line, SMUGGLING.md
 * "As a sender or relay") and the content (no NUL), and the timeouts to use. Private to
 * src/client.
 *
 * @module
 */

import net from "node:net";
import {
  type ClientOptions,
  type ClientTimeouts,
  DEFAULT_TIMEOUTS,
  type Envelope,
} from "./client_options.ts";
import type { DeliveryResult, RecipientResult } from "./delivery_result.ts";
import { recipientFrom } from "./_attempt.ts";
import { Failure } from "./_failure.ts";

/** Checked options and envelope, or the result when nothing needs to be sent. */
export type Prepared =
  | { done: DeliveryResult }
  | { timeouts: ClientTimeouts; results: (RecipientResult | undefined)[] };

/**
 * The local checks before any connection: options (TypeError for a programming error), the
 * addresses and the content. Recipients that cannot be sent get their result here.
 */
export function prepare(
  opts: ClientOptions,
  env: Envelope,
  content: readonly Uint8Array[],
): Prepared {
  if (net.isIP(opts.host) === 0) {
    throw new TypeError(
      `Cannot deliver: "host" must be an IP literal: current value is "${opts.host}"`,
    );
  }
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
    throw new TypeError(`Cannot deliver: "port" must be 1-65535: current value is ${opts.port}`);
  }
  // RFC 5321 §4.1.1.1: a domain or an address literal; printable ASCII, one word.
  if (!/^[\x21-\x7e]{1,255}$/.test(opts.helo)) {
    throw new TypeError(
      `Cannot deliver: "helo" must be a host name: current value is "${opts.helo}"`,
    );
  }
  const timeouts: ClientTimeouts = { ...DEFAULT_TIMEOUTS };
  for (const [k, v] of Object.entries(opts.timeouts ?? {})) {
    if (typeof v === "number" && v > 0) timeouts[k as keyof ClientTimeouts] = v;
  }

  const results: (RecipientResult | undefined)[] = env.to.map((a) =>
    validPath(a) ? undefined : recipientFrom(
      a,
      // RFC 3463 X.1.3 "bad destination mailbox address syntax".
      new Failure(
        553,
        "5.1.3",
        "recipient address cannot be sent in an SMTP command",
        false,
        "RCPT TO",
      ),
    )
  );
  const refuse = (f: Failure): Prepared => ({
    done: {
      recipients: env.to.map((a, i) => results[i] ?? recipientFrom(a, f)),
      connectionError: { text: f.describe(), permanent: f.permanent },
    },
  });
  if (env.from !== "" && !validPath(env.from)) {
    // RFC 3463 X.1.7 "bad sender's mailbox address syntax".
    return refuse(
      new Failure(
        553,
        "5.1.7",
        "sender address cannot be sent in an SMTP command",
        false,
        "MAIL FROM",
      ),
    );
  }
  if (content.some((c) => c.includes(0))) {
    // SMUGGLING.md rule 6: a NUL is never transmitted; the caller should have refused it.
    return refuse(new Failure(554, "5.6.0", "message contains NUL octets", false, "DATA"));
  }
  if (results.every((r) => r !== undefined)) {
    return { done: { recipients: results as RecipientResult[] } };
  }
  return { timeouts, results };
}

/**
 * A path usable inside "<...>": no control characters (CR, LF, NUL included), no angle
 * brackets, no spaces outside a quoted local part, and at most one "@" outside quotes at the
 * domain. This is a guard for the command line, not a full RFC 5321 §4.1.2 parser: addresses
 * were parsed when they were accepted.
 */
function validPath(addr: string): boolean {
  // deno-lint-ignore no-control-regex
  if (addr.length > 1000 || /[\x00-\x1f\x7f<>]/.test(addr)) return false;
  const at = addr.lastIndexOf("@");
  if (at <= 0 || at === addr.length - 1) return false;
  const local = addr.slice(0, at);
  const domain = addr.slice(at + 1);
  if (/[\s@"\\]/.test(domain)) return false;
  if (local.startsWith('"')) return /^"(?:[^"\\]|\\.)*"$/.test(local);
  return !/[\s"\\@(),:;[\]]/.test(local);
}
