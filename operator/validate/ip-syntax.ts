/*
 * operator/validate/ip-syntax - the IP predicates of the Kubernetes CEL library, in TypeScript.
 *
 * The offline validator must give the API server's verdicts, so isIP and isCIDR follow the
 * semantics of Kubernetes' CEL `isIP`/`isCIDR` (Go netip): no leading zeros in IPv4, no IPv6
 * zones, and IPv4-mapped IPv6 addresses refused.
 */
import { isIPv4, isIPv6 } from 'node:net';

export function ipFamily(text: string): 4 | 6 | null {
  if (isIPv4(text)) return 4;
  if (text.includes('%') || !isIPv6(text)) return null;
  if (/^(0{0,4}:){0,5}:?ffff:\d+\.\d+\.\d+\.\d+$/i.test(text) || /^::ffff:/i.test(text)) return null;
  return 6;
}

export function isIP(text: string): boolean {
  return ipFamily(text) !== null;
}

export function isCIDR(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return false;
  const family = ipFamily(text.slice(0, slash));
  const prefix = text.slice(slash + 1);
  if (family === null || !/^(0|[1-9][0-9]{0,2})$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}
