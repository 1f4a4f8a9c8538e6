/**
 * A {@linkcode Resolver} over `Deno.resolveDns`, for environments where the wire-format
 * {@linkcode ./stub_resolver.ts} cannot be used (no UDP, say).
 *
 * Caveat: `Deno.resolveDns` reports NXDOMAIN, NODATA and SERVFAIL alike as
 * `Deno.errors.NotFound` (measured on Deno 2.9.6, and by this module's tests), so all three
 * come back as `nxdomain`: a temporary DNS outage looks like an absence, which can turn into
 * a permanent bounce or a wrong SPF result. Only other errors (timeouts, refused
 * connections) are `temporary`. `Deno.resolveDns` also gives no TTLs, so `ok` results carry
 * `ttl: 0`, and cannot ask for TLSA records, which are always `temporary`.
 *
 * @module
 */
import type { DnsResult, MxRecord, RecordType, RecordTypes, Resolver } from "./resolver.ts";

/** Options for {@linkcode DenoResolver}. */
export interface DenoResolverOptions {
  /** Name servers; only the first is used. Default: the system configuration. */
  nameservers?: { host: string; port: number }[];
  /** Called for each lookup that ends `temporary` (for the metrics); must not throw. */
  onTemporary?: (reason: string) => void;
}

/** A resolver over `Deno.resolveDns`; see the module caveat. */
export class DenoResolver implements Resolver {
  readonly #options: Deno.ResolveDnsOptions;
  readonly #onTemporary: ((reason: string) => void) | undefined;

  constructor(options: DenoResolverOptions = {}) {
    const first = options.nameservers?.[0];
    this.#options = first ? { nameServer: { ipAddr: first.host, port: first.port } } : {};
    this.#onTemporary = options.onTemporary;
  }

  async lookup<T extends RecordType>(name: string, type: T): Promise<DnsResult<RecordTypes[T]>> {
    // The interface takes absolute names: a trailing dot keeps search domains out.
    const absolute = name.endsWith(".") ? name : `${name}.`;
    // Names with empty or over-long labels cannot exist (RFC 1035 §2.3.4), as in the stub.
    const labels = absolute.slice(0, -1).split(".");
    if (absolute.length > 254 || labels.some((l) => l === "" || l.length > 63)) {
      return { kind: "nxdomain" };
    }
    let records: unknown[];
    try {
      records = await this.#query(absolute, type);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { kind: "nxdomain" };
      const reason = err instanceof Error ? err.message : String(err);
      this.#onTemporary?.(reason);
      return { kind: "temporary", reason };
    }
    if (records.length === 0) return { kind: "nodata" };
    return { kind: "ok", records: records as RecordTypes[T][], ttl: 0 };
  }

  async #query(name: string, type: RecordType): Promise<unknown[]> {
    const options = this.#options;
    switch (type) {
      case "A":
      case "AAAA":
        return await Deno.resolveDns(name, type, options);
      case "PTR":
      case "CNAME":
        return (await Deno.resolveDns(name, type, options)).map(hostName);
      case "MX":
        return (await Deno.resolveDns(name, "MX", options)).map((mx): MxRecord => ({
          preference: mx.preference,
          exchange: hostName(mx.exchange),
        }));
      case "TXT":
        // Each record's character-strings joined with no separator (RFC 7208 §3.3).
        return (await Deno.resolveDns(name, "TXT", options)).map((strings) => strings.join(""));
      case "TLSA":
        throw new Error("Deno.resolveDns cannot ask for TLSA records");
    }
  }
}

/** Lower-case, without trailing dot; the root (null MX, RFC 7505) is "". */
function hostName(name: string): string {
  return name === "." ? "" : name.replace(/\.$/, "").toLowerCase();
}
