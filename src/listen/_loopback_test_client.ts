/**
 * Test helpers of `src/listen/`: the client end of loopback connections, plain and TLS, so the
 * layer's tests talk to real sockets.
 *
 * @module
 */

import tls from "node:tls";

/**
 * Text read from `conn`: everything until the peer closes (a reset counts as closed), or only
 * until `lines` CRLF-ended lines have come. Fails after `timeoutMs`.
 */
export async function readText(conn: Deno.Conn, lines?: number, timeoutMs = 3000): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (lines === undefined || text.split("\r\n").length <= lines) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), Math.max(0, deadline - Date.now()));
    });
    const n = await Promise.race([conn.read(buf).catch(() => null), timeout]);
    clearTimeout(timer);
    if (n === "timeout") throw new Error(`no more text after ${JSON.stringify(text)}`);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

/** What a TLS client saw: whether `caPem` vouches for the certificate, and the first line. */
export interface HandshakeResult {
  authorized: boolean;
  greeting?: string;
}

/**
 * Connect with implicit TLS (or over `socket`, already connected, for STARTTLS), trusting only
 * `caPem`; read the first line when the certificate is trusted, then end the connection.
 */
export function tlsHandshake(
  port: number,
  servername: string,
  caPem: string,
  socket?: import("node:net").Socket,
): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      ...(socket ? { socket } : { host: "127.0.0.1", port }),
      servername,
      ca: [caPem],
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new Error("TLS handshake timed out"));
    }, 3000);
    const done = (r: HandshakeResult) => {
      clearTimeout(timer);
      secure.end(() => secure.destroy());
      resolve(r);
    };
    secure.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    secure.once("secureConnect", () => {
      if (!secure.authorized) return done({ authorized: false });
      let greeting = "";
      secure.on("data", (d: Uint8Array) => {
        greeting += new TextDecoder().decode(d);
        if (greeting.endsWith("\r\n")) done({ authorized: true, greeting });
      });
    });
  });
}
