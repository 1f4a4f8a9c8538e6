/**
 * Test helpers of `src/http/`: an {@link HttpService} on loopback with a self-signed
 * certificate, and a raw HTTP client (plain or TLS) that sends bytes as given and reads the
 * response until the server closes.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import { ChallengeStore } from "../acme/challenges.ts";
import { TlsContext } from "../listen/tls_context.ts";
import { generateSelfSigned, secureContext, type TlsMaterial } from "../tls/certificate.ts";
import { HttpService, type HttpServiceOptions } from "./server.ts";

/** postie's hostname in these tests. */
export const HOSTNAME = "mail.example.test";
/** The local domains in these tests; the first is primary. */
export const DOMAINS = ["example.test", "other.test"];

/** A running service and what it was made with. */
export interface TestService {
  service: HttpService;
  challenges: ChallengeStore;
  tls: TlsContext;
  cert: TlsMaterial;
  httpPort: number;
  httpsPort: number;
}

let material: Promise<TlsMaterial> | undefined;

/** Start a service on 127.0.0.1 (one HTTP and one HTTPS listener unless `o.listen` says). */
export async function startTestService(o: Partial<HttpServiceOptions> = {}): Promise<TestService> {
  const cert = await (material ??= generateSelfSigned(HOSTNAME));
  const challenges = o.challenges ?? new ChallengeStore();
  const ctx = o.tls ?? new TlsContext(secureContext(cert));
  const service = await HttpService.start({
    listen: { http: [{ host: "127.0.0.1", port: 0 }], https: [{ host: "127.0.0.1", port: 0 }] },
    hostname: HOSTNAME,
    domains: DOMAINS,
    limits: { maxConnections: 20, maxConnectionsPerIp: 20, handshakeTimeoutMs: 3000 },
    ...o,
    tls: ctx,
    challenges,
  });
  const port = (kind: string) => service.addresses.find((a) => a.kind === kind)?.port ?? 0;
  return { service, challenges, tls: ctx, cert, httpPort: port("http"), httpsPort: port("https") };
}

/** A response as received. */
export interface RawResponse {
  status: number;
  /** Header fields by lower-cased name. */
  headers: Map<string, string>;
  body: string;
  /** Everything received. */
  raw: string;
}

/** Split a received response; the status is 0 when nothing came. */
export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  const head = end < 0 ? raw : raw.slice(0, end);
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(":");
    headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1] ?? 0);
  return { status, headers, body: end < 0 ? "" : raw.slice(end + 4), raw };
}

/** How to reach the service over TLS. */
export interface TlsClientOptions {
  ca: string;
  servername?: string;
  alpn?: string[];
}

/**
 * Send `request` (as is) to 127.0.0.1:`port`, over TLS when `tlsOptions` is given, and read
 * until the server closes (at most `timeoutMs`).
 */
export function exchange(
  port: number,
  request: string | Uint8Array,
  tlsOptions?: TlsClientOptions,
  timeoutMs = 5000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = tlsOptions
      ? tls.connect({
        host: "127.0.0.1",
        port,
        servername: tlsOptions.servername ?? HOSTNAME,
        ca: [tlsOptions.ca],
        ALPNProtocols: tlsOptions.alpn ?? ["http/1.1"],
      })
      : net.connect({ host: "127.0.0.1", port });
    const chunks: Uint8Array[] = [];
    const text = () => new TextDecoder().decode(Uint8Array.from(chunks.flatMap((c) => [...c])));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of response after ${JSON.stringify(text())}`));
    }, timeoutMs);
    socket.once(tlsOptions ? "secureConnect" : "connect", () => socket.write(request));
    socket.on("data", (d: Uint8Array) => chunks.push(d));
    socket.on("error", (e) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseResponse(text()));
    });
  });
}

/** A GET request for `target` with Host `host`. */
export function get(target: string, host = DOMAINS[0]!, method = "GET"): string {
  return `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: test\r\n\r\n`;
}

/** A POST request with `body` (UTF-8). */
export function post(target: string, body: string, host = DOMAINS[0]!): string {
  const length = new TextEncoder().encode(body).length;
  return `POST ${target} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: text/xml\r\n` +
    `Content-Length: ${length}\r\n\r\n${body}`;
}
