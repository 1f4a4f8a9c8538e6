import assert from "node:assert/strict";
import { buildNotice } from "./notice_message.ts";

Deno.test("buildNotice: a non-ASCII subject is an RFC 2047 encoded-word, no header injection", () => {
  const text = new TextDecoder().decode(
    buildNotice({
      hostname: "h.example",
      to: "postmaster@a.example",
      subject: "Zertifikat läuft ab\r\nBcc: x@evil.example",
      body: "x",
      now: new Date(0),
    }),
  );
  const subject = /\r\nSubject: (.*)\r\n/.exec(text)![1]!;
  assert.match(subject, /^=\?utf-8\?B\?[A-Za-z0-9+/=]+\?=$/);
  assert.doesNotMatch(text, /\r\nBcc:/);
});
