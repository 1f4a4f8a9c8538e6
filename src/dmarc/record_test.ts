import assert from "node:assert/strict";
import { parseDmarcRecord } from "./record.ts";

Deno.test("parseDmarcRecord() fills in the RFC 7489 §6.3 defaults", () => {
  const rec = parseDmarcRecord("v=DMARC1; p=none");
  assert.deepEqual(rec, {
    p: "none",
    sp: null,
    adkim: "r",
    aspf: "r",
    pct: 100,
    rua: [],
    ruf: [],
    fo: ["0"],
    rf: ["afrf"],
    ri: 86400,
    invalidTags: [],
    problems: [],
  });
});

Deno.test("parseDmarcRecord() reads every tag of §6.3", () => {
  const rec = parseDmarcRecord(
    "v=DMARC1; p=Reject; sp=QUARANTINE; adkim=s; aspf=S; pct=25; " +
      "rua=mailto:agg@example.com!10m, https://r.example.net/dmarc; " +
      "ruf=mailto:fail@example.com!500; fo=1:d; rf=afrf:iodef; ri=3600;",
  );
  assert.ok(rec);
  assert.equal(rec.p, "reject");
  assert.equal(rec.sp, "quarantine");
  assert.equal(rec.adkim, "s");
  assert.equal(rec.aspf, "s");
  assert.equal(rec.pct, 25);
  assert.deepEqual(rec.rua, [
    { uri: "mailto:agg@example.com", maxSize: 10 * 2 ** 20 },
    { uri: "https://r.example.net/dmarc" },
  ]);
  assert.deepEqual(rec.ruf, [{ uri: "mailto:fail@example.com", maxSize: 500 }]);
  assert.deepEqual(rec.fo, ["1", "d"]);
  assert.deepEqual(rec.rf, ["afrf", "iodef"]);
  assert.equal(rec.ri, 3600);
  assert.deepEqual(rec.problems, []);
});

Deno.test("parseDmarcRecord() returns null for records not starting with v=DMARC1", () => {
  for (
    const text of [
      "",
      "v=spf1 -all",
      "p=reject; v=DMARC1", // v= must be first (§6.3)
      "v=DMARC2; p=reject",
      "v=dmarc1; p=reject", // §6.4 spells DMARC1 with %x codes: case-sensitive
      "v=DMARC1x; p=reject",
      "some-verification=abc123",
    ]
  ) {
    assert.equal(parseDmarcRecord(text), null, text);
  }
});

Deno.test("parseDmarcRecord() allows whitespace around = and ; (§6.4 *WSP)", () => {
  const rec = parseDmarcRecord("v = DMARC1 ;\tp = quarantine ;  adkim = s ;");
  assert.equal(rec?.p, "quarantine");
  assert.equal(rec?.adkim, "s");
  assert.equal(parseDmarcRecord("v=DMARC1")?.p, null);
});

Deno.test("parseDmarcRecord() keeps a missing or invalid p= as null", () => {
  const missing = parseDmarcRecord("v=DMARC1; rua=mailto:d@example.com");
  assert.equal(missing?.p, null);
  assert.deepEqual(missing?.invalidTags, []);
  const bogus = parseDmarcRecord("v=DMARC1; p=bogus; sp=nope");
  assert.equal(bogus?.p, null);
  assert.equal(bogus?.sp, null);
  assert.deepEqual(bogus?.invalidTags, ["p", "sp"]);
});

Deno.test("parseDmarcRecord() accepts p= after other tags", () => {
  assert.equal(parseDmarcRecord("v=DMARC1; rua=mailto:d@example.com; p=reject")?.p, "reject");
});

Deno.test("parseDmarcRecord() replaces bad values with defaults and notes them", () => {
  const rec = parseDmarcRecord(
    "v=DMARC1; p=none; adkim=x; aspf=; pct=101; fo=2; rf=a b; ri=-1; rua=not a uri; junk",
  );
  assert.ok(rec);
  assert.equal(rec.adkim, "r");
  assert.equal(rec.aspf, "r");
  assert.equal(rec.pct, 100);
  assert.deepEqual(rec.fo, ["0"]);
  assert.deepEqual(rec.rf, ["afrf"]);
  assert.equal(rec.ri, 86400);
  assert.deepEqual(rec.rua, []);
  assert.deepEqual(rec.invalidTags, ["adkim", "aspf", "pct", "fo", "rf", "ri", "rua"]);
  assert.equal(rec.problems.length, 8);
});

Deno.test("parseDmarcRecord() keeps the valid URIs of a rua= list", () => {
  const rec = parseDmarcRecord("v=DMARC1; p=none; rua=bogus, mailto:a@example.com!1g");
  assert.deepEqual(rec?.rua, [{ uri: "mailto:a@example.com", maxSize: 2 ** 30 }]);
  assert.deepEqual(rec?.invalidTags, ["rua"]);
});

Deno.test("parseDmarcRecord() ignores unknown tags and takes the first of repeated ones", () => {
  const rec = parseDmarcRecord("v=DMARC1; p=reject; foo=bar; np=none; p=none");
  assert.equal(rec?.p, "reject");
  assert.deepEqual(rec?.invalidTags, []);
  assert.deepEqual(rec?.problems, ["ignored repeated p="]);
});

Deno.test("parseDmarcRecord() reads pct=0 and pct with leading zeros", () => {
  assert.equal(parseDmarcRecord("v=DMARC1; p=reject; pct=0")?.pct, 0);
  assert.equal(parseDmarcRecord("v=DMARC1; p=reject; pct=050")?.pct, 50);
  assert.equal(parseDmarcRecord("v=DMARC1; p=reject; pct=1000")?.pct, 100);
});
