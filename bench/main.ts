/**
 * Benchmarks (`deno task bench`). The side-by-side harness against Postfix and Haraka is built
 * by the performance issue; until then this says so instead of printing numbers.
 *
 * @module
 */

const text = "postie bench: no benchmarks yet (the Postfix/Haraka comparison comes with the " +
  "performance issue)\n";
Deno.stdout.writeSync(new TextEncoder().encode(text));
