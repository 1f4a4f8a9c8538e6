// Haraka plugin for postie's benchmark: no DNS outside the machine. Haraka looks up the PTR of
// every client (hook lookup_rdns) with Node's resolver, which would ask the system's
// nameservers; this answers the hook itself, as the other servers of the benchmark do without
// reverse lookups. Node's c-ares resolver is also pointed at the benchmark's loopback DNS
// server (config/bench_nodns.ini: [main] nameserver=127.0.0.1:port), should anything else ask.
"use strict";

const dns = require("node:dns");

exports.register = function () {
  const ns = this.config.get("bench_nodns.ini").main.nameserver;
  if (ns) {
    dns.setServers([ns]);
    dns.promises.setServers([ns]);
  }
};

exports.hook_lookup_rdns = function (next) {
  next(OK, "localhost");
};
