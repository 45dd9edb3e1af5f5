/*
 * relay/delivery/next-hop - the hosts to try, in order, for one route group.
 *
 * Smart hosts: the connector's list in its order (`host`, `host:port`, `[v6]:port`; no port
 * means connector.port); a name is resolved to A then AAAA records; a smart host that does
 * not resolve is skipped; none left -> defer (a configuration problem, never a bounce).
 * DNS MX (RFC 5321 5.1): MX records by preference, shuffled among equal preference; each
 * exchange resolved to A then AAAA. No MX records (NODATA) -> the domain itself (implicit
 * MX); a null MX (RFC 7505) -> bounce 5.1.10; NXDOMAIN -> bounce 5.1.2; SERVFAIL, timeout or
 * refusal -> defer 4.4.3. At most MAX_ADDRESSES addresses are tried per group.
 * Loops (RFC 5321 5.1): an MX host whose address and port are the hub's own (isSelf) is
 * dropped with every host of the same or a lower preference, so a backup MX hands mail to the
 * primary only; when the hub is the best MX (or the implicit MX) nothing is left -> bounce
 * 5.4.6 "loops back to myself" (Postfix's wording) instead of delivering to itself until the
 * hop count stops it. A backup-MX hub whose better MX hosts have no address now defers
 * (4.4.3 when a lookup failed, else 4.4.4 "unable to find a primary relay").
 * The resolver is injectable (`(name, rrtype) => Promise<unknown>`, like the session's), so
 * tests point it at a local DNS server; answers are validated, never trusted in shape.
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import type { SendConnectorConfig } from '../config/schema.ts';
import type { RecipientResult } from './job.ts';

export type DeliveryDnsResolver = (name: string, rrtype: 'MX' | 'A' | 'AAAA') => Promise<unknown>;

export interface NextHopHost {
  /** Name for TLS (SNI, verification) and for Remote-MTA; the address when there is no name. */
  name: string;
  address: string;
  port: number;
}

export type NextHopResult =
  | { ok: true; hosts: NextHopHost[] }
  | { ok: false; result: Exclude<RecipientResult, 'delivered'>; dsnStatus: string; reason: string; reply: string };

export const MAX_ADDRESSES = 10;

/** dnsResolverFor - a resolver asking the given servers (`ip` or `ip:port`); default: the system's. */
export function dnsResolverFor(servers?: string[], timeoutMs = 3000): DeliveryDnsResolver {
  const resolver = new dns.promises.Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers && servers.length > 0) resolver.setServers(servers);
  return (name, rrtype) => resolver.resolve(name, rrtype);
}

const errCode = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
};
const PERMANENT_DNS = new Set(['ENODATA', 'ENOTFOUND', 'NOTFOUND', 'NODATA']);

/** parseSmartHost - `host`, `host:port`, `[addr]`, `[addr]:port`; null when malformed. */
export function parseSmartHost(entry: string, defaultPort: number): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry.trim()) ?? /^([^:[\]\s]+)(?::(\d+))?$/.exec(entry.trim());
  if (!m?.[1]) return null;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: m[1].replace(/^ipv6:/i, ''), port };
}

async function addressesOf(name: string, resolver: DeliveryDnsResolver): Promise<{ addresses: string[]; temporary: boolean }> {
  if (isIP(name)) return { addresses: [name], temporary: false };
  const addresses: string[] = [];
  let temporary = false;
  for (const rrtype of ['A', 'AAAA'] as const) {
    try {
      const answer = await resolver(name, rrtype);
      if (Array.isArray(answer)) addresses.push(...answer.filter((a): a is string => typeof a === 'string' && isIP(a) !== 0));
    } catch (err) {
      if (!PERMANENT_DNS.has(errCode(err))) temporary = true;
    }
  }
  return { addresses, temporary };
}

/** An MX name with its preference (the implicit MX has one name at preference 0). */
interface Exchange { name: string; priority: number }

function shuffleEqualPreference(records: Array<{ exchange: string; priority: number }>, random: () => number): Exchange[] {
  const keyed = records.map((r) => ({ ...r, tie: random() }));
  keyed.sort((a, b) => a.priority - b.priority || a.tie - b.tie);
  return keyed.map((r) => ({ name: r.exchange.replace(/\.$/, '').toLowerCase(), priority: r.priority }));
}

/** isSelf - true for an address and port the hub itself listens on (a delivery there loops). */
export type SelfCheck = (address: string, port: number) => boolean;

async function hostsFor(exchanges: Exchange[], port: number, resolver: DeliveryDnsResolver, isSelf?: SelfCheck): Promise<{ hosts: NextHopHost[]; temporary: boolean; selfPriority: number | null }> {
  const hosts: Array<NextHopHost & { priority: number }> = [];
  let temporary = false;
  let selfPriority: number | null = null;
  for (const exchange of exchanges) {
    if (selfPriority !== null && exchange.priority >= selfPriority) break;
    // past the address limit, only the rest of the same preference is still looked at: if the
    // hub is among them, every host of that preference goes (a loop hides behind the cut)
    if (hosts.length >= MAX_ADDRESSES && (!isSelf || exchange.priority !== hosts.at(-1)?.priority)) break;
    const found = await addressesOf(exchange.name, resolver);
    temporary ||= found.temporary;
    for (const address of found.addresses) {
      if (isSelf?.(address, port)) selfPriority = Math.min(selfPriority ?? exchange.priority, exchange.priority);
      else if (hosts.length < MAX_ADDRESSES && !hosts.some((h) => h.address === address)) hosts.push({ name: exchange.name, address, port, priority: exchange.priority });
    }
  }
  // the hub and everything it prefers no more than itself go; the address order stays
  const kept = hosts.filter((h) => selfPriority === null || h.priority < selfPriority).map(({ name, address, port: p }) => ({ name, address, port: p }));
  return { hosts: kept, temporary, selfPriority };
}

/** resolveSmartHosts - the connector's smart hosts as addresses, in order. */
export async function resolveSmartHosts(connector: SendConnectorConfig, resolver: DeliveryDnsResolver): Promise<NextHopResult> {
  const hosts: NextHopHost[] = [];
  for (const entry of connector.smartHosts) {
    const parsed = parseSmartHost(entry, connector.port);
    if (!parsed) continue;
    const found = await hostsFor([{ name: parsed.host, priority: 0 }], parsed.port, resolver);
    hosts.push(...found.hosts);
  }
  if (hosts.length > 0) return { ok: true, hosts };
  return { ok: false, result: 'deferred', dsnStatus: '4.4.3', reason: 'smartHostUnresolved', reply: `no smart host of ${connector.id} resolves to an address` };
}

/** resolveMxHosts - RFC 5321 5.1 for one domain (see the manual above). */
export async function resolveMxHosts(domain: string, port: number, resolver: DeliveryDnsResolver, random: () => number = Math.random, isSelf?: SelfCheck): Promise<NextHopResult> {
  const literal = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(domain)?.[1];
  if (literal && isIP(literal) && isSelf?.(literal, port)) return { ok: false, result: 'failed', dsnStatus: '5.4.6', reason: 'mailLoop', reply: `mail for ${domain} loops back to myself` };
  if (literal) return isIP(literal) ? { ok: true, hosts: [{ name: literal, address: literal, port }] } : { ok: false, result: 'failed', dsnStatus: '5.1.2', reason: 'badAddressLiteral', reply: `bad address literal ${domain}` };
  let names: Exchange[];
  let implicit: boolean;
  try {
    const answer = await resolver(domain, 'MX');
    const records = (Array.isArray(answer) ? answer : []).filter(
      (r): r is { exchange: string; priority: number } => typeof r === 'object' && r !== null && typeof (r as { exchange?: unknown }).exchange === 'string' && typeof (r as { priority?: unknown }).priority === 'number',
    );
    if (records.length === 1 && (records[0]?.exchange === '' || records[0]?.exchange === '.')) {
      return { ok: false, result: 'failed', dsnStatus: '5.1.10', reason: 'nullMx', reply: `${domain} does not accept mail (null MX)` };
    }
    implicit = records.length === 0;
    names = implicit ? [{ name: domain, priority: 0 }] : shuffleEqualPreference(records, random);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOTFOUND' || code === 'NOTFOUND') return { ok: false, result: 'failed', dsnStatus: '5.1.2', reason: 'domainNotFound', reply: `domain ${domain} not found` };
    if (!PERMANENT_DNS.has(code)) return { ok: false, result: 'deferred', dsnStatus: '4.4.3', reason: 'dnsTemporaryFailure', reply: `MX lookup for ${domain} failed: ${code || (err as Error).message}` };
    implicit = true;
    names = [{ name: domain, priority: 0 }];
  }
  const found = await hostsFor(names, port, resolver, isSelf);
  if (found.hosts.length > 0) return { ok: true, hosts: found.hosts };
  if (found.selfPriority !== null && found.selfPriority === names[0]?.priority) {
    return { ok: false, result: 'failed', dsnStatus: '5.4.6', reason: 'mailLoop', reply: `mail for ${domain} loops back to myself: this hub is ${implicit ? 'the address of the domain' : `its best MX host (preference ${found.selfPriority})`}` };
  }
  if (found.selfPriority !== null) {
    // a backup MX whose better MX hosts have no address now: hold the mail, as Postfix does
    return { ok: false, result: 'deferred', dsnStatus: found.temporary ? '4.4.3' : '4.4.4', reason: 'noPrimaryRelay', reply: `unable to find a primary relay for ${domain}: this hub is a backup MX (preference ${found.selfPriority}) and no better MX host has an address` };
  }
  if (found.temporary) return { ok: false, result: 'deferred', dsnStatus: '4.4.3', reason: 'dnsTemporaryFailure', reply: `address lookup for the MX hosts of ${domain} failed` };
  return { ok: false, result: 'failed', dsnStatus: implicit ? '5.1.2' : '5.4.4', reason: 'noAddress', reply: `no address found for ${implicit ? domain : `the MX hosts of ${domain}`}` };
}
