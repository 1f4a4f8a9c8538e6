/**
 * IP address arithmetic shared by the modules that match client addresses: whether an address
 * lies inside a CIDR network (SPF ip4/ip6/a/mx, the relay's trusted networks) and whether two
 * texts name the same address.
 *
 * @module
 */

import { isIPv4, isIPv6 } from "node:net";
import { expandIPv6 } from "../dns/resolver.ts";

/** Whether `a` and `b` are the same address, however written (IPv6 zero compression, case). */
export function sameIp(a: string, b: string): boolean {
  return ipToBigInt(a) === ipToBigInt(b);
}

function ipToBigInt(ip: string): bigint | undefined {
  if (isIPv4(ip)) {
    return ip.split(".").reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n);
  }
  if (isIPv6(ip)) {
    return expandIPv6(ip).split(":").reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
  }
  return undefined;
}

/** Whether `ip` is inside `network`/`bits` (same family only). */
export function inCidr(ip: string, network: string, bits: number): boolean {
  const v4 = isIPv4(ip);
  if (v4 !== isIPv4(network)) return false;
  const a = ipToBigInt(ip);
  const b = ipToBigInt(network);
  if (a === undefined || b === undefined) return false;
  const width = v4 ? 32n : 128n;
  const shift = width - BigInt(bits);
  return (a >> shift) === (b >> shift);
}
