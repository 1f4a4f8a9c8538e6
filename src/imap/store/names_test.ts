import assert from "node:assert/strict";
import { MailStoreError } from "./errors.ts";
import { decodeMutf7, encodeMutf7 } from "../mutf7.ts";
import { folderDirName, nameFromFolderDir, normalizeMailboxName } from "./names.ts";

Deno.test("names: hostile names are refused with BADNAME", () => {
  const hostile = [
    "../x",
    "..",
    "a/b",
    "/etc",
    "\u0000",
    "a\u0000b",
    "a\nb",
    "a\u007f",
    ".hidden",
    "a..b",
    "a.",
    "",
    "*",
    "a%b",
    "\ud800x",
    "x".repeat(300),
  ];
  for (const name of hostile) {
    assert.throws(
      () => normalizeMailboxName(name),
      (e: unknown) => e instanceof MailStoreError && e.code === "BADNAME",
      JSON.stringify(name),
    );
  }
});

Deno.test("names: INBOX is case-insensitive, also as first component", () => {
  assert.equal(normalizeMailboxName("inbox"), "INBOX");
  assert.equal(normalizeMailboxName("InBoX.Sub"), "INBOX.Sub");
  assert.equal(normalizeMailboxName("Inboxes"), "Inboxes");
  assert.equal(normalizeMailboxName("a.b"), "a.b");
});

Deno.test("names: folders on disk are modified UTF-7 as Dovecot writes them", () => {
  assert.equal(folderDirName("Entwürfe"), ".Entw&APw-rfe");
  assert.equal(folderDirName("a&b.c"), ".a&-b.c");
  assert.equal(encodeMutf7("pää"), "p&AOQA5A-");
  assert.equal(decodeMutf7("p&AOQA5A-"), "pää");
  assert.equal(encodeMutf7("日本語"), "&ZeVnLIqe-");
  assert.equal(decodeMutf7("&ZeVnLIqe-"), "日本語");
  assert.equal(encodeMutf7("😀"), "&2D3eAA-");
  assert.equal(decodeMutf7("&2D3eAA-"), "😀");
  assert.equal(nameFromFolderDir(".Entw&APw-rfe"), "Entwürfe");
  assert.equal(nameFromFolderDir(".a.b"), "a.b");
  for (const bad of ["..", ".", ".a..b", ".a&", ".&AGE-", ".x/", "cur", ".a."]) {
    assert.equal(nameFromFolderDir(bad), null, bad);
  }
});
