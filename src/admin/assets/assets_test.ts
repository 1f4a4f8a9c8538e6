/**
 * The embedded admin page files: the script parses, and the HTML keeps to the page's CSP (no
 * inline script, style or event handler) and to relative URLs.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ADMIN_ASSETS } from "./assets.ts";
import { APP_JS } from "./app_js.ts";
import { INDEX_HTML } from "./index_html.ts";

Deno.test("admin assets: index.html, app.js and app.css with their content types", () => {
  assert.deepEqual(Object.keys(ADMIN_ASSETS).sort(), ["", "app.css", "app.js"]);
  assert.match(ADMIN_ASSETS[""]!.contentType, /^text\/html; charset=utf-8$/);
  assert.match(ADMIN_ASSETS["app.js"]!.contentType, /^text\/javascript; charset=utf-8$/);
  assert.match(ADMIN_ASSETS["app.css"]!.contentType, /^text\/css; charset=utf-8$/);
});

Deno.test("admin assets: app.js is valid JavaScript and never parses data as HTML", () => {
  // Compiles without running it (a syntax error throws here).
  assert.equal(typeof new Function(APP_JS), "function");
  for (const sink of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]) {
    assert.ok(!APP_JS.includes(sink), `app.js uses ${sink}`);
  }
});

Deno.test("admin assets: index.html has no inline script, style or handler and only relative URLs", () => {
  assert.ok(!/<script(?![^>]*\ssrc=)/i.test(INDEX_HTML), "inline <script>");
  assert.ok(!/<style/i.test(INDEX_HTML), "<style> element");
  assert.ok(!/\sstyle=/i.test(INDEX_HTML), "style attribute");
  assert.ok(!/\son[a-z]+=/i.test(INDEX_HTML), "event handler attribute");
  const urls = [...INDEX_HTML.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
  assert.deepEqual(urls, ["data:,", "app.css", "app.js"]);
});
