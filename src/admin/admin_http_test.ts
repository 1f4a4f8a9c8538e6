import assert from "node:assert/strict";
import type { HttpRequest } from "../http/read_request.ts";
import { cookie, jsonBody, refuseStateChange, sessionCookie } from "./admin_http.ts";

function req(headers: Record<string, string>, body = "", tls = false): HttpRequest {
  return {
    method: "POST",
    target: "/api/x",
    path: "/api/x",
    query: new URLSearchParams(),
    version: "1.1",
    headers: new Headers(headers),
    host: "127.0.0.1",
    body: new TextEncoder().encode(body),
    tls,
    peer: { address: "127.0.0.1", port: 5000 },
  } as HttpRequest;
}

const JSON_TYPE = { "content-type": "application/json", host: "127.0.0.1:8080" };

Deno.test("refuseStateChange: JSON, same origin and the CSRF token are all required", () => {
  assert.equal(refuseStateChange(req({ ...JSON_TYPE, "x-csrf-token": "t" }), "t"), null);
  assert.equal(refuseStateChange(req({ ...JSON_TYPE }), null), null, "login needs no token");
  const form = refuseStateChange(
    req({ ...JSON_TYPE, "content-type": "application/x-www-form-urlencoded" }),
    null,
  );
  assert.equal(form?.status, 415);
  assert.equal(
    refuseStateChange(req({ ...JSON_TYPE, "content-type": "text/plain" }), null)?.status,
    415,
  );
  assert.equal(refuseStateChange(req({ ...JSON_TYPE }), "t")?.status, 403, "no token");
  assert.equal(refuseStateChange(req({ ...JSON_TYPE, "x-csrf-token": "u" }), "t")?.status, 403);
  const origin = (o: string, tls = false) =>
    refuseStateChange(req({ ...JSON_TYPE, origin: o, "x-csrf-token": "t" }, "", tls), "t")?.status;
  assert.equal(origin("http://127.0.0.1:8080"), undefined);
  assert.equal(origin("http://127.0.0.1:8081"), 403, "another port is another origin");
  assert.equal(origin("https://127.0.0.1:8080"), 403);
  assert.equal(origin("https://127.0.0.1:8080", true), undefined);
  assert.equal(origin("null"), 403);
  const site = (s: string) =>
    refuseStateChange(req({ ...JSON_TYPE, "sec-fetch-site": s, "x-csrf-token": "t" }), "t")
      ?.status;
  assert.equal(site("same-origin"), undefined);
  assert.equal(site("same-site"), 403, "another port of 127.0.0.1 is the same site");
  assert.equal(site("cross-site"), 403);
});

Deno.test("cookie() finds one cookie among several; sessionCookie has the flags", () => {
  assert.equal(cookie(req({ cookie: "a=1; postie_session=xyz; b=2" }), "postie_session"), "xyz");
  assert.equal(cookie(req({ cookie: "a=1" }), "postie_session"), undefined);
  assert.equal(cookie(req({}), "postie_session"), undefined);
  assert.equal(
    sessionCookie("ID", "/admin/", 60),
    "postie_session=ID; Path=/admin/; Max-Age=60; HttpOnly; Secure; SameSite=Strict",
  );
});

Deno.test("jsonBody accepts only a JSON object", () => {
  assert.deepEqual(jsonBody(req({}, '{"a":1}')), { a: 1 });
  assert.deepEqual(jsonBody(req({}, "")), {});
  assert.equal(jsonBody(req({}, "[1]")), null);
  assert.equal(jsonBody(req({}, "null")), null);
  assert.equal(jsonBody(req({}, "{bad")), null);
  assert.equal(jsonBody(req({}, '"text"')), null);
});
