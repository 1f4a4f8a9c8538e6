/**
 * The DKIM conformance vectors (../shared/conformance/dkim/vectors.json): every vector's key
 * records are served by a real DNS server on loopback (TIMEOUT: the server never answers;
 * NXDOMAIN: no record) and read through the real stub resolver; every message (LF endings
 * turned into CRLF) goes through verifyMessage() at the vector's verify_time, and each
 * signature's result, domain, selector, algorithm and reason must match. Prints
 * "dkim-conformance: P/T passed".
 */
import assert from "node:assert/strict";
import { type DkimResult, verifyMessage } from "../../src/dkim/mod.ts";
import { StubResolver } from "../../src/dns/stub_resolver.ts";
import { TestDnsServer, type ZoneRecord } from "../support/dns_server.ts";

interface Expectation {
  selector: string;
  domain: string;
  algorithm: string;
  result: DkimResult["result"];
  reason?: string;
}

interface Vector {
  id: string;
  message: string;
  dns: Record<string, string[] | "NXDOMAIN" | "TIMEOUT">;
  verify_time: number | string | null;
  expect: Expectation[];
  note?: string;
}

const ROOT = new URL("../../../shared/conformance/dkim/", import.meta.url);

/**
 * Signature checks where we knowingly differ from the vectors, each with the RFC text that
 * justifies it ("<vector id>#<index>"). Empty: every check passes as written.
 */
const DEVIATIONS: Record<string, string> = {};

/** The vectors' totals (README "Counts"). */
const VECTORS = 32;
const CHECKS = 36;

/** Every bare LF becomes CRLF (the files are stored with LF endings; README "Line endings"). */
function toCrlf(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i - 1] !== 0x0d) out.push(0x0d);
    out.push(bytes[i]!);
  }
  return new Uint8Array(out);
}

/** The message of a vector: Stalwart files start with DNS lines and an empty line. */
async function loadMessage(v: Vector): Promise<Uint8Array> {
  let bytes = await Deno.readFile(new URL(v.message, ROOT));
  if (v.message.startsWith("stalwart-mail-auth/")) {
    // The message starts after the first empty line (LF LF, or LF CR LF).
    let i = bytes.indexOf(0x0a);
    while (i >= 0 && bytes[i + 1] !== 0x0a && !(bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a)) {
      i = bytes.indexOf(0x0a, i + 1);
    }
    assert.ok(i >= 0, `${v.message}: no empty line after the DNS records`);
    bytes = bytes.subarray(i + (bytes[i + 1] === 0x0a ? 2 : 3));
  }
  return toCrlf(bytes);
}

function say(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}

Deno.test("DKIM conformance: vectors.json through the loopback DNS server", async (t) => {
  const { vectors } = JSON.parse(
    await Deno.readTextFile(new URL("vectors.json", ROOT)),
  ) as { vectors: Vector[] };
  assert.equal(vectors.length, VECTORS, `vectors.json has ${VECTORS} vectors`);

  const dns = await TestDnsServer.start();
  let passed = 0;
  let total = 0;
  const failures: string[] = [];
  try {
    for (const v of vectors) {
      const records: ZoneRecord[] = [];
      const faults: string[] = [];
      for (const [name, value] of Object.entries(v.dns)) {
        if (value === "TIMEOUT") faults.push(name);
        else if (value !== "NXDOMAIN") {
          for (const txt of value) records.push({ name, type: "TXT", data: txt });
        }
      }
      dns.setRecords(records);
      for (const name of faults) dns.setFault(name, "TXT", "timeout");
      // A fresh resolver per vector: no answer cached from another vector's zone.
      const resolver = new StubResolver({
        nameservers: [{ host: dns.hostname, port: dns.port }],
        timeoutMs: 200,
        attempts: 1,
      });
      const now = typeof v.verify_time === "number" ? new Date(v.verify_time * 1000) : undefined;
      const message = await loadMessage(v);
      let results: DkimResult[] = [];
      const ran = await t.step(v.id, async () => {
        results = await verifyMessage(message, now ? { resolver, now } : { resolver });
        assert.equal(results.length, v.expect.length, `${v.id}: number of signatures`);
      });
      for (const name of faults) dns.setFault(name, "TXT", null);

      for (const [i, want] of v.expect.entries()) {
        const id = `${v.id}#${i}`;
        if (id in DEVIATIONS) continue;
        total++;
        const got = results[i];
        const problems: string[] = [];
        if (!ran || !got) problems.push("no result");
        else {
          for (const k of ["selector", "domain", "algorithm", "result"] as const) {
            if (got[k] !== want[k]) problems.push(`${k}: got ${got[k]}, expected ${want[k]}`);
          }
          // Our reasons are RFC 6376 §6.1's words, optionally followed by ": details".
          if (
            want.reason !== undefined && got.reason !== want.reason &&
            !got.reason?.startsWith(`${want.reason}:`)
          ) problems.push(`reason: got "${got.reason}", expected "${want.reason}"`);
        }
        if (problems.length === 0) passed++;
        else failures.push(`${id}: ${problems.join("; ")} (${got?.reason ?? ""}) ${v.note ?? ""}`);
      }
    }
  } finally {
    await dns.close();
  }
  say(`dkim-conformance: ${passed}/${total} passed`);
  assert.equal(total + Object.keys(DEVIATIONS).length, CHECKS, `${CHECKS} signature checks`);
  assert.deepEqual(failures, []);
});
