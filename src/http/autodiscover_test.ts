import assert from "node:assert/strict";
import { XMLParser } from "fast-xml-parser";
import { escapeXml } from "./_xml.ts";
import { exchange, HOSTNAME, post, startTestService } from "./_testing.ts";

const parser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  isArray: (name) => name === "Protocol",
});

const REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
const OUTLOOK_NS =
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/** An Outlook POX request for `address` (escaped here, as a client would). */
function request(address: string, prefix = ""): string {
  const p = prefix ? `${prefix}:` : "";
  return `<?xml version="1.0" encoding="utf-8"?>
<${p}Autodiscover xmlns${prefix ? ":" + prefix : ""}="${REQUEST_NS}">
  <${p}Request>
    <${p}EMailAddress>${escapeXml(address)}</${p}EMailAddress>
    <${p}AcceptableResponseSchema>${OUTLOOK_NS}</${p}AcceptableResponseSchema>
  </${p}Request>
</${p}Autodiscover>`;
}

// deno-lint-ignore no-explicit-any
type Xml = any;

function checkResponse(body: string, address: string) {
  const doc: Xml = parser.parse(body);
  const root = doc.Autodiscover;
  assert.equal(
    root["@_xmlns"],
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
  );
  assert.equal(root.Response["@_xmlns"], OUTLOOK_NS);
  const account = root.Response.Account;
  assert.equal(account.AccountType, "email");
  assert.equal(account.Action, "settings");
  const [imap, smtp] = account.Protocol;
  assert.equal(account.Protocol.length, 2);
  for (const [p, type, port] of [[imap, "IMAP", "993"], [smtp, "SMTP", "465"]]) {
    assert.equal(p.Type, type);
    assert.equal(p.Server, HOSTNAME);
    assert.equal(p.Port, port);
    assert.equal(p.SSL, "on");
    assert.equal(p.SPA, "off");
    assert.equal(p.AuthRequired, "on");
    assert.equal(p.LoginName, address);
  }
}

Deno.test("autodiscover: a POX request for a local address gets IMAP and SMTP settings", async () => {
  const t = await startTestService();
  try {
    const r = await exchange(
      t.httpPort,
      post(
        "/autodiscover/autodiscover.xml",
        request("user@example.test"),
        "autodiscover.example.test",
      ),
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/xml; charset=utf-8");
    checkResponse(r.body, "user@example.test");
    // Any case of the path, a namespace prefix, over HTTPS.
    const s = await exchange(
      t.httpsPort,
      post("/AutoDiscover/AutoDiscover.xml", request("x@Other.Test", "a")),
      { ca: t.cert.certPem },
    );
    assert.equal(s.status, 200);
    checkResponse(s.body, "x@Other.Test");
  } finally {
    await t.service.stop(1000);
  }
});

Deno.test("autodiscover: a hostile address is escaped in the response", async () => {
  const t = await startTestService();
  try {
    for (const address of [`"<x>&'\\"</LoginName>"@example.test`, "o'neil&co@example.test"]) {
      const r = await exchange(
        t.httpPort,
        post("/autodiscover/autodiscover.xml", request(address)),
      );
      assert.equal(r.status, 200, address);
      checkResponse(r.body, address);
      assert.ok(!r.body.includes("<x>"));
      assert.equal(r.body.match(/<LoginName>/g)?.length, 2);
    }
  } finally {
    await t.service.stop(1000);
  }
});

Deno.test("autodiscover: 404 outside the local domains, 400 for bad or unsafe XML", async () => {
  const t = await startTestService();
  const path = "/autodiscover/autodiscover.xml";
  try {
    const answer = async (body: string) => (await exchange(t.httpPort, post(path, body))).status;
    assert.equal(await answer(request("user@elsewhere.test")), 404);
    assert.equal(await answer(request("not an address")), 404);
    assert.equal(await answer(request("")), 400);
    assert.equal(await answer("<Autodiscover><Request/></Autodiscover>"), 400);
    assert.equal(await answer("not xml at all"), 400);
    // No DTD, so no entity expansion (billion laughs) and no external entity.
    const laughs = `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l "lol"><!ENTITY l2 "&l;&l;">]>` +
      `<Autodiscover><Request><EMailAddress>&l2;@example.test</EMailAddress></Request></Autodiscover>`;
    assert.equal(await answer(laughs), 400);
    const xxe = request("user@example.test").replace(
      '<?xml version="1.0" encoding="utf-8"?>',
      `<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd">`,
    );
    assert.equal(await answer(xxe), 400);
    // Unknown entities and broken references are not guessed at.
    assert.equal(await answer(request("user@example.test").replace("user", "&foo;user")), 400);
    // Character references are plain characters.
    assert.equal(await answer(request("user@example.test").replace("u", "&#x75;")), 200);
    assert.equal(await answer(request("x").replace("x", "a" + "b".repeat(17000))), 400);
    const get = await exchange(t.httpPort, `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
  } finally {
    await t.service.stop(1000);
  }
});
