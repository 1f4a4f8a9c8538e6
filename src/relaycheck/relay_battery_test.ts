import assert from "node:assert/strict";
import { relayBattery } from "./relay_battery.ts";

Deno.test("battery: forms built from the placeholders", () => {
  const b = relayBattery({
    victimLocal: "v",
    victimDomain: "x.example",
    ourDomain: "our.example",
    ourHost: "mx.our.example",
    ourLiteral: "[192.0.2.25]",
    localRecipient: "user@our.example",
  });
  const rcpt = (id: string) => b.find((p) => p.id === id)?.rcptTo;
  assert.deepEqual(b.filter((p) => /^F\dx/.test(p.id)).length, 5 * 26);
  assert.deepEqual(rcpt("F1xR2"), "<v%x.example@our.example>");
  assert.deepEqual(rcpt("F1xR6"), "<v@x.example@our.example>");
  assert.deepEqual(rcpt("F1xR9"), '<"v@x.example"@[192.0.2.25]>');
  assert.deepEqual(rcpt("F1xR12"), "<@our.example,@x.example:v@x.example>");
  assert.deepEqual(rcpt("F1xR14"), "<x.example!v@our.example>");
  assert.deepEqual(rcpt("F1xR21a"), "<v@evil-our.example>");
  assert.deepEqual(rcpt("F1xR21b"), "<v@notour.example>");
  assert.deepEqual(rcpt("F1xR22"), "<v\\@x.example@our.example>");
  assert.deepEqual(rcpt("F1xR26a"), " v@x.example");
  assert.deepEqual(b.find((p) => p.id === "F4xR1")?.mailFrom, "<antispam@[192.0.2.25]>");
  assert.deepEqual(b.find((p) => p.id === "F3xR1")?.mailFrom, "<antispam@mx.our.example>");
  const r25 = b.find((p) => p.id === "R25");
  assert.deepEqual(r25?.controls, ["<user@our.example>"]);
  assert.deepEqual(r25?.rcptTo, "<v@x.example>");
  assert.deepEqual(b.find((p) => p.id === "H5xR1")?.helo, "EHLO [192.0.2.25]");
});
