import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { append, loggedIn, message, newMail } from "./_transcript.ts";

const dec = new TextDecoder();

Deno.test("a FETCH of many large bodies is handed to the transport while it runs, not held whole", async () => {
  const big = `${"x".repeat(998)}\r\n`.repeat(150); // about 150 KB per message
  const flushed: string[] = [];
  const run = async (flush: boolean) => {
    const mail = newMail();
    const c = await loggedIn(mail, "alice", {
      maxMessageBytes: 1 << 20,
      ...(flush
        ? {
          flush: (chunks: Uint8Array[]) => {
            flushed.push(chunks.map((x) => dec.decode(x)).join(""));
            return Promise.resolve(true);
          },
        }
        : {}),
    });
    for (let i = 0; i < 6; i++) await append(c, "INBOX", message(`m${i}`, big));
    await c.lines("S SELECT INBOX");
    return await c.send("F FETCH 1:* BODY.PEEK[]\r\n");
  };
  const whole = await run(false);
  assertEquals(flushed.length, 0);
  const rest = await run(true);
  // 6 x 150 KB with a 256 KiB threshold: written in at least two pieces before the end.
  assertEquals(flushed.length >= 2, true, `flushed ${flushed.length} times`);
  for (const f of flushed) assertEquals(f.startsWith("* "), true);
  // Nothing lost or reordered: the pieces and the rest are the output of the unflushed run.
  assertEquals(flushed.join("") + rest, whole);
  assertEquals(rest.endsWith("F OK FETCH completed\r\n"), true, rest.slice(-200));
});
