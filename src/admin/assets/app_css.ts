/**
 * The admin page's style sheet: a nav bar, plain tables, forms on one line, and the colours
 * of the states (green OK, amber warning, red problem).
 *
 * @module
 */

/** app.css. */
export const APP_CSS = String.raw`:root {
  --fg: #1d2330; --muted: #5b6475; --bg: #f6f7f9; --card: #fff; --line: #d9dde4;
  --accent: #2358c4; --ok: #1e7b34; --ok-bg: #e3f4e6; --warn: #8a5a00; --warn-bg: #fff1d1;
  --bad: #b3261e; --bad-bg: #fde5e3; --recv: #2358c4; --sent: #e08a1e;
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1rem; padding: .5rem 1rem; background: #1d2330; color: #fff; flex-wrap: wrap; }
header[hidden], section[hidden] { display: none; }
.brand { font-weight: 700; letter-spacing: .03em; }
nav { display: flex; gap: .25rem; flex: 1; flex-wrap: wrap; }
nav a { color: #cfd6e4; text-decoration: none; padding: .3rem .6rem; border-radius: 4px; }
nav a:hover { background: #2e3648; color: #fff; }
nav a.current { background: var(--accent); color: #fff; }
#who { color: #cfd6e4; font-size: .9em; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin-bottom: 1rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: .75rem; margin-bottom: 1rem; }
.tile { background: var(--card); border: 1px solid var(--line); border-left: 6px solid var(--line); border-radius: 6px; padding: .6rem .8rem; }
.tile .big { font-size: 1.6rem; font-weight: 600; }
.tile.ok { border-left-color: var(--ok); }
.tile.bad { border-left-color: var(--bad); background: var(--bad-bg); }
table { border-collapse: collapse; width: 100%; background: var(--card); margin-bottom: 1rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
th { font-weight: 600; background: #eef0f4; }
td.num, th.num { text-align: right; }
td.empty { color: var(--muted); font-style: italic; }
tr.ok td { background: var(--ok-bg); }
tr.warn td { background: var(--warn-bg); }
tr.bad td { background: var(--bad-bg); }
.status-ok { color: var(--ok); font-weight: 600; }
.status-warn { color: var(--warn); font-weight: 600; }
.status-bad { color: var(--bad); font-weight: 600; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .88em; }
code.value { word-break: break-all; }
td > code.value { display: block; min-width: 18rem; max-width: 34rem; }
td button { white-space: nowrap; }
pre { background: #fff; border: 1px solid var(--line); padding: .6rem; overflow: auto; max-height: 30rem; white-space: pre-wrap; word-break: break-all; }
form.inline { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: 1rem; }
form.inline label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); }
form.inline label.check { flex-direction: row; align-items: center; gap: .3rem; }
#login-form { display: flex; flex-direction: column; gap: .6rem; max-width: 22rem; background: var(--card); padding: 1rem; border: 1px solid var(--line); border-radius: 6px; }
#login-form label { display: flex; flex-direction: column; font-size: .9em; }
input[type=text], input[type=password], input[type=search], input[type=number] { font: inherit; padding: .3rem .45rem; border: 1px solid #b8bfcc; border-radius: 4px; min-width: 12rem; }
button { font: inherit; padding: .3rem .7rem; border: 1px solid #b8bfcc; border-radius: 4px; background: #fff; cursor: pointer; }
button:hover { background: #eef0f4; }
button[type=submit], button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger { color: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .5; cursor: default; }
header button { background: transparent; color: #fff; border-color: #5b6475; }
td .actions, .actions { display: flex; gap: .3rem; flex-wrap: wrap; }
.error { color: var(--bad); }
#message:empty { display: none; }
#message { padding: .5rem .8rem; border-radius: 4px; margin-bottom: 1rem; background: var(--ok-bg); color: var(--ok); }
#message.error { background: var(--bad-bg); color: var(--bad); }
.secret { margin-top: .3rem; color: var(--fg); }
.secret code { font-size: 1.05em; background: #fff; padding: .1rem .4rem; border: 1px solid var(--line); }
.muted { color: var(--muted); }
svg.chart { width: 100%; max-width: 760px; height: auto; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
svg.chart .axis { stroke: var(--line); }
svg.chart text { font-size: 10px; fill: var(--muted); }
svg.chart rect.received { fill: var(--recv); }
svg.chart rect.sent { fill: var(--sent); }
`;
