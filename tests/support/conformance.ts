/**
 * Reading the shared conformance data (../shared/conformance, beside the repository) at run
 * time; nothing of it is copied into the project.
 *
 * @module
 */

/** One end-of-data variant of SMUGGLING.md's table. */
export interface SmugglingVariant {
  n: number;
  name: string;
  bytes: Uint8Array;
}

const SMUGGLING_MD = new URL("../../../shared/conformance/smtp/SMUGGLING.md", import.meta.url);

/** Parse the variant table ("| 5 | lfcrlf | `0A 2E 0D 0A` | ...") of SMUGGLING.md. */
export function parseSmugglingVariants(md: string): SmugglingVariant[] {
  const out: SmugglingVariant[] = [];
  for (const line of md.split("\n")) {
    const m = /^\|\s*(\d+)\s*\|([^|]*)\|\s*`([0-9A-Fa-f]{2}(?: [0-9A-Fa-f]{2})*)`\s*\|/.exec(line);
    if (!m) continue;
    out.push({
      n: Number(m[1]),
      name: m[2]!.trim(),
      bytes: Uint8Array.from(m[3]!.split(" "), (h) => parseInt(h, 16)),
    });
  }
  return out;
}

/** The twelve variants, read from the shared conformance text. */
export async function smugglingVariants(): Promise<SmugglingVariant[]> {
  return parseSmugglingVariants(await Deno.readTextFile(SMUGGLING_MD));
}
