import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const LOGGER = new URL("./logger.ts", import.meta.url).href;

// Run a small program that logs through setupLogging(), and return what it wrote.
async function run(body: string): Promise<{ stdout: string; stderr: string }> {
  const code = `import { flushLogs, log, setupLogging } from "${LOGGER}";\n` +
    `setupLogging({ level: "info", format: "logfmt" });\nconst l = log("t");\n${body}`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", fileURLToPath(new URL("../../deno.json", import.meta.url)), code],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return { stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("log lines: info batched to stdout in order, warnings to stderr, nothing lost at exit", async () => {
  const r = await run(`
    for (let i = 0; i < 500; i++) l.info("line {n}", { event: "x", n: i });
    l.debug("hidden", { event: "debug" });
    l.warning("careful {what}", { event: "w", what: "this" });
    l.info("last before exit", { event: "end" });
    flushLogs();
    Deno.exit(0);
  `);
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 501);
  lines.slice(0, 500).forEach((l, i) => assert.match(l, new RegExp(` msg="line ${i}" .*n=${i}$`)));
  assert.match(lines[500]!, /level=info logger=postie\.t msg="last before exit" event=end/);
  assert.doesNotMatch(r.stdout, /hidden/);
  assert.match(r.stderr, /^time=\S+ level=warning logger=postie\.t msg="careful this" event=w/);
});
