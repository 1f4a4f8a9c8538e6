/**
 * The Prometheus text format (0.0.4) of the registry: HELP and TYPE lines, labels and their
 * escaping, gauges read at render time, and postie's metric names.
 */
import assert from "node:assert/strict";
import { Counter, escapeLabelValue, formatValue, Metrics, Registry } from "./metrics.ts";

Deno.test("A counter without labels renders HELP, TYPE and 0 before the first event", () => {
  const r = new Registry();
  const c = r.counter("x_total", "Things.\nWith a \\ in the help.");
  assert.equal(
    r.render(),
    "# HELP x_total Things.\\nWith a \\\\ in the help.\n# TYPE x_total counter\nx_total 0\n",
  );
  c.inc();
  c.inc({}, 2);
  c.inc({}, -5); // a counter never goes down
  assert.equal(c.value(), 3);
  assert.match(r.render(), /\nx_total 3\n$/);
});

Deno.test("Counter label values are escaped: backslash, double quote, newline", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const c = new Counter("y_total", "Y.", ["reason", "kind"]);
  c.inc({ reason: 'say "hi"\n', kind: "a\\b" });
  c.inc({ reason: "plain", kind: "k" }, 4);
  assert.equal(
    c.render(),
    "# HELP y_total Y.\n# TYPE y_total counter\n" +
      'y_total{reason="say \\"hi\\"\\n",kind="a\\\\b"} 1\n' +
      'y_total{reason="plain",kind="k"} 4\n',
  );
  assert.equal(c.value({ reason: "plain", kind: "k" }), 4);
  assert.equal(c.value({ reason: "none", kind: "k" }), 0);
});

Deno.test("Names the format does not allow are refused", () => {
  assert.throws(() => new Counter("bad-name", "x"), /metric name is not valid: bad-name/);
  assert.throws(() => new Counter("ok", "x", ["1x"]), /label name of ok is not valid: 1x/);
  assert.throws(() => new Counter("ok", "x", ["__x"]), /label name of ok is not valid/);
  const r = new Registry();
  r.counter("twice", "x");
  assert.throws(() => r.gauge("twice", "x", () => 1), /registered twice/);
});

Deno.test("Gauges are read when rendered; one that throws renders NaN", () => {
  const r = new Registry();
  let n = 1;
  r.gauge("g", "G.", () => n);
  r.gauge("broken", "B.", () => {
    throw new Error("no");
  });
  assert.equal(
    r.render(),
    "# HELP g G.\n# TYPE g gauge\ng 1\n# HELP broken B.\n# TYPE broken gauge\nbroken NaN\n",
  );
  n = 7;
  assert.match(r.render(), /^g 7$/m);
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(0.5), "0.5");
});

Deno.test("postie's metrics have their names, zero series, and alert kinds without addresses", () => {
  let queue = { messages: 3, held: 1 };
  const m = new Metrics({ queue: () => queue, imapSessions: () => 2 }, new Date(1_700_000_000_500));
  m.accepted.inc({ direction: "inbound" });
  m.rejected.inc({ reason: "relay_denied" });
  m.deliveries.inc({ result: "delivered" });
  m.tlsSessions.inc({ direction: "outbound", tls: "yes" });
  m.dnsFailures.inc();
  m.imapLogins.inc();
  m.alert("rate-limit:alice@example.test");
  m.alert("certificate");
  const text = m.render();
  for (
    const line of [
      "postie_up 1",
      "postie_start_time_seconds 1700000000",
      'postie_messages_accepted_total{direction="inbound"} 1',
      'postie_messages_accepted_total{direction="outbound"} 0',
      'postie_messages_rejected_total{reason="relay_denied"} 1',
      "postie_queue_messages 3",
      "postie_queue_held_messages 1",
      'postie_delivery_attempts_total{result="delivered"} 1',
      'postie_delivery_attempts_total{result="deferred"} 0',
      'postie_delivery_attempts_total{result="bounced"} 0',
      'postie_tls_sessions_total{direction="outbound",tls="yes"} 1',
      'postie_tls_sessions_total{direction="inbound",tls="no"} 0',
      "postie_dns_failures_total 1",
      "postie_imap_sessions 2",
      "postie_imap_logins_total 1",
      'postie_alerts_total{key="rate-limit"} 1',
      'postie_alerts_total{key="certificate"} 1',
    ]
  ) {
    assert.ok(text.split("\n").includes(line), `missing ${line} in:\n${text}`);
  }
  assert.ok(!text.includes("alice"), "no address in a label");
  assert.match(text, /^# TYPE postie_queue_messages gauge$/m);
  assert.match(text, /^# TYPE postie_messages_rejected_total counter$/m);
  // Every line is a comment or a sample: name{labels} value.
  for (const line of text.trimEnd().split("\n")) {
    assert.match(line, /^(# (HELP|TYPE) \w+ .*|[a-z_]+(\{.*\})? [-+\w.]+)$/, line);
  }
  queue = { messages: 0, held: 0 };
  assert.match(m.render(), /^postie_queue_messages 0$/m);
});
