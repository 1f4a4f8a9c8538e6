/**
 * A scriptable fake SMTP server for the relay-check tests: it records the commands of every
 * connection and answers them as told (an open relay by default). Test-only; private to
 * src/relaycheck.
 *
 * @module
 */

/** How the fake answers. */
export interface FakeOptions {
  banner?: string;
  /** Reply to MAIL (default 250). */
  mail?: (arg: string) => string;
  /** Reply to RCPT (default 250: an open relay). */
  rcpt?: (arg: string) => string;
  /** After this many commands on one connection, answer 421 and close. */
  closeAfter?: number;
  /** Offer STARTTLS in EHLO (answered with 454). */
  offerTls?: boolean;
  /** Greet, then read commands without ever answering. */
  silent?: boolean;
}

/** A running fake. */
export interface Fake {
  port: number;
  /** Commands per connection, in order. */
  sessions: string[][];
  /** Whether any DATA or BDAT command was ever received. */
  sawData: boolean;
  close(): Promise<void>;
}

/** Listens on a free loopback port and serves every connection as `o` says. */
export function startFake(o: FakeOptions = {}): Fake {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const handlers: Promise<void>[] = [];
  const fake: Fake = {
    port: (listener.addr as Deno.NetAddr).port,
    sessions: [],
    sawData: false,
    async close() {
      listener.close();
      await accepting;
      await Promise.all(handlers);
    },
  };
  const enc = new TextEncoder();
  const handle = async (conn: Deno.Conn) => {
    const cmds: string[] = [];
    fake.sessions.push(cmds);
    const write = async (s: string) => {
      const b = enc.encode(s);
      let off = 0;
      while (off < b.length) off += await conn.write(b.subarray(off));
    };
    try {
      await write(`${o.banner ?? "220 fake.relay.example ESMTP fake"}\r\n`);
      if (!(o.banner ?? "220").startsWith("220")) return;
      const dec = new TextDecoder();
      let buf = "";
      const chunk = new Uint8Array(4096);
      for (;;) {
        const n = await conn.read(chunk);
        if (n === null) return;
        buf += dec.decode(chunk.subarray(0, n));
        let nl;
        while ((nl = buf.indexOf("\r\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          cmds.push(line);
          if (o.silent) continue;
          const verb = line.split(/[ :]/, 1)[0]!.toUpperCase();
          const arg = line.slice(line.indexOf(":") + 1);
          if (o.closeAfter !== undefined && cmds.length > o.closeAfter) {
            await write("421 4.7.0 fake.relay.example Too many commands, closing\r\n");
            return;
          }
          switch (verb) {
            case "EHLO":
              await write(
                "250-fake.relay.example hello\r\n250-PIPELINING\r\n" +
                  (o.offerTls ? "250-STARTTLS\r\n" : "") + "250 8BITMIME\r\n",
              );
              break;
            case "HELO":
              await write("250 fake.relay.example\r\n");
              break;
            case "STARTTLS":
              await write("454 4.7.0 TLS not available\r\n");
              break;
            case "MAIL":
              await write(`${o.mail?.(arg) ?? "250 2.1.0 Ok"}\r\n`);
              break;
            case "RCPT":
              await write(`${o.rcpt?.(arg) ?? "250 2.1.5 Ok"}\r\n`);
              break;
            case "DATA":
            case "BDAT":
              fake.sawData = true;
              await write("354 End data with <CR><LF>.<CR><LF>\r\n");
              break;
            case "RSET":
              await write("250 2.0.0 Ok\r\n");
              break;
            case "QUIT":
              await write("221 2.0.0 Bye\r\n");
              return;
            default:
              await write("500 5.5.2 Command not recognized\r\n");
          }
        }
      }
    } catch {
      // the client went away
    } finally {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) handlers.push(handle(conn));
    } catch {
      // listener closed
    }
  })();
  return fake;
}
