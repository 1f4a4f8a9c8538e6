/**
 * The admin page's script: login, hash routing (`#/dashboard`, `#/accounts`, `#/aliases`,
 * `#/queue`, `#/dns`, `#/reports`, `#/log`, and `#/me`, the only page of an account without
 * the admin role), and one view per page over the JSON API (the README, "The admin JSON API").
 *
 * Plain JavaScript, no framework and no library: the page is a few hundred lines of tables and
 * forms, so a dependency would add more code to fetch, pin and audit than it saves, and the
 * program would have to embed it. The charts are a small function that builds SVG elements.
 *
 * Safety: data reaches the document only through `textContent`, `setAttribute` with a fixed
 * attribute name, and `createElement`, never through HTML parsing, so a subject or an address
 * that contains markup is shown as text. Every POST is JSON with the session's `X-CSRF-Token`.
 * URLs are relative (`api/...`), so the page works at `/` and at `/admin/`.
 *
 * The text is a raw template (no escapes are processed); the script itself uses no template
 * literals, so it can hold neither a backquote nor a dollar-brace.
 *
 * @module
 */

/** app.js. */
export const APP_JS = String.raw`"use strict";
(function () {
  var state = { session: null, generation: 0, page: "" };

  // ---- DOM helpers: data goes in as text, never as HTML ----

  function append(parent, children) {
    if (children === undefined || children === null || children === false) return;
    if (Array.isArray(children)) {
      for (var i = 0; i < children.length; i++) append(parent, children[i]);
      return;
    }
    if (children instanceof Node) parent.appendChild(children);
    else parent.appendChild(document.createTextNode(String(children)));
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, "");
      else e.setAttribute(k, String(v));
    });
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, children) {
    var e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function $(id) {
    return document.getElementById(id);
  }

  // ---- messages ----

  function flash(text, kind) {
    var m = $("message");
    m.className = kind === "error" ? "error" : "";
    m.replaceChildren(text);
    return m;
  }

  function clearFlash() {
    var m = $("message");
    m.className = "";
    m.replaceChildren();
  }

  // A generated password, shown once: in the message line until the next page.
  function showSecret(label, secret) {
    var m = flash(label, "ok");
    m.appendChild(el("div", { class: "secret" }, [
      "Password (shown once): ",
      el("code", { id: "generated-password", "data-testid": "generated-password" }, secret),
    ]));
  }

  // ---- the API ----

  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }
  ApiError.prototype = Object.create(Error.prototype);

  async function api(path, body) {
    var opts = { method: body === undefined ? "GET" : "POST", headers: {}, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      if (state.session) opts.headers["X-CSRF-Token"] = state.session.csrf;
      opts.body = JSON.stringify(body);
    }
    var res = await fetch(path, opts);
    var data = null;
    try {
      data = await res.json();
    } catch (_e) {
      data = null;
    }
    if (!res.ok) {
      var text = data && typeof data.error === "string" ? data.error : "HTTP " + res.status;
      if (res.status === 401 && path !== "api/login" && path !== "api/session") {
        state.session = null;
        showLogin("Your session has ended; log in again.");
      }
      throw new ApiError(res.status, text);
    }
    return data;
  }

  // A click handler that runs an API action, shows its error, and redraws the page.
  function action(fn) {
    return async function (ev) {
      if (ev) ev.preventDefault();
      // The button pressed (or the form's submit button) stays disabled until the answer.
      var target = ev && ev.currentTarget;
      var b = target && target.tagName === "FORM" ? target.querySelector("button[type=submit]") : target;
      if (b && b.tagName === "BUTTON") b.disabled = true;
      try {
        await fn(ev);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        flash(e && e.message ? e.message : String(e), "error");
      } finally {
        if (b && b.tagName === "BUTTON") b.disabled = false;
      }
    };
  }

  // ---- small view pieces ----

  function button(label, attrs, fn) {
    var a = Object.assign({ type: "button" }, attrs || {});
    a.onclick = action(fn);
    return el("button", a, label);
  }

  function field(label, input) {
    return el("label", null, [label, input]);
  }

  function checkbox(label, attrs) {
    return el("label", { class: "check" }, [el("input", Object.assign({ type: "checkbox" }, attrs)), label]);
  }

  // A table: heads is a list of column titles ("#" prefix: a number column); rows a list of
  // { cells, attrs }. An empty list shows one "none" row.
  function table(testid, heads, rows, emptyText) {
    var thead = el("thead", null, el("tr", null, heads.map(function (h) {
      return h.charAt(0) === "#" ? el("th", { class: "num" }, h.slice(1)) : el("th", null, h);
    })));
    var tbody = el("tbody");
    if (rows.length === 0) {
      tbody.appendChild(el("tr", null, el("td", { colspan: heads.length, class: "empty" }, emptyText || "none")));
    }
    rows.forEach(function (r) {
      var tr = el("tr", r.attrs);
      r.cells.forEach(function (c, i) {
        tr.appendChild(el("td", heads[i] && heads[i].charAt(0) === "#" ? { class: "num" } : null, c));
      });
      tbody.appendChild(tr);
    });
    return el("table", { "data-testid": testid, id: testid }, [thead, tbody]);
  }

  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function forwardText(f) {
    if (!f) return "";
    return f.target + (f.keepCopy ? " (keeps a copy)" : "");
  }

  // ---- the chart: received and sent per day, as SVG bars ----

  function chart(days, id) {
    var W = 720, H = 220, left = 40, right = 10, top = 24, bottom = 30;
    var n = Math.max(days.length, 1);
    var max = 1;
    days.forEach(function (d) {
      max = Math.max(max, d.received || 0, d.sent || 0);
    });
    var plotW = W - left - right, plotH = H - top - bottom;
    var slot = plotW / n;
    var bar = Math.max(1, slot * 0.38);
    var s = svg("svg", {
      viewBox: "0 0 " + W + " " + H,
      class: "chart",
      id: id,
      "data-testid": id,
      role: "img",
      "aria-label": "Messages received and sent per day, last " + days.length + " days",
    });
    // Grid lines at 0, half and the top; a label only where the count is a whole number.
    [0, 0.5, 1].forEach(function (f) {
      var y = top + plotH - f * plotH;
      s.appendChild(svg("line", { class: "axis", x1: left, x2: W - right, y1: y, y2: y }));
      if (Number.isInteger(f * max)) {
        s.appendChild(svg("text", { x: left - 6, y: y + 3, "text-anchor": "end" }, String(f * max)));
      }
    });
    days.forEach(function (d, i) {
      var x = left + i * slot + slot * 0.1;
      var g = svg("g", { class: "day", "data-date": d.date });
      g.appendChild(svg("title", null, d.date + ": " + d.received + " received, " + d.sent + " sent"));
      [["received", d.received || 0, 0], ["sent", d.sent || 0, 1]].forEach(function (b) {
        var h = (b[1] / max) * plotH;
        g.appendChild(svg("rect", {
          class: b[0], x: x + b[2] * bar, y: top + plotH - h, width: bar, height: h,
          "data-count": b[1],
        }));
      });
      s.appendChild(g);
      if (i % 5 === 0 || i === days.length - 1) {
        s.appendChild(svg("text", { x: x + bar, y: H - bottom + 14, "text-anchor": "middle" }, String(d.date).slice(5)));
      }
    });
    s.appendChild(svg("rect", { class: "received", x: left, y: 6, width: 10, height: 10 }));
    s.appendChild(svg("text", { x: left + 14, y: 15 }, "received"));
    s.appendChild(svg("rect", { class: "sent", x: left + 80, y: 6, width: 10, height: 10 }));
    s.appendChild(svg("text", { x: left + 94, y: 15 }, "sent"));
    return s;
  }

  // ---- pages ----

  // The chart of all accounts, or of the one chosen here (GET api/traffic?account=).
  function chartPicker(accounts) {
    var select = el("select", { id: "chart-account", "data-testid": "chart-account" }, [
      el("option", { value: "" }, "all accounts"),
    ].concat(accounts.map(function (a) {
      return el("option", { value: a.account }, a.account);
    })));
    select.addEventListener("change", action(async function () {
      var q = select.value ? "?account=" + encodeURIComponent(select.value) : "";
      var t = await api("api/traffic" + q);
      var box = $("chart-box");
      box.replaceChildren(chart(t.days || [], "chart"));
      box.setAttribute("data-account", select.value);
    }));
    return el("label", null, ["Show ", select]);
  }

  async function pageDashboard(view) {
    var d = await api("api/dashboard");
    var cert = d.certificate || {};
    var certBad = !!cert.error || cert.daysLeft === null || cert.daysLeft === undefined || cert.daysLeft < 14;
    var dns = d.dns || {};
    var dnsBad = typeof dns.problems === "number" && dns.problems > 0;
    var q = d.queue || { messages: 0, held: 0, recipients: 0 };
    var tiles = el("div", { class: "tiles" }, [
      el("div", { class: "tile", id: "tile-queue", "data-testid": "tile-queue" }, [
        el("div", null, "Queue"),
        el("div", { class: "big", id: "queue-size" }, String(q.messages)),
        el("div", { class: "muted" }, q.recipients + " recipients waiting, " + q.held + " held"),
        el("a", { href: "#/queue" }, "open the queue"),
      ]),
      el("div", { class: "tile " + (certBad ? "bad" : "ok"), id: "tile-cert", "data-testid": "tile-cert" }, [
        el("div", null, "Certificate"),
        el("div", { class: "big" }, cert.daysLeft === null || cert.daysLeft === undefined ? "none" : cert.daysLeft + " days"),
        el("div", { class: "muted" }, (cert.kind || "no certificate") + (cert.names && cert.names.length ? ": " + cert.names.join(", ") : "")),
        cert.notAfter ? el("div", { class: "muted" }, "expires " + when(cert.notAfter)) : null,
        cert.error ? el("div", { class: "error", id: "cert-error" }, cert.error) : null,
      ]),
      el("div", { class: "tile " + (dnsBad ? "bad" : dns.problems === 0 ? "ok" : ""), id: "tile-dns", "data-testid": "tile-dns" }, [
        el("div", null, "DNS"),
        el("div", { class: "big", id: "dns-problems" }, dns.problems === null || dns.problems === undefined ? "?" : dns.problems + " problems"),
        el("div", { class: "muted" }, dns.checked ? "checked " + when(dns.checked) : "not checked yet"),
        el("a", { href: "#/dns" }, "DNS records and check"),
      ]),
      el("div", { class: "tile " + (d.alerts && d.alerts.length ? "bad" : "ok"), id: "tile-alerts", "data-testid": "tile-alerts" }, [
        el("div", null, "Open alerts"),
        el("div", { class: "big" }, String((d.alerts || []).length)),
      ]),
    ]);
    append(view, [
      tiles,
      el("h2", null, "Mail per day (30 days)"),
      chartPicker(d.accounts || []),
      el("div", { id: "chart-box" }, [chart(d.days || [], "chart")]),
      el("h2", null, "Accounts"),
      table("dash-accounts", ["Account", "#Received", "#Sent"], (d.accounts || []).map(function (a) {
        return { cells: [a.account, a.received, a.sent], attrs: { "data-account": a.account } };
      })),
      el("h2", null, "Rejected (30 days)"),
      table("dash-rejects", ["Reason", "#Count"], (d.rejects || []).map(function (r) {
        return { cells: [r.reason, r.count], attrs: { "data-reason": r.reason } };
      })),
      el("h2", null, "Open alerts"),
      table("dash-alerts", ["Subject", "First", "Last", "#Count"], (d.alerts || []).map(function (a) {
        return { cells: [a.subject, when(a.first), when(a.last), a.count], attrs: { "data-key": a.key } };
      })),
    ]);
  }

  async function pageAccounts(view) {
    var d = await api("api/accounts");
    var me = state.session.address;
    var form = el("form", { class: "inline", id: "account-add-form", "data-testid": "account-add-form" }, [
      field("Address", el("input", { type: "text", id: "account-address", required: true, autocomplete: "off" })),
      field("Password (empty: generate one)", el("input", { type: "password", id: "account-password", autocomplete: "new-password" })),
      checkbox(" admin", { id: "account-admin" }),
      el("button", { type: "submit", id: "account-add" }, "Add account"),
    ]);
    form.addEventListener("submit", action(async function () {
      var address = $("account-address").value.trim();
      var body = { address: address, admin: $("account-admin").checked };
      if ($("account-password").value !== "") body.password = $("account-password").value;
      var r = await api("api/accounts/add", body);
      await refresh();
      if (r.password) showSecret("Added " + r.account.address + ".", r.password);
      else flash("Added " + r.account.address + ".");
    }));
    var rows = d.accounts.map(function (a) {
      var self = a.address === me;
      return {
        attrs: { "data-testid": "account-row", "data-address": a.address },
        cells: [
          a.address,
          a.admin ? "yes" : "",
          a.locked ? "locked" : "",
          when(a.created),
          forwardText(a.forward),
          el("div", { class: "actions" }, [
            self ? null : button(a.locked ? "Unlock" : "Lock", { "data-testid": "lock" }, async function () {
              await api("api/accounts/lock", { address: a.address, locked: !a.locked });
              await refresh();
              flash((a.locked ? "Unlocked " : "Locked ") + a.address + ".");
            }),
            button("Reset password", { "data-testid": "reset-password" }, async function () {
              var p = window.prompt("New password for " + a.address + " (leave empty to generate one):", "");
              if (p === null) return;
              var r = await api("api/accounts/password", p === "" ? { address: a.address } : { address: a.address, password: p });
              await refresh();
              if (r.password) showSecret("New password for " + a.address + ".", r.password);
              else flash("Password of " + a.address + " changed.");
            }),
            self && a.admin ? null : button(a.admin ? "Remove admin" : "Make admin", { "data-testid": "toggle-admin" }, async function () {
              await api("api/accounts/admin", { address: a.address, admin: !a.admin });
              await refresh();
              flash(a.address + (a.admin ? " is no longer an admin." : " is an admin now."));
            }),
            self ? null : button("Delete", { class: "danger", "data-testid": "delete" }, async function () {
              if (!window.confirm("Delete " + a.address + "? Its mailbox stays on disk.")) return;
              await api("api/accounts/delete", { address: a.address });
              await refresh();
              flash("Deleted " + a.address + ".");
            }),
          ]),
        ],
      };
    });
    append(view, [
      form,
      table("accounts-table", ["Address", "Admin", "Locked", "Created", "Forward", "Actions"], rows),
    ]);
  }

  async function pageAliases(view) {
    var results = await Promise.all([api("api/aliases"), api("api/forwards")]);
    var aliases = results[0].aliases, forwards = results[1].forwards;
    var aliasForm = el("form", { class: "inline", id: "alias-add-form", "data-testid": "alias-add-form" }, [
      field("Alias address", el("input", { type: "text", id: "alias-address", required: true, autocomplete: "off" })),
      field("Targets (comma-separated)", el("input", { type: "text", id: "alias-targets", required: true, autocomplete: "off" })),
      el("button", { type: "submit", id: "alias-add" }, "Add alias"),
    ]);
    aliasForm.addEventListener("submit", action(async function () {
      var address = $("alias-address").value.trim();
      var targets = $("alias-targets").value.split(",").map(function (t) {
        return t.trim();
      }).filter(function (t) {
        return t !== "";
      });
      await api("api/aliases/add", { address: address, targets: targets });
      await refresh();
      flash("Added the alias " + address + ".");
    }));
    var forwardForm = el("form", { class: "inline", id: "forward-set-form", "data-testid": "forward-set-form" }, [
      field("Account", el("input", { type: "text", id: "forward-address", required: true, autocomplete: "off" })),
      field("Forward to", el("input", { type: "text", id: "forward-target", required: true, autocomplete: "off" })),
      checkbox(" keep a copy", { id: "forward-keep" }),
      el("button", { type: "submit", id: "forward-set" }, "Set forward"),
    ]);
    forwardForm.addEventListener("submit", action(async function () {
      var address = $("forward-address").value.trim();
      await api("api/forwards/set", {
        address: address, target: $("forward-target").value.trim(), keepCopy: $("forward-keep").checked,
      });
      await refresh();
      flash(address + " forwards now.");
    }));
    append(view, [
      el("h2", null, "Aliases"),
      aliasForm,
      table("aliases-table", ["Alias", "Targets", "Source", "Actions"], aliases.map(function (a) {
        return {
          attrs: { "data-testid": "alias-row", "data-address": a.address },
          cells: [
            a.address,
            a.targets.join(", "),
            a.source === "config" ? "config file" : "admin page",
            a.source === "config" ? el("span", { class: "muted" }, "change it in the config file") : button("Delete", { class: "danger", "data-testid": "delete" }, async function () {
              if (!window.confirm("Delete the alias " + a.address + "?")) return;
              await api("api/aliases/delete", { address: a.address });
              await refresh();
              flash("Deleted the alias " + a.address + ".");
            }),
          ],
        };
      })),
      el("h2", null, "Forwards"),
      forwardForm,
      table("forwards-table", ["Account", "Forwards to", "Keeps a copy", "Actions"], forwards.map(function (f) {
        return {
          attrs: { "data-testid": "forward-row", "data-address": f.address },
          cells: [
            f.address,
            f.target,
            f.keepCopy ? "yes" : "no",
            button("Clear", { class: "danger", "data-testid": "clear" }, async function () {
              await api("api/forwards/delete", { address: f.address });
              await refresh();
              flash(f.address + " no longer forwards.");
            }),
          ],
        };
      })),
    ]);
  }

  async function pageQueue(view) {
    var d = await api("api/queue");
    var detail = el("div", { id: "queue-detail", "data-testid": "queue-detail" });
    function queueAction(verb, id, ask) {
      return async function () {
        if (ask && !window.confirm(ask)) return;
        var r = await api("api/queue/" + verb, { id: id });
        await refresh();
        flash(verb + " " + id + ": " + r.count + (r.count === 1 ? " recipient" : " recipients") + ".");
      };
    }
    var rows = d.messages.map(function (m) {
      return {
        attrs: { "data-testid": "queue-row", "data-id": m.id },
        cells: [
          el("code", null, m.id),
          when(m.created),
          m.sender === "" ? "<>" : m.sender,
          el("ul", { class: "recipients" }, m.recipients.map(function (r) {
            return el("li", { "data-testid": "queue-recipient", "data-status": r.status, "data-attempts": r.attempts }, [
              r.address + " - " + r.status + ", " + r.attempts + (r.attempts === 1 ? " attempt" : " attempts"),
              r.status === "queued" ? ", next " + when(r.nextAttempt) : "",
              r.lastError ? el("div", { class: "muted" }, r.lastError) : null,
            ]);
          })),
          m.size,
          m.held ? "held: " + m.held : "",
          el("div", { class: "actions" }, [
            button("Show", { "data-testid": "show" }, async function () {
              var s = await api("api/queue/show?id=" + encodeURIComponent(m.id));
              detail.replaceChildren(
                el("h2", null, "Message " + s.message.id),
                el("pre", { id: "queue-headers", "data-testid": "queue-headers" }, s.headers),
              );
            }),
            button("Retry", { "data-testid": "retry" }, queueAction("retry", m.id)),
            m.held
              ? button("Release", { "data-testid": "release" }, queueAction("release", m.id))
              : button("Hold", { "data-testid": "hold" }, queueAction("hold", m.id)),
            button("Bounce", { "data-testid": "bounce" }, queueAction("bounce", m.id, "Bounce " + m.id + " to its sender?")),
            button("Delete", { class: "danger", "data-testid": "delete" }, queueAction("delete", m.id, "Delete " + m.id + " without a bounce?")),
          ]),
        ],
      };
    });
    append(view, [
      el("div", { class: "actions" }, button("Refresh", { id: "queue-refresh", "data-testid": "queue-refresh" }, refresh)),
      el("p", { class: "muted", id: "queue-count" }, d.messages.length + (d.messages.length === 1 ? " message" : " messages")),
      table("queue-table", ["ID", "Created", "From", "Recipients", "#Size", "Held", "Actions"], rows, "the queue is empty"),
      detail,
    ]);
  }

  async function copyText(text, code) {
    try {
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(text);
      flash("Copied.");
    } catch (_e) {
      // No clipboard access (plain HTTP elsewhere than localhost, or refused): select the
      // text so that Ctrl+C copies it.
      var range = document.createRange();
      range.selectNodeContents(code);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      flash("Selected: press Ctrl+C to copy.");
    }
  }

  function statusClass(s) {
    return s === "OK" ? "ok" : s === "WARN" ? "warn" : "bad";
  }

  function checkTable(testid, items) {
    return table(testid, ["Status", "What", "Detail", "Expected"], items.map(function (it) {
      return {
        attrs: { class: statusClass(it.status), "data-testid": "check-item", "data-status": it.status, "data-what": it.what },
        cells: [
          el("span", { class: "status-" + statusClass(it.status) }, it.status),
          it.what,
          it.detail,
          it.expected ? el("code", { class: "value" }, it.expected) : "",
        ],
      };
    }));
  }

  function recordsBlock(set, index) {
    return el("div", { class: "card", "data-testid": "dns-domain", "data-domain": set.name }, [
      el("h2", null, set.title),
      (set.notes || []).map(function (n) {
        return el("p", { class: "muted" }, n);
      }),
      table("dns-records-" + index, ["Name", "Type", "Value", "Why", ""], set.records.map(function (r) {
        var code = el("code", { class: "value", "data-testid": "dns-value" }, r.value);
        return {
          attrs: { "data-testid": "dns-record", "data-type": r.type, "data-name": r.name },
          cells: [r.name, r.type, code, r.explanation, button("Copy", { "data-testid": "copy" }, function () {
            return copyText(r.value, code);
          })],
        };
      })),
    ]);
  }

  async function pageDns(view) {
    var d = await api("api/dns");
    var result = el("div", { id: "dns-check-result", "data-testid": "dns-check-result" });
    var run = button("Run check", { id: "dns-check-run", class: "primary", "data-testid": "dns-check-run" }, async function () {
      result.replaceChildren(el("p", { class: "muted" }, "Checking (this takes a few seconds)..."));
      result.removeAttribute("data-done");
      var c = await api("api/dns/check");
      var parts = [el("h2", null, "Check of " + when(c.checked))];
      c.domains.forEach(function (dom) {
        parts.push(el("h2", null, dom.domain), checkTable("dns-check-" + dom.domain, dom.items));
      });
      if (c.certificate && c.certificate.length) {
        parts.push(el("h2", null, "Certificate"), checkTable("dns-check-certificate", c.certificate));
      }
      result.replaceChildren.apply(result, parts);
      result.setAttribute("data-done", "1");
    });
    var sets = d.domains.map(function (x) {
      return { name: x.domain, title: "Records for " + x.domain, notes: x.notes, records: x.records };
    });
    if (d.host) {
      sets.push({ name: d.host.name, title: "Records for the server " + d.host.name, notes: d.host.notes, records: d.host.records });
    }
    append(view, [el("div", { class: "actions" }, run), result, sets.map(recordsBlock)]);
  }

  async function pageReports(view) {
    var days = Number(state.reportDays || 30);
    var d = await api("api/reports?days=" + days);
    var ours = d.ours || [];
    var form = el("form", { class: "inline", id: "reports-form" }, [
      field("Days", el("input", { type: "number", id: "reports-days", min: 1, max: 3660, value: days })),
      el("button", { type: "submit" }, "Show"),
    ]);
    form.addEventListener("submit", action(async function () {
      state.reportDays = $("reports-days").value;
      await refresh();
    }));
    var period = d.begin && d.end
      ? ", " + when(new Date(d.begin * 1000).toISOString()) + " to " + when(new Date(d.end * 1000).toISOString())
      : "";
    append(view, [
      form,
      el("p", { id: "reports-summary" }, d.reports + (d.reports === 1 ? " report" : " reports") + period),
      table("reports-table", ["Reporter", "Source IP", "#Messages", "#DKIM pass", "#SPF pass", "#DMARC pass", "Header From"], d.rows.map(function (r) {
        var bad = r.dmarcPass < r.messages;
        return {
          attrs: { "data-testid": "report-row", class: bad ? "warn" : "" },
          cells: [
            r.reporter,
            r.sourceIp + (ours.indexOf(r.sourceIp) >= 0 ? " (ours)" : ""),
            r.messages, r.dkimPass, r.spfPass, r.dmarcPass,
            r.headerFrom.join(", "),
          ],
        };
      }), "no DMARC reports in this period"),
    ]);
  }

  async function pageLog(view) {
    var q = state.logQuery || "";
    var d = await api("api/log?limit=200" + (q ? "&q=" + encodeURIComponent(q) : ""));
    var audit = await api("api/audit?limit=50");
    var form = el("form", { class: "inline", id: "log-form", "data-testid": "log-form" }, [
      field("Search", el("input", { type: "search", id: "log-q", value: q, autocomplete: "off" })),
      el("button", { type: "submit", id: "log-search" }, "Search"),
    ]);
    form.addEventListener("submit", action(async function () {
      state.logQuery = $("log-q").value.trim();
      await refresh();
    }));
    append(view, [
      form,
      table("log-table", ["Time", "Kind", "Account", "From", "To", "IP", "Reason", "Detail", "Queue ID"], d.events.map(function (e) {
        return {
          attrs: {
            "data-testid": "log-row", "data-kind": e.kind,
            class: e.kind === "rejected" || e.kind === "bounced" ? "bad" : e.kind === "deferred" ? "warn" : "",
          },
          cells: [when(e.time), e.kind, e.account || "", e.from || "", e.to || "", e.ip || "", e.reason || "", e.detail || "", e.queueId || ""],
        };
      }), "no events"),
      el("h2", null, "Changes made on this page (audit log)"),
      table("audit-table", ["Time", "Who", "IP", "Action", "Target", "Result"], audit.entries.map(function (e) {
        return {
          attrs: { "data-testid": "audit-row", class: e.ok ? "" : "bad" },
          cells: [when(e.time), e.actor, e.ip, e.action, e.target || "", e.ok ? "ok" : "failed: " + (e.detail || "")],
        };
      }), "no changes yet"),
    ]);
  }

  async function pageMe(view) {
    var d = await api("api/me");
    var pw = el("form", { class: "inline", id: "me-password-form", "data-testid": "me-password-form" }, [
      field("Current password", el("input", { type: "password", id: "me-current", required: true, autocomplete: "current-password" })),
      field("New password (8 characters or more)", el("input", { type: "password", id: "me-new", required: true, autocomplete: "new-password" })),
      el("button", { type: "submit", id: "me-password" }, "Change password"),
    ]);
    pw.addEventListener("submit", action(async function () {
      await api("api/me/password", { current: $("me-current").value, password: $("me-new").value });
      $("me-current").value = "";
      $("me-new").value = "";
      flash("Your password was changed.");
    }));
    var fw = el("form", { class: "inline", id: "me-forward-form", "data-testid": "me-forward-form" }, [
      field("Forward my mail to", el("input", { type: "text", id: "me-forward-target", required: true, value: d.forward ? d.forward.target : "", autocomplete: "off" })),
      checkbox(" keep a copy here", { id: "me-forward-keep", checked: d.forward ? d.forward.keepCopy : true }),
      el("button", { type: "submit", id: "me-forward-set" }, "Set forward"),
      d.forward ? button("Stop forwarding", { id: "me-forward-clear", class: "danger" }, async function () {
        await api("api/me/forward/delete", {});
        await refresh();
        flash("Your mail is no longer forwarded.");
      }) : null,
    ]);
    fw.addEventListener("submit", action(async function () {
      await api("api/me/forward", { target: $("me-forward-target").value.trim(), keepCopy: $("me-forward-keep").checked });
      await refresh();
      flash("Your mail is forwarded now.");
    }));
    append(view, [
      el("p", { id: "me-counts", "data-testid": "me-counts" }, "Last 30 days: " + d.received + " received, " + d.sent + " sent."),
      chart(d.days || [], "me-chart"),
      el("h2", null, "Forward"),
      el("p", { id: "me-forward", "data-testid": "me-forward" }, d.forward ? "Forwarded to " + forwardText(d.forward) + "." : "Not forwarded."),
      fw,
      el("h2", null, "Password"),
      pw,
    ]);
  }

  var ADMIN_PAGES = [
    ["dashboard", "Dashboard", pageDashboard],
    ["accounts", "Accounts", pageAccounts],
    ["aliases", "Aliases & forwards", pageAliases],
    ["queue", "Queue", pageQueue],
    ["dns", "DNS", pageDns],
    ["reports", "Reports", pageReports],
    ["log", "Log", pageLog],
    ["me", "My account", pageMe],
  ];
  var USER_PAGES = [["me", "My account", pageMe]];

  function pages() {
    return state.session && state.session.admin ? ADMIN_PAGES : USER_PAGES;
  }

  // ---- routing ----

  async function render(page) {
    var gen = ++state.generation;
    var view = $("view");
    view.removeAttribute("data-ready");
    var content = el("div", { id: "page-" + page[0] });
    try {
      await page[2](content);
    } catch (e) {
      if (gen !== state.generation) return;
      if (e instanceof ApiError && e.status === 401) return;
      content.replaceChildren(el("p", { class: "error", id: "page-error" }, e && e.message ? e.message : String(e)));
    }
    if (gen !== state.generation) return; // a newer page was asked for meanwhile
    view.replaceChildren(el("h1", null, page[1]), content);
    view.setAttribute("data-ready", page[0]);
  }

  function refresh() {
    var page = pages().find(function (p) {
      return p[0] === state.page;
    });
    return page ? render(page) : Promise.resolve();
  }

  function route() {
    if (!state.session) return;
    var name = location.hash.replace(/^#\/?/, "");
    var list = pages();
    var page = list.find(function (p) {
      return p[0] === name;
    });
    if (!page) {
      location.replace("#/" + list[0][0]);
      return;
    }
    if (state.page !== name) clearFlash();
    state.page = name;
    Array.prototype.forEach.call($("nav").children, function (a) {
      if (a.getAttribute("data-page") === name) a.classList.add("current");
      else a.classList.remove("current");
    });
    render(page);
  }

  function showApp() {
    $("login-view").hidden = true;
    $("top").hidden = false;
    $("who").textContent = state.session.address + (state.session.admin ? " (admin)" : "");
    $("nav").replaceChildren.apply($("nav"), pages().map(function (p) {
      return el("a", { href: "#/" + p[0], "data-page": p[0], id: "nav-" + p[0] }, p[1]);
    }));
    state.page = "";
    route();
  }

  function showLogin(text) {
    state.generation++;
    state.page = "";
    $("top").hidden = true;
    $("view").replaceChildren();
    $("view").removeAttribute("data-ready");
    clearFlash();
    $("login-error").textContent = text || "";
    $("login-view").hidden = false;
    $("login-password").value = "";
    $("login-address").focus();
  }

  async function login(ev) {
    ev.preventDefault();
    var button = $("login-submit");
    button.disabled = true;
    $("login-error").textContent = "";
    try {
      state.session = await api("api/login", {
        address: $("login-address").value.trim(),
        password: $("login-password").value,
      });
      $("login-password").value = "";
      showApp();
    } catch (e) {
      $("login-error").textContent = e && e.message ? e.message : String(e);
    } finally {
      button.disabled = false;
    }
  }

  async function logout() {
    try {
      await api("api/logout", {});
    } catch (_e) {
      // the session may be gone already; the page logs out either way
    }
    state.session = null;
    showLogin("You are logged out.");
  }

  async function start() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    window.addEventListener("hashchange", route);
    try {
      state.session = await api("api/session");
      showApp();
    } catch (e) {
      showLogin(e instanceof ApiError && e.status === 401 ? "" : e && e.message ? e.message : String(e));
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
`;
