/**
 * Tests of session_mailbox.ts and session_list.ts: CREATE / DELETE / RENAME / SUBSCRIBE,
 * LIST (imaptest `list`, `listext` parts), LSUB, STATUS (imaptest `select` part), APPEND /
 * MULTIAPPEND with APPENDUID, TRYCREATE, names with `..` or `/`, mUTF-7.
 *
 * @module
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { append, loggedIn, message, newMail, runScript } from "./_transcript.ts";

Deno.test("CREATE, DELETE, RENAME with RFC 5530 codes; bad names are NO", async () => {
  const c = await loggedIn(newMail());
  await runScript(c, [
    "C: a1 CREATE Work.",
    "S: a1 OK CREATE completed",
    "C: a2 CREATE Work",
    "S: a2 NO [ALREADYEXISTS] Mailbox already exists",
    "C: a3 CREATE inbox",
    "S: a3 NO [ALREADYEXISTS] INBOX always exists",
    "C: a4 CREATE a..b",
    "S: a4 NO [CANNOT] Invalid mailbox name: empty level",
    'C: a5 CREATE "a/b"',
    "S: a5 NO [CANNOT] Invalid mailbox name: character not allowed",
    "C: a6 CREATE {3+}",
    "C: a\tb",
    "S: a6 NO [CANNOT] Invalid mailbox name (bad modified UTF-7)",
    "C: a7 DELETE Nope",
    "S: a7 NO [NONEXISTENT] Mailbox does not exist: Nope",
    "C: a8 DELETE INBOX",
    "S: a8 NO [CANNOT] INBOX cannot be deleted",
    "C: a9 RENAME Work Play",
    "S: a9 OK RENAME completed",
    "C: b1 RENAME Work Other",
    "S: b1 NO [NONEXISTENT] Mailbox does not exist: Work",
    "C: b2 CREATE Other",
    "S: b2 OK CREATE completed",
    "C: b3 RENAME Play Other",
    "S: b3 NO [ALREADYEXISTS] Target exists",
    "C: b4 CREATE &Jjo-",
    "S: b4 OK CREATE completed",
    "C: b5 CREATE &Jjo",
    "S: b5 NO [CANNOT] Invalid mailbox name (bad modified UTF-7)",
    'C: b6 LIST "" *',
    'S: * LIST () "." INBOX',
    'S: * LIST () "." Other',
    'S: * LIST () "." Play',
    'S: * LIST () "." &Jjo-',
    "S: b6 OK LIST completed",
  ]);
});

Deno.test("imaptest list: separator, %, *, hierarchy-only levels, INBOX", async () => {
  const c = await loggedIn(newMail());
  for (const n of ["box.", "box.test", "box.test2", "box.test3.", "box.test3.test4.test5"]) {
    assertEquals(await c.lines(`c CREATE ${n}`), ["c OK CREATE completed"]);
  }
  await runScript(c, [
    'C: a1 LIST "" ""',
    'S: * LIST (\\Noselect) "." ""',
    "S: a1 OK LIST completed",
    'C: a2 LIST "" box.%',
    'S: * LIST () "." box.test',
    'S: * LIST () "." box.test2',
    'S: * LIST () "." box.test3',
    "S: a2 OK LIST completed",
    'C: a3 LIST "" box.%.%',
    'S: * LIST (\\Noselect) "." box.test3.test4',
    "S: a3 OK LIST completed",
    "C: a4 LIST box. *test*",
    'S: * LIST () "." box.test',
    'S: * LIST () "." box.test2',
    'S: * LIST () "." box.test3',
    'S: * LIST (\\Noselect) "." box.test3.test4',
    'S: * LIST () "." box.test3.test4.test5',
    "S: a4 OK LIST completed",
    'C: a5 LIST "" inbox',
    'S: * LIST () "." INBOX',
    "S: a5 OK LIST completed",
  ]);
});

Deno.test("imaptest listext: SUBSCRIBED, RECURSIVEMATCH CHILDINFO, RETURN (CHILDREN), STATUS", async () => {
  const c = await loggedIn(newMail());
  for (
    const n of ["m.test1", "m.test2.", "m.test2.test1", "m.test3", "m.test6", "m.test8.test8"]
  ) {
    assertEquals(await c.lines(`c CREATE ${n}`), ["c OK CREATE completed"]);
  }
  for (const n of ["m.test1", "m.test2.test1", "m.test6", "m.test8.test8"]) {
    assertEquals(await c.lines(`s SUBSCRIBE ${n}`), ["s OK SUBSCRIBE completed"]);
  }
  await runScript(c, [
    "C: d DELETE m.test6",
    "S: d OK DELETE completed",
    'C: a1 LIST "" (m.*2 m.test3)',
    'S: * LIST () "." m.test2',
    'S: * LIST () "." m.test3',
    "S: a1 OK LIST completed",
    'C: a2 LIST (SUBSCRIBED) "" m.*',
    'S: * LIST (\\Subscribed) "." m.test1',
    'S: * LIST (\\Subscribed) "." m.test2.test1',
    'S: * LIST (\\NonExistent \\Subscribed) "." m.test6',
    'S: * LIST (\\Subscribed) "." m.test8.test8',
    "S: a2 OK LIST completed",
    'C: a3 LIST (SUBSCRIBED RECURSIVEMATCH) "" m.test2% RETURN (CHILDREN)',
    'S: * LIST (\\HasChildren) "." m.test2 (CHILDINFO ("SUBSCRIBED"))',
    "S: a3 OK LIST completed",
    'C: a4 LIST "" m.% RETURN (CHILDREN SUBSCRIBED)',
    'S: * LIST (\\Subscribed \\HasNoChildren) "." m.test1',
    'S: * LIST (\\HasChildren) "." m.test2',
    'S: * LIST (\\HasNoChildren) "." m.test3',
    'S: * LIST (\\NonExistent \\HasChildren) "." m.test8',
    "S: a4 OK LIST completed",
    'C: a5 LIST (SUBSCRIBED RECURSIVEMATCH) "" (m.test2 m.test2.test1)',
    'S: * LIST (\\Subscribed) "." m.test2.test1',
    "S: a5 OK LIST completed",
    'C: a6 LIST "" m.test3 RETURN (STATUS (MESSAGES UIDNEXT SIZE))',
    'S: * LIST () "." m.test3',
    "S: * STATUS m.test3 (MESSAGES 0 UIDNEXT 1 SIZE 0)",
    "S: a6 OK LIST completed",
    "C: a7 UNSUBSCRIBE m.test1",
    "S: a7 OK UNSUBSCRIBE completed",
    'C: a8 LSUB "" m.*',
    'S: * LSUB () "." m.test2.test1',
    'S: * LSUB (\\Noselect) "." m.test6',
    'S: * LSUB () "." m.test8.test8',
    "S: a8 OK LSUB completed",
  ]);
});

Deno.test("SPECIAL-USE attributes are listed; the SPECIAL-USE selection filters", async () => {
  const mail = newMail();
  mail.account("alice").createSpecial("Sent", "\\Sent");
  const c = await loggedIn(mail);
  await runScript(c, [
    'C: a1 LIST "" *',
    'S: * LIST () "." INBOX',
    'S: * LIST (\\Sent) "." Sent',
    "S: a1 OK LIST completed",
    'C: a2 LIST (SPECIAL-USE) "" *',
    'S: * LIST (\\Sent) "." Sent',
    "S: a2 OK LIST completed",
  ]);
});

Deno.test("APPEND: APPENDUID, TRYCREATE, flags and date, MULTIAPPEND all-or-none", async () => {
  const c = await loggedIn(newMail());
  assertEquals(await append(c, "INBOX", message("one")), [
    "A OK [APPENDUID 1000 1] Append completed",
  ]);
  assertEquals(await append(c, "Missing", message("x")), [
    "A NO [TRYCREATE] Mailbox does not exist: Missing",
  ]);
  assertEquals(await append(c, "INBOX", message("x"), "\\Recent"), [
    "A BAD Invalid system flag \\recent",
  ]);
  const m1 = message("two");
  const m2 = message("three");
  const multi = `m1 APPEND INBOX (\\Seen $Work) "05-Feb-2024 10:00:00 +0100" {${m1.length}+}\r\n` +
    `${m1} {${m2.length}+}\r\n${m2}\r\n`;
  assertEquals(await c.send(multi), "m1 OK [APPENDUID 1000 2:3] Append completed\r\n");
  await runScript(c, [
    "C: s1 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)",
    "S: * STATUS INBOX (MESSAGES 3 RECENT 3 UIDNEXT 4 UIDVALIDITY 1000 UNSEEN 2)",
    "S: s1 OK STATUS completed",
    "C: s2 STATUS Nope (MESSAGES)",
    "S: s2 NO [NONEXISTENT] Mailbox does not exist: Nope",
    "C: s3 EXAMINE INBOX",
    "S: *",
    "C: s4 FETCH 2 (FLAGS INTERNALDATE)",
    'S: * 2 FETCH (FLAGS (\\Seen $Work \\Recent) INTERNALDATE "05-Feb-2024 09:00:00 +0000")',
    "S: s4 OK FETCH completed",
  ]);
});

Deno.test("imaptest select: EXAMINE keeps \\Recent, SELECT claims it, STATUS agrees", async () => {
  const c = await loggedIn(newMail());
  await append(c, "INBOX", message("a"));
  await append(c, "INBOX", message("b"));
  await runScript(c, [
    "C: a1 EXAMINE INBOX",
    "S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
    "S: * 2 EXISTS",
    "S: * 2 RECENT",
    "S: * OK [UNSEEN 1] First unseen",
    "S: * OK [PERMANENTFLAGS ()] No permanent flags permitted",
    "S: * OK [UIDVALIDITY 1000] UIDs valid",
    "S: * OK [UIDNEXT 3] Predicted next UID",
    "S: a1 OK [READ-ONLY] EXAMINE completed",
    "C: a2 CLOSE",
    "S: a2 OK CLOSE completed",
    "C: a3 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)",
    "S: * STATUS INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY 1000 UNSEEN 2)",
    "S: a3 OK STATUS completed",
    "C: a4 SELECT INBOX",
    "S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
    "S: * 2 EXISTS",
    "S: * 2 RECENT",
    "S: * OK [UNSEEN 1] First unseen",
    "S: * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted",
    "S: * OK [UIDVALIDITY 1000] UIDs valid",
    "S: * OK [UIDNEXT 3] Predicted next UID",
    "S: a4 OK [READ-WRITE] SELECT completed",
    "C: a5 CLOSE",
    "S: a5 OK CLOSE completed",
    "C: a6 STATUS INBOX (RECENT)",
    "S: * STATUS INBOX (RECENT 0)",
    "S: a6 OK STATUS completed",
    "C: a7 SELECT Missing",
    "S: a7 NO [NONEXISTENT] Mailbox does not exist: Missing",
  ]);
  assertEquals(c.session.state, "auth");
});
