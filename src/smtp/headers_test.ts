import assert from "node:assert/strict";
import { authservIdOf, removeHeaderFields } from "./headers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const join = (parts: Uint8Array[]) => dec.decode(new Uint8Array(parts.flatMap((p) => [...p])));

Deno.test("removeHeaderFields() drops matching fields, folded ones whole, and keeps bytes", () => {
  const msg = "Authentication-Results: mx.us; spf=pass\r\n" +
    "From: a@b.example\r\n" +
    "Authentication-Results: other.example;\r\n\tdkim=pass\r\n" +
    "authentication-results:  MX.US (forged);\r\n  spf=pass smtp.mailfrom=x\r\n" +
    "Subject: hi\r\n\r\n" +
    "Authentication-Results: mx.us; in the body stays\r\n";
  // Split in odd places, as socket chunks would be.
  const parts = [
    enc.encode(msg.slice(0, 7)),
    enc.encode(msg.slice(7, 60)),
    enc.encode(msg.slice(60)),
  ];
  const out = removeHeaderFields(
    parts,
    (n, v) => n === "authentication-results" && authservIdOf(v) === "mx.us",
  );
  assert.equal(
    join(out),
    "From: a@b.example\r\nAuthentication-Results: other.example;\r\n\tdkim=pass\r\n" +
      "Subject: hi\r\n\r\nAuthentication-Results: mx.us; in the body stays\r\n",
  );
});

Deno.test("removeHeaderFields() returns the content unchanged when nothing matches", () => {
  const parts = [enc.encode("Subject: x\r\n\r\nbody\r\n")];
  const out = removeHeaderFields(parts, () => false);
  assert.equal(join(out), "Subject: x\r\n\r\nbody\r\n");
});

Deno.test("authservIdOf() reads the authserv-id before version, comments and ';'", () => {
  assert.equal(authservIdOf("mx.example.com; spf=pass"), "mx.example.com");
  assert.equal(authservIdOf("  MX.Example.COM 1; none"), "mx.example.com");
  assert.equal(authservIdOf("(comment) mx.example.com;"), "mx.example.com");
  assert.equal(authservIdOf(";"), "");
});
