/**
 * The admin page's files, embedded in the program (no file is read at run time, so
 * `deno compile` and `deno bundle` carry them): keyed by their path relative to the page's
 * base, `""` being index.html.
 *
 * @module
 */

import { APP_CSS } from "./app_css.ts";
import { APP_JS } from "./app_js.ts";
import { INDEX_HTML } from "./index_html.ts";

/** One embedded file. */
export interface AdminAsset {
  /** The Content-Type it is served with. */
  contentType: string;
  body: string;
}

/** The page's files by relative path: `""` (index.html), `"app.js"`, `"app.css"`. */
export const ADMIN_ASSETS: Readonly<Record<string, AdminAsset>> = {
  "": { contentType: "text/html; charset=utf-8", body: INDEX_HTML },
  "app.js": { contentType: "text/javascript; charset=utf-8", body: APP_JS },
  "app.css": { contentType: "text/css; charset=utf-8", body: APP_CSS },
};
