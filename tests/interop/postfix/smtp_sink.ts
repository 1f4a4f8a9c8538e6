/**
 * Postfix's `smtp-sink` test server on a loopback port, dumping every mail transaction to a
 * file (`-d`). Each dump starts with X-Client-Addr, X-Client-Proto, X-Helo-Args,
 * X-Mail-Args and one X-Rcpt-Args per recipient, then smtp-sink's own Received header, then
 * the message as received (dot-unstuffed, LF line ends).
 *
 * smtp-sink has no STARTTLS, so a client that uses it opportunistically talks plain SMTP.
 * As root it insists on dropping privileges (`-u`); the dump directory then belongs to that
 * user. `-h` sets the name it announces (otherwise it would be "smtp-sink"; either way no
 * name is looked up).
 *
 * @module
 */

import { join } from "node:path";
import { currentUser, freePort, systemUser } from "../tools.ts";
import { canConnect, postfixProgram, sleep } from "./processes.ts";

/** A dump file of one transaction. */
export interface SinkDump {
  path: string;
  text: string;
}

/** What {@link RunningSink.stop} found. */
export interface SinkStopReport {
  signal: Deno.Signal | null;
  /** What smtp-sink printed (nothing, normally). */
  output: string;
  listening: boolean;
  dirRemoved: boolean;
}

/** A running smtp-sink. */
export interface RunningSink {
  port: number;
  pid: number;
  /** Every dump file so far, sorted by name. */
  dumps(): Promise<SinkDump[]>;
  /** SIGTERM, reap, remove the directory. */
  stop(): Promise<SinkStopReport>;
}

/** Start `smtp-sink` on 127.0.0.1 with a private dump directory. */
export async function startSmtpSink(hostname = "sink.test"): Promise<RunningSink> {
  const program = await postfixProgram("smtp-sink");
  const root = (await currentUser()).uid === 0;
  const dir = await Deno.makeTempDir({ prefix: "postie-smtp-sink-" });
  const dumpDir = join(dir, "dump");
  try {
    await Deno.mkdir(dumpDir);
    const user = root ? ["-u", "nobody"] : [];
    if (root) {
      const nobody = await systemUser("nobody");
      await Deno.chmod(dir, 0o711);
      await Deno.chown(dumpDir, nobody.uid, nobody.gid);
    }
    const port = freePort();
    const child = new Deno.Command(program, {
      args: [
        "-4",
        ...user,
        "-h",
        hostname,
        // strftime template, then smtp-sink appends a random hex number per transaction.
        "-d",
        join(dumpDir, "msg."),
        `127.0.0.1:${port}`,
        "10",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let output = "";
    const dec = new TextDecoder();
    const pump = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s) output += dec.decode(c, { stream: true });
    };
    const readers = Promise.all([pump(child.stdout), pump(child.stderr)]);
    let exited: Deno.CommandStatus | null = null;
    const status = child.status.then((s) => exited = s);

    let stopped: Promise<SinkStopReport> | null = null;
    const stop = (): Promise<SinkStopReport> => {
      stopped ??= (async () => {
        if (exited === null) {
          try {
            child.kill("SIGTERM");
          } catch {
            // exited meanwhile
          }
        }
        const hard = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // exited meanwhile
          }
        }, 5000);
        const s = await status;
        clearTimeout(hard);
        await readers.catch(() => {});
        const listening = await canConnect(port);
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        const dirRemoved = await Deno.stat(dir).then(() => false, () => true);
        return { signal: s.signal, output, listening, dirRemoved };
      })();
      return stopped;
    };

    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port))) {
      if (exited !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`smtp-sink did not listen on 127.0.0.1:${port}\n${output}`);
      }
      await sleep(50);
    }

    return {
      port,
      pid: child.pid,
      async dumps() {
        const out: SinkDump[] = [];
        for await (const e of Deno.readDir(dumpDir)) {
          const path = join(dumpDir, e.name);
          if (e.isFile) out.push({ path, text: await Deno.readTextFile(path) });
        }
        return out.sort((a, b) => a.path < b.path ? -1 : 1);
      },
      stop,
    };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}
