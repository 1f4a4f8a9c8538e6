import assert from "node:assert/strict";
import { SCHEMA } from "./schema.ts";
import { schemaKeys } from "./schema_reader.ts";
import { findTable, referenceRows, referenceTable, withReferenceTable } from "./reference_table.ts";

const readmeUrl = new URL("../../README.md", import.meta.url);

Deno.test("the README's configuration reference lists exactly the schema's keys, as generated", async () => {
  const readme = await Deno.readTextFile(readmeUrl);
  const { rows } = findTable(readme);
  // Compared cell by cell, so the message names the missing, extra or outdated key.
  assert.deepEqual(rows, referenceRows(), "README.md is out of date: run deno task config:doc");
  assert.equal(withReferenceTable(readme), readme, "run deno task config:doc");
});

Deno.test("every key of the schema has one line of doc that fits a table cell", () => {
  for (const { path, key } of schemaKeys(SCHEMA)) {
    assert.ok(key.doc.trim() !== "", path);
    assert.doesNotMatch(key.doc, /[|\n]/, path);
    assert.doesNotMatch(key.shown ?? "", /[|\n]/, path);
  }
});

Deno.test("referenceTable() has a header, a rule, and a row per key with the default column", () => {
  const lines = referenceTable().split("\n");
  assert.match(lines[0]!, /^\| key +\| default +\| meaning +\|$/);
  assert.match(lines[1]!, /^\| -+ \| -+ \| -+ \|$/);
  assert.equal(lines.length, 2 + schemaKeys(SCHEMA).length);
  const row = (key: string) => referenceRows().find((r) => r[0] === `\`${key}\``)?.[1];
  assert.equal(row("hostname"), "required");
  assert.equal(row("limits.max_recipients"), "100");
  assert.equal(row("listen.smtp"), "`0.0.0.0:25`, `[::]:25`");
  assert.equal(row("aliases"), "none");
  assert.equal(row("authserv_id"), "the hostname");
});
