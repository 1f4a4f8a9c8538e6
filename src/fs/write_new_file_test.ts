import assert from "node:assert/strict";
import { join } from "node:path";
import { pathExists } from "./path_exists.ts";
import { writeNewFile } from "./write_new_file.ts";

Deno.test("writeNewFile() creates a file with its mode and never replaces one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postie-write-new-" });
  try {
    const path = join(dir, "f");
    assert.equal(await pathExists(path), false);
    await writeNewFile(path, "one", 0o600);
    assert.equal(await pathExists(path), true);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await assert.rejects(writeNewFile(path, "two", 0o600), Deno.errors.AlreadyExists);
    assert.equal(await Deno.readTextFile(path), "one");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
