/**
 * Interop: dkimpy (Debian's python3-dkim) and our DKIM code sign and verify each other's mail.
 *
 * (a) Our signatures (rsa-sha256 and ed25519-sha256, relaxed/relaxed, from keys stored by
 *     loadOrCreateDomainKeys) verify with dkimpy. dkimpy gets the key records from a dict passed
 *     on stdin through its `dnsfunc` hook, and fixtures/dkimpy_tool.py refuses every socket, so
 *     nothing touches the network.
 * (b) dkimpy's signatures (rsa and ed25519, simple/simple and relaxed/relaxed, with our stored
 *     keys) verify with verifyMessage() through a loopback DNS server and the stub resolver.
 * (c) A one-byte body change or a changed signed header fails on both sides.
 *
 * Needs /usr/bin/python3 with dkimpy: apt-get install python3-dkim (pulls python3-nacl and
 * python3-dnspython). A missing peer fails the test; it never skips. Prints
 * "dkimpy-interop: N/M checks passed".
 *
 * @module
 */
import { DEBIAN_PYTHON } from "../support/requirements.ts";
import assert from "node:assert/strict";
import {
  activeSigningKeys,
  type DkimDomainKey,
  type DkimResult,
  loadOrCreateDomainKeys,
  signMessage,
  verifyMessage,
} from "../../src/dkim/mod.ts";
import { StubResolver } from "../../src/dns/stub_resolver.ts";
import { TestDnsServer } from "../support/dns_server.ts";
import { FIXTURES, run } from "./tools.ts";

/** Debian's interpreter: a pyenv `python3` on PATH would not see python3-dkim. */
const PYTHON = DEBIAN_PYTHON;
const HOW_TO_INSTALL = "apt-get install python3-dkim (pulls python3-nacl, python3-dnspython)";
const DOMAIN = "interop.example.org";

/** A message with the things canonicalization cares about: folding, tabs, trailing space. */
const MESSAGE_TEXT = [
  "Received: from client.example.net (client.example.net [192.0.2.1])",
  "\tby mx.interop.example.org with ESMTPS id 123",
  "From: =?utf-8?q?J=C3=B6rg?= <joerg@interop.example.org>",
  "To: Suzie Q <suzie@shopping.example.net>,",
  "    other@shopping.example.net",
  "Subject:   Is dinner ready?\t ",
  "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)",
  "Message-ID: <20030712040037.46341.5F8J@interop.example.org>",
  "MIME-Version: 1.0",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: 8bit",
  "",
  "Hi.",
  "",
  "We lost the game.  Are you hungry yet?  \t",
  "Grüße, \t Jörg",
  "",
  "",
  "",
].join("\r\n");
const MESSAGE = new TextEncoder().encode(MESSAGE_TEXT);

interface VerifyOut {
  results: { ok: boolean; error: string }[];
  lookups: string[];
}

type Job =
  | { op: "verify"; message: string; dns: Record<string, string> }
  | {
    op: "sign";
    message: string;
    selector: string;
    domain: string;
    key: string;
    algorithm: string;
    canonicalize: [string, string];
  };

function b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** Runs dkimpy on `jobs`. */
async function dkimpy(jobs: Job[]): Promise<{ version: string; out: unknown[] }> {
  try {
    await Deno.stat(PYTHON);
  } catch {
    throw new Error(`dkimpy-interop: ${PYTHON} is missing; ${HOW_TO_INSTALL}. Never skipped.`);
  }
  const r = await run(PYTHON, {
    // -I: ignore PYTHON* variables and the user site, so only Debian's packages are seen.
    args: ["-I", `${FIXTURES}dkimpy_tool.py`],
    stdin: JSON.stringify({ jobs }),
    timeoutMs: 60_000,
  });
  if (r.code === 3) {
    throw new Error(`dkimpy-interop: ${PYTHON} cannot import dkim; ${HOW_TO_INSTALL}\n${r.stderr}`);
  }
  if (r.code !== 0) {
    throw new Error(
      `dkimpy_tool.py exited with ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
  return JSON.parse(r.stdout);
}

/** Replaces the first occurrence of `from` (Latin-1 view of the bytes). */
function edit(message: Uint8Array, from: string, to: string): Uint8Array {
  // One character per byte (TextDecoder's "latin1" is windows-1252, which remaps 0x80-0x9F).
  const text = Array.from(message, (b) => String.fromCharCode(b)).join("");
  assert.ok(text.includes(from), `message contains ${JSON.stringify(from)}`);
  return Uint8Array.from(text.replace(from, to), (c) => c.charCodeAt(0));
}

function prepend(fields: string, message: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(fields);
  const out = new Uint8Array(head.length + message.length);
  out.set(head);
  out.set(message, head.length);
  return out;
}

/** The tampered variants of a signed message: (c) of the module doc. */
function tampered(signed: Uint8Array): { name: string; message: Uint8Array; reason: string }[] {
  return [
    // One byte of the body: "game" becomes "gamE".
    {
      name: "body byte",
      message: edit(signed, "game.", "gamE."),
      reason: "body hash did not verify",
    },
    {
      name: "signed header",
      message: edit(signed, "Is dinner ready?", "Is dinner ready!"),
      reason: "signature did not verify",
    },
  ];
}

/** dkimpy's Ed25519 private key form: the 32-byte seed in base64 (last 32 bytes of PKCS#8). */
async function dkimpyKey(key: DkimDomainKey): Promise<string> {
  const pem = await Deno.readTextFile(key.path);
  if (key.algorithm === "rsa-sha256") return pem; // our key file, preamble and all
  const b64der = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END/.exec(pem)![1]!.replace(/\s/g, "");
  const der = Uint8Array.from(atob(b64der), (c) => c.charCodeAt(0));
  return b64(der.subarray(der.length - 32));
}

function say(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}

function brief(r: DkimResult): string {
  return `${r.algorithm} ${r.result}${r.reason ? ` (${r.reason})` : ""}`;
}

Deno.test("dkimpy and our DKIM sign and verify each other's mail", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "postie-dkimpy-" });
  const dns = await TestDnsServer.start();
  let checks = 0;
  let passed = 0;
  const check = (ok: boolean, what: string) => {
    checks++;
    if (ok) passed++;
    assert.ok(ok, what);
  };
  try {
    const keys = activeSigningKeys(await loadOrCreateDomainKeys(dataDir, DOMAIN));
    assert.deepEqual(keys.map((k) => k.algorithm), ["rsa-sha256", "ed25519-sha256"]);
    const zone: Record<string, string> = {};
    for (const k of keys) zone[`${k.selector}._domainkey.${DOMAIN}`] = k.dnsRecord;
    dns.setRecords(
      Object.entries(zone).map(([name, data]) => ({ name, type: "TXT" as const, data })),
    );
    const resolver = new StubResolver({
      nameservers: [{ host: dns.hostname, port: dns.port }],
      timeoutMs: 500,
      attempts: 1,
    });

    await t.step(
      "(a) dkimpy verifies our rsa and ed25519 signatures, and rejects tampering",
      async () => {
        const signed = prepend(await signMessage(MESSAGE, keys, { domain: DOMAIN }), MESSAGE);
        // Each key alone as well as both together.
        const single = await Promise.all(
          keys.map(async (k) =>
            prepend(await signMessage(MESSAGE, [k], { domain: DOMAIN }), MESSAGE)
          ),
        );
        const variants = [
          { name: "dual", message: signed, want: [true, true] },
          ...single.map((m, i) => ({ name: keys[i]!.algorithm, message: m, want: [true] })),
          ...tampered(signed).map((v) => ({ ...v, want: [false, false] })),
        ];
        const py = await dkimpy(
          variants.map((v) => ({ op: "verify", message: b64(v.message), dns: zone })),
        );
        say(`dkimpy ${py.version}`);
        for (const [i, v] of variants.entries()) {
          const out = py.out[i] as VerifyOut;
          check(
            JSON.stringify(out.results.map((r) => r.ok)) === JSON.stringify(v.want),
            `${v.name}: dkimpy said ${JSON.stringify(out.results)}, want ${v.want}`,
          );
          for (const name of out.lookups) assert.ok(name in zone, `dkimpy looked up ${name}`);
        }
        // And our own verifier agrees on the same messages.
        for (const v of variants) {
          const ours = await verifyMessage(v.message, { resolver });
          check(
            JSON.stringify(ours.map((r) => r.result === "pass")) === JSON.stringify(v.want),
            `${v.name}: ours said ${ours.map(brief)}`,
          );
        }
      },
    );

    await t.step(
      "(b) we verify dkimpy's signatures, simple and relaxed, and reject tampering",
      async () => {
        const combos = keys.flatMap((k) =>
          (["simple", "relaxed"] as const).map((c) => ({ key: k, c }))
        );
        const jobs: Job[] = [];
        for (const { key, c } of combos) {
          jobs.push({
            op: "sign",
            message: b64(MESSAGE),
            selector: key.selector,
            domain: DOMAIN,
            key: await dkimpyKey(key),
            algorithm: key.algorithm,
            canonicalize: [c, c],
          });
        }
        const py = await dkimpy(jobs);
        for (const [i, { key, c }] of combos.entries()) {
          const field = (py.out[i] as { field: string }).field;
          assert.match(field, new RegExp(`^DKIM-Signature: v=1; a=${key.algorithm}; c=${c}/${c};`));
          const signed = prepend(field, MESSAGE);
          const [r, ...rest] = await verifyMessage(signed, { resolver });
          assert.equal(rest.length, 0);
          check(r?.result === "pass", `${key.algorithm} ${c}/${c}: ours said ${r && brief(r)}`);
          assert.equal(r!.selector, key.selector);
          assert.equal(r!.domain, DOMAIN);
          for (const v of tampered(signed)) {
            const [x] = await verifyMessage(v.message, { resolver });
            check(
              x?.result === "fail" && x.reason === v.reason,
              `${key.algorithm} ${c}/${c} ${v.name}: ours said ${x && brief(x)}`,
            );
          }
        }
        // dkimpy itself agrees that its signatures are good and the tampered ones are not.
        const verifyJobs: Job[] = [];
        const want: boolean[] = [];
        for (const [i] of combos.entries()) {
          const signed = prepend((py.out[i] as { field: string }).field, MESSAGE);
          verifyJobs.push({ op: "verify", message: b64(signed), dns: zone });
          want.push(true);
          for (const v of tampered(signed)) {
            verifyJobs.push({ op: "verify", message: b64(v.message), dns: zone });
            want.push(false);
          }
        }
        const back = await dkimpy(verifyJobs);
        for (const [i, w] of want.entries()) {
          const out = back.out[i] as VerifyOut;
          check(out.results.length === 1 && out.results[0]!.ok === w, `dkimpy self-check ${i}`);
        }
      },
    );
  } finally {
    await dns.close();
    await Deno.remove(dataDir, { recursive: true });
  }
  say(`dkimpy-interop: ${passed}/${checks} checks passed`);
  assert.equal(passed, checks);
});
