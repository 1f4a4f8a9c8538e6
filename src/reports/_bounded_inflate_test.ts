import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { gunzipBounded, MAX_REPORT_BYTES, unzipBounded } from "./_bounded_inflate.ts";
import { deflateOfGzip, gzip, gzipOfZeros, zipOf } from "./_inbox_testing.ts";

const text = new TextEncoder().encode("<feedback/>");

Deno.test("gunzipBounded() returns the data under the cap and stops over it", async () => {
  const gz = await gzip(text);
  assert.deepEqual(gunzipBounded(gz), { ok: true, bytes: text });
  assert.deepEqual(gunzipBounded(gz, 5), {
    ok: false,
    reason: "gzip: larger than 5 bytes once decompressed",
  });
});

Deno.test("gunzipBounded() rejects garbage, short and cut streams", async () => {
  const cut = { ok: false, reason: "gzip: truncated stream" };
  assert.deepEqual(gunzipBounded(new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3])), cut);
  assert.deepEqual(gunzipBounded(new Uint8Array()), cut);
  const garbage = new Uint8Array(40).fill(0xff);
  garbage.set([0x1f, 0x8b, 8, 0]);
  assert.match((gunzipBounded(garbage) as { reason: string }).reason, /^gzip: /);
  // Cut after a complete DEFLATE block: only the trailer tells.
  const gz = await gzip(new Uint8Array(200_000).fill(65));
  assert.equal(gunzipBounded(gz.subarray(0, gz.length - 4)).ok, false);
  const bad = gz.slice();
  bad[bad.length - 1]! ^= 1;
  assert.deepEqual(gunzipBounded(bad), {
    ok: false,
    reason: "gzip: truncated or corrupt stream (size mismatch)",
  });
});

Deno.test("gunzipBounded() reads concatenated members (RFC 1952 §2.2)", async () => {
  const two = new Uint8Array([...await gzip(text.subarray(0, 5)), ...await gzip(text.subarray(5))]);
  assert.deepEqual(gunzipBounded(two), { ok: true, bytes: text });
});

Deno.test("unzipBounded() returns the first file (stored or deflated) and its name", () => {
  for (const level of [0, 6] as const) {
    const z = zipSync({ "dir/": new Uint8Array(), "report.xml": text }, { level });
    assert.deepEqual(unzipBounded(z), { ok: true, bytes: text, name: "report.xml" });
  }
});

Deno.test("unzipBounded() stops a zip bomb whose header lies about its size", async () => {
  // 1 GiB of zeros deflated (about 1 MiB), the headers claiming 11 bytes.
  const deflated = deflateOfGzip(await gzipOfZeros(1 << 30));
  const bomb = zipOf([{ name: "report.xml", method: 8, data: deflated, size: 11 }]);
  const t0 = performance.now();
  assert.deepEqual(unzipBounded(bomb), {
    ok: false,
    reason: `zip: larger than ${MAX_REPORT_BYTES} bytes once decompressed`,
  });
  assert.ok(performance.now() - t0 < 3000, `took ${performance.now() - t0} ms`);
});

Deno.test("unzipBounded() refuses more than 8 entries", () => {
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 9; i++) files[`r${i}.xml`] = text;
  assert.deepEqual(unzipBounded(zipSync(files)), { ok: false, reason: "zip: more than 8 entries" });
  delete files["r8.xml"];
  assert.equal(unzipBounded(zipSync(files)).ok, true);
});

Deno.test("unzipBounded() rejects an unknown method, an empty archive and a truncated one", () => {
  const z = zipOf([{ name: "r.xml", method: 8, data: text, size: text.length }]);
  z[8] = 99; // compression method 99 (AES): not supported
  assert.match((unzipBounded(z) as { reason: string }).reason, /^zip: /);
  assert.deepEqual(unzipBounded(zipSync({})), { ok: false, reason: "zip: no file in the archive" });
  const deflated = zipSync({ "r.xml": new Uint8Array(100_000).fill(65) });
  assert.equal(unzipBounded(deflated.subarray(0, 60)).ok, false);
});
