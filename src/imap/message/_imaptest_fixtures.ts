/**
 * Test helper: reads Dovecot imaptest scripts and their `.mbox` fixtures from
 * /work/shared/tools/imaptest/tests/ at test time (they are not copied into the project).
 *
 * - `mboxMessages(name)`: the messages of `<name>.mbox` as imaptest APPENDs them: split at
 *   `From ` lines, each message running up to the next `From ` line (so the blank separator line
 *   stays in the message), bare LF converted to CRLF.
 * - `expectedReplies(name)`: the script's expected untagged replies (`* ...` lines), with
 *   `{{{ ... }}}` multi-line blocks turned into `{n}\r\n<bytes>` literals the way imaptest does
 *   (lines joined with CRLF, the last line end dropped; `~{{{` gives `~{n}` with the
 *   script's CR bytes kept and lines joined by LF).
 * - `literalReply(name, prefix)`: the literal content of the first expected reply starting with
 *   `prefix` (case-insensitive).
 * - `fixturesAvailable()`: false when the directory is absent (tests then skip).
 *
 * @module
 */

/** Where the imaptest scripts live. */
export const IMAPTEST_DIR = "/work/shared/tools/imaptest/tests";

/** True when the imaptest fixtures can be read. */
export function fixturesAvailable(): boolean {
  try {
    return Deno.statSync(IMAPTEST_DIR).isDirectory;
  } catch {
    return false;
  }
}

const encoder = new TextEncoder();

/** The messages of an mbox fixture, CRLF line ends. */
export function mboxMessages(name: string): Uint8Array[] {
  const text = Deno.readTextFileSync(`${IMAPTEST_DIR}/${name}.mbox`);
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const messages: string[][] = [];
  for (const line of lines) {
    if (line.startsWith("From ")) messages.push([]);
    else messages[messages.length - 1]?.push(line);
  }
  return messages.map((m) => encoder.encode(m.map((l) => l + "\r\n").join("")));
}

/** Expected untagged replies of a script, with multi-line blocks as literals. */
export function expectedReplies(name: string): string[] {
  const lines = Deno.readTextFileSync(`${IMAPTEST_DIR}/${name}`).split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (!line.startsWith("* ")) continue;
    while (line.endsWith("{{{")) {
      const binary = line.endsWith("~{{{");
      const head = line.slice(0, line.length - (binary ? 4 : 3));
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i]!.startsWith("}}}"); i++) body.push(lines[i]!);
      // In a `~{{{` block the script's own CR bytes are kept and lines are joined by LF (what
      // imaptest's parser ends up doing); otherwise lines are joined by CRLF.
      const content = body.join(binary ? "\n" : "\r\n");
      const rest = (lines[i] ?? "}}}").slice(3);
      line = `${head}${binary ? "~" : ""}{${encoder.encode(content).length}}\r\n${content}${rest}`;
    }
    out.push(line);
  }
  return out;
}

/** The literal content of the first expected reply starting with `prefix`. */
export function literalReply(name: string, prefix: string): string {
  const lower = prefix.toLowerCase();
  const reply = expectedReplies(name).find((r) => r.toLowerCase().startsWith(lower));
  if (reply === undefined) throw new Error(`${name}: no reply starting with ${prefix}`);
  const m = /^~?\{(\d+)\}\r\n/.exec(reply.slice(prefix.length).trimStart());
  if (!m) throw new Error(`${name}: reply ${prefix} has no literal`);
  const start = reply.indexOf(m[0], prefix.length) + m[0].length;
  return reply.slice(start, start + Number(m[1]));
}
