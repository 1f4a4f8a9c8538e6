import assert from "node:assert/strict";
import { buildDsn, type DsnInput } from "./dsn.ts";
import type { DsnRecipient } from "./dsn_recipient.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const ORIGINAL_HEADER = "Received: from client.example (client.example [192.0.2.1])\r\n" +
  "\tby mail.example.com with ESMTPSA id Q1;\r\n\tTue, 02 Jan 2024 03:04:05 +0000\r\n" +
  "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: hello\r\n" +
  "Message-ID: <1@example.com>\r\n\r\n";

const FAILED: DsnRecipient = {
  address: "bob@example.net",
  action: "failed",
  status: "5.1.1",
  diagnostic: "550 5.1.1 <bob@example.net>: User unknown",
  remoteMta: "mx.example.net",
  lastAttempt: new Date("2024-01-02T04:00:00Z"),
};

const DELAYED: DsnRecipient = {
  address: "carol@example.org",
  action: "delayed",
  status: "4.4.1",
  diagnostic: "451 4.4.1 try again later",
  remoteMta: "192.0.2.7",
  lastAttempt: new Date("2024-01-02T05:00:00Z"),
  willRetryUntil: new Date("2024-01-07T03:04:05Z"),
};

function input(overrides: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: "mail.example.com",
    originalSender: "alice@example.com",
    queueId: "0123abcd",
    arrivalDate: new Date("2024-01-02T03:04:05Z"),
    recipients: [FAILED, DELAYED],
    originalHeader: enc.encode(ORIGINAL_HEADER),
    now: new Date("2024-01-03T00:00:00Z"),
    ...overrides,
  };
}

// --- a small, strict reader of what buildDsn writes -------------------------------------------

type Fields = Map<string, string[]>;

/** Header fields, unfolded (RFC 5322 §2.2.3), by lowercase name. */
function parseFields(block: string): Fields {
  const out: Fields = new Map();
  const unfolded = block.replace(/\r\n(?=[ \t])/g, "");
  for (const line of unfolded.split("\r\n")) {
    if (line === "") continue;
    const m = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    assert.ok(m, `not a header field: ${JSON.stringify(line)}`);
    const name = m[1]!.toLowerCase();
    out.set(name, [...(out.get(name) ?? []), m[2]!]);
  }
  return out;
}

function one(fields: Fields, name: string): string {
  const v = fields.get(name.toLowerCase());
  assert.ok(v, `missing ${name}`);
  assert.equal(v.length, 1, `more than one ${name}`);
  return v[0]!;
}

interface Part {
  fields: Fields;
  body: string;
}

interface Parsed {
  fields: Fields;
  boundary: string;
  parts: Part[];
}

function splitHeader(s: string): { head: string; body: string } {
  const i = s.indexOf("\r\n\r\n");
  assert.ok(i >= 0, "no empty line after the header");
  return { head: s.slice(0, i + 2), body: s.slice(i + 4) };
}

function parse(dsn: Uint8Array): Parsed {
  const text = dec.decode(dsn);
  const { head, body } = splitHeader(text);
  const fields = parseFields(head);
  const ct = one(fields, "Content-Type");
  const m = /boundary="([^"]+)"/.exec(ct);
  assert.ok(m, "no boundary");
  const boundary = m[1]!;
  const pieces = body.split(`\r\n--${boundary}`);
  assert.equal(pieces.at(-1), "--\r\n", "the close delimiter ends the message");
  const parts = pieces.slice(1, -1).map((p) => {
    assert.ok(p.startsWith("\r\n"), "the delimiter line ends right after the boundary");
    const { head, body } = splitHeader(p.slice(2));
    return { fields: parseFields(head), body };
  });
  return { fields, boundary, parts };
}

/** The per-message block and the per-recipient blocks of a message/delivery-status body. */
function statusBlocks(body: string): Fields[] {
  return body.replace(/\r\n$/, "").split("\r\n\r\n").map(parseFields);
}

function decodeQp(s: string): Uint8Array {
  const soft = s.replace(/=\r\n/g, "");
  const out: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === "=") {
      out.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(soft.charCodeAt(i));
  }
  return new Uint8Array(out);
}

function partText(p: Part): string {
  const cte = one(p.fields, "Content-Transfer-Encoding").toLowerCase();
  return cte === "quoted-printable" ? dec.decode(decodeQp(p.body)) : p.body;
}

/** Every line ends in CRLF, no bare CR or LF, no line over 998 octets, all 7-bit. */
function assertWellFormed(dsn: Uint8Array): void {
  let len = 0;
  for (let i = 0; i < dsn.length; i++) {
    const b = dsn[i]!;
    assert.ok(b > 0 && b < 0x80, `octet ${b} at ${i} is not 7-bit ASCII`);
    if (b === 13) {
      assert.equal(dsn[i + 1], 10, `bare CR at ${i}`);
      i++;
      len = 0;
    } else {
      assert.notEqual(b, 10, `bare LF at ${i}`);
      len++;
      assert.ok(len <= 998, `line over 998 octets at ${i}`);
    }
  }
  assert.equal(len, 0, "the last line ends in CRLF");
}

const STATUS_RE = /^[245]\.\d{1,3}\.\d{1,3}$/;
const DATE_RE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/;

// --- buildDsn -----------------------------------------------------------------------------------

Deno.test("buildDsn: multipart/report with the three parts of RFC 6522 and RFC 3464", () => {
  const dsn = buildDsn(input());
  assertWellFormed(dsn);
  const { fields, parts, boundary } = parse(dsn);

  assert.equal(
    one(fields, "From"),
    "Mail Delivery System <MAILER-DAEMON@mail.example.com>",
  );
  assert.equal(one(fields, "To"), "<alice@example.com>");
  assert.equal(one(fields, "Subject"), "Undelivered Mail Returned to Sender");
  assert.equal(one(fields, "Date"), "Wed, 03 Jan 2024 00:00:00 +0000");
  assert.match(one(fields, "Message-ID"), /^<[!-=?-~]+@mail\.example\.com>$/);
  assert.equal(one(fields, "Auto-Submitted"), "auto-replied");
  assert.equal(one(fields, "MIME-Version"), "1.0");
  assert.match(
    one(fields, "Content-Type"),
    /^multipart\/report; report-type=delivery-status; boundary="[^"]+"$/,
  );

  assert.equal(parts.length, 3);
  assert.match(one(parts[0]!.fields, "Content-Type"), /^text\/plain; charset=us-ascii$/);
  assert.equal(one(parts[1]!.fields, "Content-Type"), "message/delivery-status");
  assert.equal(one(parts[2]!.fields, "Content-Type"), "text/rfc822-headers");

  // The boundary occurs nowhere but in the delimiters.
  const all = dec.decode(dsn);
  assert.equal(all.split(boundary).length - 1, 1 + 4);

  // Per-message fields, then one block per recipient (RFC 3464 §2.1).
  const blocks = statusBlocks(parts[1]!.body);
  assert.equal(blocks.length, 1 + 2);
  const perMessage = blocks[0]!;
  assert.equal(one(perMessage, "Reporting-MTA"), "dns; mail.example.com");
  assert.equal(one(perMessage, "Arrival-Date"), "Tue, 02 Jan 2024 03:04:05 +0000");
  assert.equal(one(perMessage, "X-Postie-Queue-ID"), "0123abcd");
  assert.equal(perMessage.has("final-recipient"), false);

  const [bob, carol] = [blocks[1]!, blocks[2]!];
  assert.equal(one(bob, "Final-Recipient"), "rfc822; bob@example.net");
  assert.equal(one(bob, "Action"), "failed");
  assert.equal(one(bob, "Status"), "5.1.1");
  assert.equal(one(bob, "Remote-MTA"), "dns; mx.example.net");
  assert.equal(one(bob, "Diagnostic-Code"), "smtp; 550 5.1.1 <bob@example.net>: User unknown");
  assert.equal(one(bob, "Last-Attempt-Date"), "Tue, 02 Jan 2024 04:00:00 +0000");
  assert.equal(bob.has("will-retry-until"), false, "Will-Retry-Until is for delayed only");

  assert.equal(one(carol, "Final-Recipient"), "rfc822; carol@example.org");
  assert.equal(one(carol, "Action"), "delayed");
  assert.equal(one(carol, "Status"), "4.4.1");
  assert.equal(one(carol, "Remote-MTA"), "dns; [192.0.2.7]");
  assert.equal(one(carol, "Diagnostic-Code"), "smtp; 451 4.4.1 try again later");
  assert.equal(one(carol, "Will-Retry-Until"), "Sun, 07 Jan 2024 03:04:05 +0000");

  for (const b of blocks.slice(1)) {
    assert.match(one(b, "Status"), STATUS_RE);
    for (const name of ["Last-Attempt-Date", "Will-Retry-Until"]) {
      for (const v of b.get(name.toLowerCase()) ?? []) assert.match(v, DATE_RE);
    }
  }
  assert.match(one(fields, "Date"), DATE_RE);
  assert.match(one(perMessage, "Arrival-Date"), DATE_RE);

  // The returned header section, as is, without its terminating empty line (RFC 6522 §4).
  assert.equal(one(parts[2]!.fields, "Content-Transfer-Encoding"), "7bit");
  assert.equal(parts[2]!.body, ORIGINAL_HEADER.slice(0, -2));
});

Deno.test("buildDsn: the human-readable part explains each recipient in plain English", () => {
  const text = partText(parse(buildDsn(input())).parts[0]!).replace(/\r\n\s*/g, " ");
  assert.match(text, /mail system at host mail\.example\.com/);
  assert.match(text, /could not be delivered/);
  assert.match(text, /will not try again/);
  assert.match(text, /<bob@example\.net>: Reason: the recipient's mailbox does not exist/);
  assert.match(text, /550 5\.1\.1 <bob@example\.net>: User unknown/);
  assert.match(text, /<carol@example\.org>: .*has been delayed|has been delayed.*<carol@/);
  assert.match(text, /keep trying until Sun, 07 Jan 2024 03:04:05 \+0000/);
  assert.match(text, /0123abcd/);

  const delayedOnly = partText(parse(buildDsn(input({ recipients: [DELAYED] }))).parts[0]!)
    .replace(/\r\n\s*/g, " ");
  assert.match(delayedOnly, /will keep trying/);
  assert.match(delayedOnly, /do not need to send the message again/);
  assert.doesNotMatch(delayedOnly, /will not try again/);
});

Deno.test("buildDsn: subject for failed, delayed only, and mixed", () => {
  const subject = (recipients: DsnRecipient[]) =>
    one(parse(buildDsn(input({ recipients }))).fields, "Subject");
  assert.equal(subject([FAILED]), "Undelivered Mail Returned to Sender");
  assert.equal(subject([DELAYED]), "Delayed Mail (still being retried)");
  assert.equal(subject([DELAYED, { ...DELAYED, address: "dave@example.org" }]), subject([DELAYED]));
  assert.equal(subject([DELAYED, FAILED]), "Undelivered Mail Returned to Sender");
});

Deno.test("buildDsn: CR/LF in a diagnostic cannot add header fields or DSN fields", () => {
  const evil: DsnRecipient = {
    ...FAILED,
    diagnostic: "550 no such user\r\nBcc: victim@example.org\r\n\r\nInjected: yes\rX-A: 1\nX-B: 2" +
      "\u0000\u0085\u2028Status: 2.0.0",
    remoteMta: "mx.example.net\r\nX-Evil: 1",
    address: "bob@example.net\r\nAction: delivered",
  };
  const dsn = buildDsn(input({
    recipients: [evil],
    originalSender: "alice@example.com\r\nBcc: x@example.org",
    reportingMta: "mail.example.com\r\nX-Evil: 2",
    queueId: "Q1\r\nX-Evil: 3",
  }));
  assertWellFormed(dsn);
  const { fields, parts } = parse(dsn);
  const lines = dec.decode(dsn).split("\r\n");
  for (const bad of ["Bcc:", "Injected:", "X-A:", "X-B:", "X-Evil:"]) {
    assert.ok(!lines.some((l) => l.startsWith(bad)), `${bad} became a field of its own`);
  }
  assert.equal(fields.has("bcc"), false);
  const blocks = statusBlocks(parts[1]!.body);
  assert.equal(blocks.length, 2);
  const r = blocks[1]!;
  assert.deepEqual([...r.keys()].sort(), [
    "action",
    "diagnostic-code",
    "final-recipient",
    "last-attempt-date",
    "remote-mta",
    "status",
  ]);
  assert.equal(one(r, "Action"), "failed");
  assert.equal(one(r, "Status"), "5.1.1");
  assert.match(one(r, "Diagnostic-Code"), /^smtp; 550 no such user Bcc: victim@example\.org/);
  const known = new Set([
    "reporting-mta",
    "x-postie-queue-id",
    "arrival-date",
    "final-recipient",
    "action",
    "status",
    "remote-mta",
    "diagnostic-code",
    "last-attempt-date",
    "will-retry-until",
  ]);
  for (const b of blocks) for (const k of b.keys()) assert.ok(known.has(k), `unexpected ${k}`);
});

Deno.test("buildDsn: long diagnostics, addresses and header lines stay within 998 octets", () => {
  const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");
  const longWord = "x".repeat(5000);
  const dsn = buildDsn(input({
    recipients: [
      { ...FAILED, diagnostic: `550 5.7.1 ${words}` },
      { ...FAILED, address: `${"a".repeat(1500)}@example.net`, diagnostic: `550 ${longWord}` },
    ],
    originalHeader: enc.encode(`Subject: ${"y".repeat(3000)}\r\nX-Bare: a\nb\rc\r\n\r\n`),
  }));
  assertWellFormed(dsn);
  const { parts } = parse(dsn);
  const blocks = statusBlocks(parts[1]!.body);
  // Folding keeps the words: unfolded, the diagnostic is the same text.
  assert.equal(one(blocks[1]!, "Diagnostic-Code"), `smtp; 550 5.7.1 ${words}`);
  // Over 2000 characters, a diagnostic is cut short; a word too long for one line is split
  // (unfolding then shows a space where it was split).
  assert.match(one(blocks[2]!, "Diagnostic-Code"), /^smtp; 550 x[x ]+x\.\.\.$/);
  assert.ok(one(blocks[2]!, "Diagnostic-Code").length < 2020);
  // The returned header goes out in quoted-printable, octet for octet.
  assert.equal(one(parts[2]!.fields, "Content-Transfer-Encoding"), "quoted-printable");
  assert.equal(
    dec.decode(decodeQp(parts[2]!.body)),
    `Subject: ${"y".repeat(3000)}\r\nX-Bare: a\nb\rc\r\n`,
  );
});

Deno.test("buildDsn: non-ASCII addresses and text keep the message 7-bit (RFC 6533 §3)", () => {
  const dsn = buildDsn(input({
    originalSender: "dörte@bücher.example",
    recipients: [{
      ...FAILED,
      address: "用户@例子.example",
      diagnostic: "550 5.1.1 unbekannter Empfänger",
    }, { ...DELAYED, address: "ok+tag@bücher.example" }],
    originalHeader: enc.encode("Subject: Grüße\r\n\r\n"),
  }));
  assertWellFormed(dsn);
  const { fields, parts } = parse(dsn);
  assert.match(one(fields, "To"), /^=\?utf-8\?B\?[A-Za-z0-9+/=]+\?=( =\?utf-8\?B\?[^?]+\?=)*:;$/);
  const blocks = statusBlocks(parts[1]!.body);
  assert.equal(
    one(blocks[1]!, "Final-Recipient"),
    "utf-8; \\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.example",
  );
  assert.equal(one(blocks[1]!, "Diagnostic-Code"), "smtp; 550 5.1.1 unbekannter Empf?nger");
  assert.equal(
    one(blocks[2]!, "Final-Recipient"),
    "utf-8; ok\\x{2B}tag@b\\x{FC}cher.example",
  );
  const text = partText(parts[0]!);
  assert.match(one(parts[0]!.fields, "Content-Type"), /charset=utf-8/);
  assert.match(text, /<用户@例子\.example>/);
  assert.match(text, /unbekannter Empfänger/);
  assert.equal(dec.decode(decodeQp(parts[2]!.body)), "Subject: Grüße\r\n");

  // An ASCII local part at a non-ASCII domain: the domain in its A-label form.
  const idn = parse(buildDsn(input({ originalSender: "anna@bücher.example" })));
  assert.equal(one(idn.fields, "To"), "<anna@xn--bcher-kva.example>");
});

Deno.test("buildDsn: Message-ID domain, fresh boundaries, bad status codes, no recipients", () => {
  const a = parse(buildDsn(input({ messageIdDomain: "ids.example.com" })));
  const b = parse(buildDsn(input()));
  assert.match(one(a.fields, "Message-ID"), /@ids\.example\.com>$/);
  assert.notEqual(one(a.fields, "Message-ID"), one(b.fields, "Message-ID"));
  assert.notEqual(a.boundary, b.boundary);

  const bad = parse(buildDsn(input({
    recipients: [{ ...FAILED, status: "550" }, { ...DELAYED, status: "4.4" }],
  })));
  const blocks = statusBlocks(bad.parts[1]!.body);
  assert.equal(one(blocks[1]!, "Status"), "5.0.0");
  assert.equal(one(blocks[2]!, "Status"), "4.0.0");

  // Optional fields are left out when unknown; a local error is not labelled "smtp".
  const bare = parse(buildDsn(input({
    recipients: [{
      address: "x@example.net",
      action: "failed",
      status: "5.4.4",
      diagnostic: "no MX",
    }],
    originalHeader: new Uint8Array(),
  })));
  const r = statusBlocks(bare.parts[1]!.body)[1]!;
  assert.deepEqual([...r.keys()].sort(), [
    "action",
    "diagnostic-code",
    "final-recipient",
    "status",
  ]);
  assert.equal(one(r, "Diagnostic-Code"), "X-Postie; no MX");
  assert.equal(bare.parts[2]!.body, "");

  assert.throws(() => buildDsn(input({ recipients: [] })), RangeError);
});

Deno.test("buildDsn: Python's email package reads it as a multipart/report", async () => {
  const script = `
import sys, json, email
m = email.message_from_bytes(sys.stdin.buffer.read())
parts = m.get_payload()
blocks = parts[1].get_payload()
print(json.dumps({
  "type": m.get_content_type(),
  "reportType": m.get_param("report-type"),
  "defects": [str(d) for p in [m, *parts] for d in p.defects],
  "parts": [p.get_content_type() for p in parts],
  "subject": m["subject"],
  "perMessage": [[k, v] for k, v in blocks[0].items()],
  "recipients": [[[k, v] for k, v in b.items()] for b in blocks[1:]],
  "text": parts[0].get_payload(decode=True).decode(parts[0].get_content_charset()),
  "returned": parts[2].get_payload(decode=True).decode("utf-8"),
}))
`;
  let child;
  try {
    child = new Deno.Command("python3", {
      args: ["-c", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        "python3 is not installed (Debian: apt-get install python3); see tests/support/requirements.ts",
      );
    }
    throw e;
  }
  const original = "Subject: Grüße\r\nFrom: alice@example.com\r\n\r\n";
  const dsn = buildDsn(input({
    recipients: [FAILED, DELAYED, { ...FAILED, address: "zoë@example.net" }],
    originalHeader: enc.encode(original),
  }));
  const writer = child.stdin.getWriter();
  await writer.write(dsn);
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  const seen = JSON.parse(dec.decode(out.stdout));
  assert.equal(seen.type, "multipart/report");
  assert.equal(seen.reportType, "delivery-status");
  assert.deepEqual(seen.defects, []);
  assert.deepEqual(seen.parts, ["text/plain", "message/delivery-status", "text/rfc822-headers"]);
  assert.equal(seen.subject, "Undelivered Mail Returned to Sender");
  const perMessage = new Map<string, string>(seen.perMessage);
  assert.equal(perMessage.get("Reporting-MTA"), "dns; mail.example.com");
  assert.equal(seen.recipients.length, 3);
  const recipients = (seen.recipients as [string, string][][]).map((r) => new Map(r));
  assert.deepEqual(recipients.map((r) => r.get("Action")), ["failed", "delayed", "failed"]);
  for (const r of recipients) assert.match(r.get("Status")!, STATUS_RE);
  assert.equal(recipients[2]!.get("Final-Recipient"), "utf-8; zo\\x{EB}@example.net");
  assert.match(seen.text, /<zoë@example\.net>/);
  assert.equal(seen.returned.replace(/\r\n/g, "\n"), original.slice(0, -2).replace(/\r\n/g, "\n"));
});
