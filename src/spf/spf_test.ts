import assert from "node:assert/strict";
import { fakeResolver } from "./_testing.ts";
import { checkHost } from "./spf.ts";

Deno.test("checkHost() gives pass, fail with explanation, softfail, neutral and none", async () => {
  const resolver = fakeResolver({
    "TXT example.org": ["v=spf1 ip4:192.0.2.0/24 a:mail.example.org -all exp=why.example.org"],
    "TXT why.example.org": ["%{i} is not one of %{d}'s servers"],
    "A mail.example.org": ["198.51.100.7"],
    "TXT soft.example": ["v=spf1 ~all"],
    "TXT neutral.example": ["v=spf1 ?all"],
    "TXT nospf.example": ["some other text"],
  });
  const opts = { resolver, helo: "client.example.net" };
  const pass = await checkHost("192.0.2.9", "example.org", "a@example.org", opts);
  assert.equal(pass.result, "pass");
  assert.equal(
    (await checkHost("198.51.100.7", "example.org", "a@example.org", opts)).result,
    "pass",
  );
  const fail = await checkHost("203.0.113.5", "example.org", "a@example.org", opts);
  assert.equal(fail.result, "fail");
  assert.equal(fail.explanation, "203.0.113.5 is not one of example.org's servers");
  assert.equal(
    (await checkHost("203.0.113.5", "soft.example", "a@soft.example", opts)).result,
    "softfail",
  );
  assert.equal(
    (await checkHost("203.0.113.5", "neutral.example", "a@neutral.example", opts)).result,
    "neutral",
  );
  assert.equal(
    (await checkHost("203.0.113.5", "nospf.example", "a@nospf.example", opts)).result,
    "none",
  );
  assert.equal(
    (await checkHost("203.0.113.5", "missing.example", "a@missing.example", opts)).result,
    "none",
  );
});

Deno.test("checkHost() reports DNS trouble as temperror, never as an absence", async () => {
  const resolver = fakeResolver(
    { "TXT example.org": ["v=spf1 a:broken.example.org -all"] },
    ["TXT down.example", "A broken.example.org"],
  );
  const opts = { resolver, helo: "h.example" };
  assert.equal(
    (await checkHost("192.0.2.1", "down.example", "a@down.example", opts)).result,
    "temperror",
  );
  assert.equal(
    (await checkHost("192.0.2.1", "example.org", "a@example.org", opts)).result,
    "temperror",
  );
});

Deno.test("checkHost() enforces the RFC 7208 §4.6.4 limits", async () => {
  const records: Record<string, unknown[]> = {
    "TXT many.example": [
      "v=spf1 " + Array.from({ length: 11 }, (_, i) => `include:i${i}.example`).join(" ") + " -all",
    ],
    "TXT void.example": ["v=spf1 a:n1.example a:n2.example a:n3.example -all"],
  };
  for (let i = 0; i < 11; i++) records[`TXT i${i}.example`] = ["v=spf1 -all"];
  const opts = { resolver: fakeResolver(records), helo: "h.example" };
  assert.equal(
    (await checkHost("192.0.2.1", "many.example", "a@many.example", opts)).result,
    "permerror",
  );
  assert.equal(
    (await checkHost("192.0.2.1", "void.example", "a@void.example", opts)).result,
    "permerror",
  );
});
