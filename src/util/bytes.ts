/**
 * Byte-array helpers shared across the modules: joining parts into one array.
 *
 * @module
 */

/** The parts joined into one new array (always a copy, even of a single part). */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
