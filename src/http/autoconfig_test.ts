import assert from "node:assert/strict";
import { XMLParser } from "fast-xml-parser";
import { DOMAINS, exchange, get, HOSTNAME, startTestService } from "./_testing.ts";

const parser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  isArray: (name) => ["domain", "outgoingServer"].includes(name),
});

// deno-lint-ignore no-explicit-any
type Xml = any;

function checkServer(s: Xml, type: string, port: string, socketType: string) {
  assert.equal(s["@_type"], type);
  assert.equal(s.hostname, HOSTNAME);
  assert.equal(s.port, port);
  assert.equal(s.socketType, socketType);
  assert.equal(s.username, "%EMAILADDRESS%");
  assert.equal(s.authentication, "password-cleartext");
}

/** The emailProvider of a 200 response, checked field by field for `domain`. */
function checkConfig(body: string, domain: string, ports = ["993", "465", "587"]) {
  const doc: Xml = parser.parse(body);
  assert.equal(doc.clientConfig["@_version"], "1.1");
  const p = doc.clientConfig.emailProvider;
  assert.equal(p["@_id"], domain);
  assert.deepEqual(p.domain, DOMAINS);
  checkServer(p.incomingServer, "imap", ports[0]!, "SSL");
  assert.equal(p.outgoingServer.length, 2);
  checkServer(p.outgoingServer[0], "smtp", ports[1]!, "SSL");
  checkServer(p.outgoingServer[1], "smtp", ports[2]!, "STARTTLS");
}

Deno.test("autoconfig: both paths, HTTP and HTTPS, for an address in a local domain", async () => {
  const t = await startTestService();
  try {
    const q = "?emailaddress=" + encodeURIComponent("Someone@Other.Test");
    const a = await exchange(t.httpPort, get("/mail/config-v1.1.xml" + q, "autoconfig.other.test"));
    assert.equal(a.status, 200);
    assert.equal(a.headers.get("content-type"), "application/xml; charset=utf-8");
    assert.equal(a.headers.get("x-content-type-options"), "nosniff");
    checkConfig(a.body, "other.test");
    const wk = await exchange(
      t.httpsPort,
      get("/.well-known/autoconfig/mail/config-v1.1.xml" + q, "other.test"),
      { ca: t.cert.certPem },
    );
    assert.equal(wk.status, 200);
    checkConfig(wk.body, "other.test");
  } finally {
    await t.service.stop(1000);
  }
});

Deno.test("autoconfig: without emailaddress, the autoconfig host's domain or the primary", async () => {
  const t = await startTestService({ ports: { imaps: 1993, submission: 1587 } });
  try {
    const primary = await exchange(t.httpPort, get("/mail/config-v1.1.xml", "mail.example.test"));
    checkConfig(primary.body, "example.test", ["1993", "465", "1587"]);
    const byHost = await exchange(
      t.httpPort,
      get("/mail/config-v1.1.xml", "autoconfig.other.test"),
    );
    checkConfig(byHost.body, "other.test", ["1993", "465", "1587"]);
    const unknownHost = await exchange(
      t.httpPort,
      get("/mail/config-v1.1.xml", "autoconfig.x.test"),
    );
    checkConfig(unknownHost.body, "example.test", ["1993", "465", "1587"]);
  } finally {
    await t.service.stop(1000);
  }
});

Deno.test("autoconfig: 404 for addresses outside the local domains or not addresses", async () => {
  const t = await startTestService();
  try {
    for (
      const a of [
        "a@elsewhere.test",
        "a@sub.example.test",
        "example.test",
        "@example.test",
        "a@[127.0.0.1]",
        "",
        "<x>@example.test",
        "a@example.test\n",
      ]
    ) {
      const q = "?emailaddress=" + encodeURIComponent(a);
      const r = await exchange(t.httpPort, get("/mail/config-v1.1.xml" + q));
      assert.equal(r.status, 404, JSON.stringify(a));
      assert.ok(!r.body.includes("<"), "no XML in a 404");
    }
    const post = await exchange(t.httpPort, get("/mail/config-v1.1.xml", "a", "POST"));
    assert.equal(post.status, 405);
    // A reload changes what is served.
    t.service.configure({
      hostname: "new.example.test",
      domains: ["third.test"],
      limits: { maxConnections: 5, maxConnectionsPerIp: 5, handshakeTimeoutMs: 1000 },
    });
    const q = "?emailaddress=a@third.test";
    const r = await exchange(t.httpPort, get("/mail/config-v1.1.xml" + q));
    const doc: Xml = parser.parse(r.body);
    assert.equal(doc.clientConfig.emailProvider.incomingServer.hostname, "new.example.test");
    assert.deepEqual(doc.clientConfig.emailProvider.domain, ["third.test"]);
    const old = await exchange(t.httpPort, get("/mail/config-v1.1.xml?emailaddress=a@other.test"));
    assert.equal(old.status, 404);
  } finally {
    await t.service.stop(1000);
  }
});
