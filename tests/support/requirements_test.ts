import assert from "node:assert/strict";
import {
  findMissing,
  findMissingData,
  formatMissing,
  type Requirement,
  REQUIREMENTS,
} from "./requirements.ts";

Deno.test("findMissing names an absent program, Perl module and Python module with its package", async () => {
  const reqs: Requirement[] = [
    {
      package: "pkg-present",
      usedBy: "a program that exists",
      suite: "test",
      programs: ["sh"],
      python: ["json"],
    },
    {
      package: "pkg-absent",
      usedBy: "the missing pieces",
      suite: "test",
      programs: ["postie-no-such-program"],
      perl: ["Postie::NoSuchModule"],
      python: ["postie_no_such_module"],
    },
    {
      package: "pkg-other-suite",
      usedBy: "not asked for",
      suite: "interop",
      programs: ["postie-no-such-program-either"],
    },
  ];
  const missing = await findMissing(["test"], reqs);
  assert.deepEqual(missing.map((m) => [m.what, m.package]), [
    ["program postie-no-such-program", "pkg-absent"],
    ["perl module Postie::NoSuchModule", "pkg-absent"],
    ["python3 module postie_no_such_module", "pkg-absent"],
  ]);
  const text = formatMissing(missing);
  assert.match(text, /program postie-no-such-program: package pkg-absent \(the missing pieces\)/);
  assert.match(text, /apt-get install --no-install-recommends pkg-absent\n$/);
});

Deno.test("REQUIREMENTS names each Debian package once, each with a reason", () => {
  const names = REQUIREMENTS.map((r) => r.package);
  assert.equal(new Set(names).size, names.length);
  for (const r of REQUIREMENTS) {
    assert.match(r.package, /^[a-z0-9][a-z0-9+.-]+$/);
    assert.ok(r.usedBy.length > 10, r.package);
    assert.ok(
      (r.programs?.length ?? 0) + (r.perl?.length ?? 0) + (r.python?.length ?? 0) +
          (r.files?.length ?? 0) > 0,
    );
  }
});

Deno.test("findMissingData reports shared data that is not beside the repository", () => {
  const here = new URL("../..", import.meta.url).pathname;
  assert.deepEqual(findMissingData(here), []);
  const elsewhere = Deno.makeTempDirSync();
  try {
    const missing = findMissingData(elsewhere);
    assert.equal(missing.length, 1);
    assert.match(missing[0]!, /^\.\.\/shared\/conformance\/spf\/rfc7208-tests\.yml \(/);
  } finally {
    Deno.removeSync(elsewhere, { recursive: true });
  }
});
