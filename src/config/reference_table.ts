/**
 * The README's configuration reference, generated from the schema: one row per key with its
 * default and its line of doc. A test keeps the README's table equal to it.
 *
 * Run `deno task config:doc` to rewrite the table in README.md (or with no file argument, to
 * print it).
 *
 * @module
 */

import { SCHEMA } from "./schema.ts";
import { type Key, schemaKeys } from "./schema_reader.ts";

/** The heading the table stands under in README.md. */
export const REFERENCE_HEADING = "## Configuration reference";

/** The README's default column for one key. */
function shownDefault(key: Key<unknown>): string {
  if (key.shown !== undefined) return key.shown;
  if (key.presence === "required") return "required";
  const v = key.defaultValue;
  const items = Array.isArray(v) ? v : typeof v === "object" && v !== null ? Object.keys(v) : [v];
  if (items.length === 0) return "none";
  return items.map((x) => typeof x === "string" ? `\`${x}\`` : String(x)).join(", ");
}

/** The rows of the reference: key (as code), default, meaning. */
export function referenceRows(): [string, string, string][] {
  return schemaKeys(SCHEMA).map(({ path, key }) => [`\`${path}\``, shownDefault(key), key.doc]);
}

/** The reference as a Markdown table, aligned as `deno fmt` writes it. */
export function referenceTable(): string {
  const rows: string[][] = [["key", "default", "meaning"], ...referenceRows()];
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => `| ${cells.map((x, c) => x.padEnd(widths[c]!)).join(" | ")} |`;
  const [head, ...body] = rows;
  return [line(head!), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/** The table found under {@link REFERENCE_HEADING} in a README: its lines, and where they are. */
export function findTable(readme: string): { start: number; end: number; rows: string[][] } {
  const lines = readme.split("\n");
  const heading = lines.indexOf(REFERENCE_HEADING);
  if (heading < 0) throw new Error(`no "${REFERENCE_HEADING}" in the README`);
  let start = heading + 1;
  while (start < lines.length && !lines[start]!.startsWith("|")) start++;
  let end = start;
  while (end < lines.length && lines[end]!.startsWith("|")) end++;
  const rows = lines.slice(start + 2, end).map((l) =>
    l.slice(1, -1).split("|").map((cell) => cell.trim())
  );
  return { start, end, rows };
}

/** `readme` with its configuration reference table replaced by the generated one. */
export function withReferenceTable(readme: string): string {
  const { start, end } = findTable(readme);
  const lines = readme.split("\n");
  return [...lines.slice(0, start), referenceTable(), ...lines.slice(end)].join("\n");
}

if (import.meta.main) {
  const file = Deno.args[0];
  if (file === undefined) {
    await Deno.stdout.write(new TextEncoder().encode(referenceTable() + "\n"));
  } else {
    await Deno.writeTextFile(file, withReferenceTable(await Deno.readTextFile(file)));
  }
}
