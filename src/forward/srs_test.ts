import assert from "node:assert/strict";
import { Srs } from "./srs.ts";

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1, 12); // day 19723, 267 mod 1024: "IL"

function srs(domain: string, at = T0, secrets = ["tops3cr3t"], maxAgeDays?: number): Srs {
  return new Srs({
    secrets,
    domain,
    now: () => new Date(at),
    ...(maxAgeDays ? { maxAgeDays } : {}),
  });
}

function localOf(address: string): string {
  return address.slice(0, address.lastIndexOf("@"));
}

Deno.test("forward() makes SRS0 with day and hash as libsrs2 computes them", () => {
  // HMAC-SHA1("tops3cr3t", "il" + "example.com" + "alice"), computed with Python's hmac.
  assert.deepEqual(
    srs("fwd.example").forward("Alice@example.com"),
    "SRS0=dZZw=IL=example.com=Alice@fwd.example",
  );
});

Deno.test("SRS0 round trip, the local part may hold '=' and '@'-free specials", () => {
  const s = srs("fwd.example");
  for (const sender of ["alice@example.com", "a=b+c/d@sub.example.org", "x@example.com"]) {
    const out = s.forward(sender);
    assert.deepEqual(out.endsWith("@fwd.example"), true);
    assert.deepEqual(s.reverse(localOf(out)), { ok: true, address: sender });
  }
});

Deno.test("SRS1 through two and three forwarders reverses to the first forwarder", () => {
  const f1 = srs("one.example"), f2 = srs("two.example", T0, ["second"]);
  const f3 = srs("three.example", T0, ["third"]);
  const a1 = f1.forward("alice@example.com");
  const a2 = f2.forward(a1);
  assert.deepEqual(
    a2,
    `SRS1=${a2.slice(5, 9)}=one.example==${a1.slice(5, a1.indexOf("@"))}@two.example`,
  );
  // The hash over forwarder1 + opaque part, as computed with Python's hmac.
  const vector = srs("two.example").forward("SRS0=XXXX=IL=example.com=alice@fwd1.example");
  assert.deepEqual(vector, "SRS1=TqpZ=fwd1.example==XXXX=IL=example.com=alice@two.example");
  // A third forwarder keeps forwarder1 and the opaque part, and signs for itself.
  const a3 = f3.forward(a2);
  assert.deepEqual(
    a3.replace(/^SRS1=[^=]+=/, ""),
    a2.replace(/^SRS1=[^=]+=/, "").replace("two.", "three."),
  );
  assert.deepEqual(f3.reverse(localOf(a3)), { ok: true, address: a1 });
  assert.deepEqual(f2.reverse(localOf(a2)), { ok: true, address: a1 });
  assert.deepEqual(f1.reverse(localOf(a1)), { ok: true, address: "alice@example.com" });
  // Each forwarder's hash is its own.
  assert.deepEqual(f2.reverse(localOf(a3)), { ok: false, reason: "hash" });
});

Deno.test("forward() leaves our own SRS addresses alone (a loop)", () => {
  const s = srs("fwd.example");
  const a = s.forward("alice@example.com");
  assert.deepEqual(s.forward(a), a);
  const b = s.forward(srs("other.example", T0, ["x"]).forward("bob@example.com"));
  assert.deepEqual(s.forward(b), b);
});

Deno.test("forward() wraps an SRS1 it cannot take apart as an ordinary address", () => {
  const out = srs("fwd.example").forward("SRS1=abc@other.example");
  assert.deepEqual(out.startsWith("SRS0="), true);
  assert.deepEqual(srs("fwd.example").reverse(localOf(out)), {
    ok: true,
    address: "SRS1=abc@other.example",
  });
});

Deno.test("reverse() refuses a forged hash", () => {
  const s = srs("fwd.example");
  assert.deepEqual(s.reverse("SRS0=AAAA=IL=example.com=alice"), { ok: false, reason: "hash" });
  assert.deepEqual(s.reverse("SRS0=dZZ=IL=example.com=alice"), { ok: false, reason: "hash" });
  assert.deepEqual(s.reverse("SRS0=dZZw=IL=example.com=mallory"), { ok: false, reason: "hash" });
  assert.deepEqual(s.reverse("SRS1=AAAA=one.example==x=IL=a=b"), { ok: false, reason: "hash" });
  assert.deepEqual(srs("fwd.example", T0, ["other"]).reverse("SRS0=dZZw=IL=example.com=alice"), {
    ok: false,
    reason: "hash",
  });
});

Deno.test("reverse() accepts upper- and lower-cased addresses, and the -/+ separators", () => {
  const s = srs("fwd.example");
  const one = srs("one.example");
  const a = localOf(s.forward("Alice@example.com"));
  assert.deepEqual(s.reverse(a.toLowerCase()), { ok: true, address: "alice@example.com" });
  assert.deepEqual(s.reverse(a.toUpperCase()), { ok: true, address: "ALICE@EXAMPLE.COM" });
  const a1 = localOf(s.forward(one.forward("bob@example.com")));
  const r = s.reverse(a1.toUpperCase());
  assert.deepEqual(r.ok && one.reverse(localOf(r.address).toLowerCase()), {
    ok: true,
    address: "bob@example.com",
  });
  assert.deepEqual(s.reverse(a.replace("SRS0=", "srs0-")).ok, true);
  assert.deepEqual(s.reverse(a.replace("SRS0=", "SRS0+")).ok, true);
});

Deno.test("reverse() accepts 20 days (and 21), refuses 22 days and the day after tomorrow", () => {
  const a = localOf(srs("fwd.example").forward("alice@example.com"));
  const at = (days: number) => srs("fwd.example", T0 + days * DAY).reverse(a);
  assert.deepEqual(at(20).ok, true);
  assert.deepEqual(at(21).ok, true);
  assert.deepEqual(at(22), { ok: false, reason: "expired" });
  assert.deepEqual(at(1000), { ok: false, reason: "expired" });
  assert.deepEqual(at(1022), { ok: false, reason: "expired" }); // looks 2 days in the future
  assert.deepEqual(at(-1).ok, true); // made by a clock a little ahead of ours
  assert.deepEqual(at(-2), { ok: false, reason: "expired" });
  assert.deepEqual(srs("fwd.example", T0 + 5 * DAY, undefined, 3).reverse(a), {
    ok: false,
    reason: "expired",
  });
});

Deno.test("reverse() handles the wrap of the 1024-day counter", () => {
  // Day 1023 mod 1024 ("77"), reversed 3 days later on day 2 of the next cycle.
  const day1023 = (20 * 1024 + 1023) * DAY;
  const a = localOf(srs("fwd.example", day1023).forward("alice@example.com"));
  assert.deepEqual(a.split("=")[2], "77");
  assert.deepEqual(srs("fwd.example", day1023 + 3 * DAY).reverse(a), {
    ok: true,
    address: "alice@example.com",
  });
  assert.deepEqual(srs("fwd.example", day1023 + 22 * DAY).reverse(a), {
    ok: false,
    reason: "expired",
  });
  // Made on day 0 of a cycle, seen by a clock one day behind (day 1023 of the previous one).
  const b = localOf(srs("fwd.example", day1023 + DAY).forward("bob@example.com"));
  assert.deepEqual(b.split("=")[2], "AA");
  assert.deepEqual(srs("fwd.example", day1023).reverse(b).ok, true);
});

Deno.test("reverse() verifies with every secret, signs with the first", () => {
  const before = srs("fwd.example", T0, ["old"]).forward("alice@example.com");
  const after = srs("fwd.example", T0, ["new", "old"]);
  assert.deepEqual(after.reverse(localOf(before)), { ok: true, address: "alice@example.com" });
  assert.deepEqual(srs("fwd.example", T0, ["new"]).reverse(localOf(before)), {
    ok: false,
    reason: "hash",
  });
  assert.deepEqual(
    after.forward("alice@example.com"),
    srs("fwd.example", T0, ["new"]).forward("alice@example.com"),
  );
});

Deno.test("reverse() gives syntax for broken SRS, not srs for ordinary local parts", () => {
  const s = srs("fwd.example");
  for (
    const bad of [
      "SRS0=",
      "SRS0==x=y=z",
      "SRS0=dZZw=IL=example.com",
      "SRS0=dZZw=IL=example.com=",
      "SRS0=dZZw==example.com=alice",
      "SRS0=dZZw=I1=example.com=alice",
      "SRS0=dZZw=ILL=example.com=alice",
      "SRS0=dZZw=I=example.com=alice",
      "SRS1=",
      "SRS1=abcd=one.example",
      "SRS1=abcd=one.example=x",
      "SRS1=abcd==x=y",
      "SRS1=abcd=one.example==",
    ]
  ) assert.deepEqual(s.reverse(bad), { ok: false, reason: "syntax" }, bad);
  for (const plain of ["alice", "srs0", "SRS0", "SRS2=a=b=c=d", "srs0.alice", "SRS", ""]) {
    assert.deepEqual(s.reverse(plain), { ok: false, reason: "not srs" }, plain);
  }
});

Deno.test("Srs refuses no secrets and a nonsense maxAgeDays", () => {
  assert.throws(() => new Srs({ secrets: [], domain: "x" }), RangeError);
  assert.throws(() => new Srs({ secrets: [""], domain: "x" }), RangeError);
  assert.throws(() => new Srs({ secrets: ["s"], domain: "x", maxAgeDays: 1023 }), RangeError);
  assert.throws(() => new Srs({ secrets: ["s"], domain: "x", maxAgeDays: 0.5 }), RangeError);
});
