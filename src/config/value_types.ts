/**
 * The value types of config keys that hold plain values: strings, paths, domain names,
 * integers in a range, booleans, durations, one of a few words, lists, listen addresses
 * ("host:port"), nameservers, CIDR networks and IP addresses. Each one checks a value and names
 * the reason when it is wrong; the schema (`schema.ts`) says which key has which type.
 *
 * @module
 */

import { resolve } from "node:path";
import { isIP } from "node:net";
import { AddressSyntaxError, canonicalDomain, isDotString } from "../smtp/address.ts";
import type { ReadContext, ValueType } from "./schema_reader.ts";
import type { ListenAddress } from "./config.ts";

/** A non-empty string. (An explicit null for an optional key is "is required".) */
export const text: ValueType<string> = {
  read(v: unknown, path: string, ctx: ReadContext) {
    if (v === null) ctx.fail(path, "is required");
    if (typeof v !== "string" || v.trim() === "") ctx.fail(path, "must be a non-empty string", v);
    return v;
  },
};

/** A file or directory path, taken relative to the config file's directory. */
export const filePath: ValueType<string> = {
  read: (v, path, ctx) => resolve(ctx.baseDir, text.read(v, path, ctx)),
};

/** Check a domain name and return its canonical form (lower-case A-labels, no final dot). */
export function domainOf(value: string, path: string, ctx: ReadContext): string {
  try {
    return canonicalDomain(value);
  } catch (e) {
    const why = e instanceof AddressSyntaxError ? e.message : String(e);
    ctx.fail(path, `must be a domain name (${why})`, value);
  }
}

/** A domain name, in canonical form. */
export const domainName: ValueType<string> = {
  read: (v, path, ctx) => domainOf(text.read(v, path, ctx), path, ctx),
};

/** An address `local@domain` of the config: lower-case local part (empty for `@domain`). */
export function addressOf(
  value: string,
  path: string,
  ctx: ReadContext,
): { local: string; domain: string } {
  const at = value.lastIndexOf("@");
  if (at < 0) ctx.fail(path, "must be an address local@domain", value);
  const local = value.slice(0, at).toLowerCase();
  // Only plain dot-atoms without the characters old MTAs treated as routes.
  if (local !== "" && (!isDotString(local) || /[%!@"\\]/.test(local))) {
    ctx.fail(path, "must have a plain local part (no quotes, %, ! or @)", value);
  }
  return { local, domain: domainOf(value.slice(at + 1), path, ctx) };
}

/** An integer from `min` to `max`. */
export function int(min: number, max: number): ValueType<number> {
  return {
    read(v: unknown, path: string, ctx: ReadContext) {
      if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
        ctx.fail(path, `must be an integer from ${min} to ${max}`, v);
      }
      return v;
    },
  };
}

/** true or false. */
export const bool: ValueType<boolean> = {
  read(v: unknown, path: string, ctx: ReadContext) {
    if (typeof v !== "boolean") ctx.fail(path, "must be true or false", v);
    return v;
  },
};

const HOUR_MS = 3600_000;

/** Parse a duration such as "90s", "5m", "4h", "5d" (or "0") into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: HOUR_MS, d: 24 * HOUR_MS }[m[2] ?? "s"]!;
  return Number(m[1]) * unit;
}

/** A duration ("90s", "5m", "4h", "5d"; a bare number is seconds), read as milliseconds. */
export const duration: ValueType<number> = {
  read(v: unknown, path: string, ctx: ReadContext) {
    const ms = parseDuration(String(v));
    if (ms === undefined) ctx.fail(path, 'must be a duration like "90s", "5m", "4h" or "5d"', v);
    return ms;
  },
};

/** "a or b", "a, b or c", and from four on "one of a, b, c, d". */
function choiceReason(words: readonly string[]): string {
  if (words.length > 3) return `must be one of ${words.join(", ")}`;
  return `must be ${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}

/** One of a few words. */
export function oneOf<const W extends string>(words: readonly W[]): ValueType<W> {
  return {
    read(v: unknown, path: string, ctx: ReadContext) {
      const word = text.read(v, path, ctx);
      if (!(words as readonly string[]).includes(word)) ctx.fail(path, choiceReason(words), word);
      return word as W;
    },
  };
}

/** A string or a list of strings (one string is a list of one). */
export const stringList: ValueType<string[]> = {
  read(v: unknown, path: string, ctx: ReadContext) {
    if (v === null) ctx.fail(path, "is required");
    const list = typeof v === "string" ? [v] : v;
    if (!Array.isArray(list) || list.some((x) => typeof x !== "string")) {
      ctx.fail(path, "must be a string or a list of strings", v);
    }
    return list as string[];
  },
};

/** A list whose items are read by `item`, which gets the path `key[i]` of each. */
function listOf<T>(item: (s: string, path: string, ctx: ReadContext) => T): ValueType<T[]> {
  return {
    read: (v, path, ctx) =>
      stringList.read(v, path, ctx).map((s, i) => item(s, `${path}[${i}]`, ctx)),
  };
}

/** A list of domain names (canonical), with at least `min` of them. */
export function domainList(min = 0): ValueType<string[]> {
  const list = listOf(domainOf);
  return {
    read(v: unknown, path: string, ctx: ReadContext) {
      const domains = list.read(v, path, ctx);
      if (domains.length < min) ctx.fail(path, "must list at least one domain", []);
      return domains;
    },
  };
}

/** Parse "host:port", "[v6]:port". Returns undefined when malformed. */
export function parseHostPort(s: string, defaultPort?: number): ListenAddress | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(s) ?? /^([^:\[\]]+)(?::(\d+))?$/.exec(s);
  if (!m || !m[1]) return undefined;
  const portText = m[2];
  const port = portText === undefined ? defaultPort : Number(portText);
  if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: m[1], port };
}

/** Listen addresses, "host:port" or "[ipv6]:port"; an empty list turns the listener off. */
export const listenList: ValueType<ListenAddress[]> = listOf(
  (s: string, path: string, ctx: ReadContext) => {
    const a = parseHostPort(s);
    if (!a) ctx.fail(path, 'must be "host:port" or "[ipv6]:port"', s);
    return a;
  },
);

/** `host:port` as it would be written in the config (`[::1]:8080` for IPv6). */
export function formatHostPort({ host, port }: ListenAddress): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether a listen host is a loopback address: 127.0.0.0/8, ::1 or "localhost". */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) !== 6) return false;
  // Any spelling of ::1 (0:0:0:0:0:0:0:1, ::0001), made canonical by the URL parser.
  return new URL(`http://[${host}]/`).hostname === "[::1]";
}

/**
 * Listen addresses that must all be loopback: a service without TLS that only the machine
 * itself (or an SSH tunnel to it) may reach.
 */
export const loopbackListenList: ValueType<ListenAddress[]> = {
  read(v: unknown, path: string, ctx: ReadContext) {
    const list = listenList.read(v, path, ctx);
    const outside = list.find((a) => !isLoopbackHost(a.host));
    if (outside) {
      ctx.fail(
        path,
        "must list loopback addresses only (127.0.0.1, [::1] or localhost): it is plain HTTP; " +
          "reach it through an SSH tunnel, or set admin.public to serve it on listen.https",
        formatHostPort(outside),
      );
    }
    return list;
  },
};

/** DNS servers, "ip", "ip:port" or "[ipv6]:port" (port 53 when none is given). */
export const nameserverList: ValueType<ListenAddress[]> = listOf(
  (s: string, path: string, ctx: ReadContext) => {
    const a = parseHostPort(s, 53);
    // A resolver must be reachable without DNS: IP literals only.
    if (!a || !isIP(a.host) || a.port === 0) {
      ctx.fail(path, 'must be "ip", "ip:port" or "[ipv6]:port"', s);
    }
    return a;
  },
);

/** Networks, "ip" or "ip/bits" (a bare ip is the one address). */
export const cidrList: ValueType<{ network: string; bits: number }[]> = listOf(
  (cidr: string, path: string, ctx: ReadContext) => {
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(cidr);
    const ip = m?.[1] ?? "";
    const max = isIP(ip) === 6 ? 128 : 32;
    const bits = m?.[2] === undefined ? max : Number(m[2]);
    if (!m || !isIP(ip) || bits > max) ctx.fail(path, 'must be "ip" or "ip/bits"', cidr);
    return { network: ip, bits };
  },
);

/** An IP address of the given family. */
export function ipAddress(family: 4 | 6): ValueType<string> {
  return {
    read(v: unknown, path: string, ctx: ReadContext) {
      const ip = text.read(v, path, ctx);
      if (isIP(ip) !== family) ctx.fail(path, `must be an IPv${family} address`, ip);
      return ip;
    },
  };
}

/** An `https://` URL (`http://` only to a loopback host, for tests and local CAs). */
export const httpsUrl: ValueType<string> = {
  read(v: unknown, path: string, ctx: ReadContext) {
    const s = text.read(v, path, ctx);
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      ctx.fail(path, "must be a URL", s);
    }
    const loopback = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(url.hostname);
    if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
      ctx.fail(path, "must be an https:// URL", s);
    }
    return url.href;
  },
};

/** An e-mail address for contact (any domain, `local@domain`, no display name). */
export const contactAddress: ValueType<string> = {
  read(v: unknown, path: string, ctx: ReadContext) {
    const s = text.read(v, path, ctx);
    const a = addressOf(s, path, ctx);
    if (a.local === "") ctx.fail(path, "must be an address local@domain", s);
    return `${a.local}@${a.domain}`;
  },
};
