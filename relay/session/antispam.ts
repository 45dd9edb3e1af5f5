/*
 * relay/session/antispam - SPF (mailauth) and DNSBL checks that end as X-Relay-Antispam headers.
 *
 * Job: for a session without BypassAntiSpam (the caller decides), evaluate SPF for MAIL FROM
 * (the HELO identity for the null sender) and look the client address up in each DNSBL zone;
 * return one `X-Relay-Antispam:` line per check (each ending in CRLF, ready to prepend) plus
 * the structured results for the tracking log. Nothing is rejected here: the headers inform.
 * Trust: HELO and MAIL FROM are client input and are reduced to safe characters before they
 * enter a header; DNS answers are untrusted (a DNSBL answer outside 127.0.0.0/8, or in
 * 127.255.255.0/24, the Spamhaus error range, is not a listing but a temperror).
 * Failure modes: DNS is injectable (`resolver`) and every lookup races one deadline (default
 * 3 s): a hung or failing resolver yields 'temperror', never a stuck session or a throw.
 * Non-public client addresses (private, loopback, documentation...) are not sent to DNSBLs.
 */
import dns from 'node:dns';
import ipaddr from 'ipaddr.js';
import type { DNSResolver } from 'mailauth';
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import { memoizeByAddress } from './address-memo.ts';

/** `dns.promises.resolve`-shaped: (name, 'TXT' | 'A' | 'AAAA' | 'MX' | ...) => records. */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown>;

export type SpfResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror';
export interface DnsblResult {
  zone: string;
  result: 'listed' | 'notListed' | 'skipped' | 'temperror';
  /** The A records answered for a listing (e.g. 127.0.0.2). */
  codes: string[];
}
export interface AntiSpamInput {
  clientAddress: string;
  helo: string;
  /** '' for the null sender. */
  mailFrom: string;
  hubFqdn: string;
  spf: boolean;
  dnsbl: string[];
  resolver?: DnsResolver;
  /** Cap for all checks together; default 3000 ms. */
  timeoutMs?: number;
}
export interface AntiSpamResult {
  /** `X-Relay-Antispam: ...\r\n` lines. */
  headers: string[];
  spf: SpfResult | null;
  dnsbl: DnsblResult[];
}

export const ANTISPAM_HEADER = 'X-Relay-Antispam';
const DEFAULT_TIMEOUT_MS = 3000;
const SPF_RESULTS: ReadonlySet<string> = new Set(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror']);

let systemResolver: dns.promises.Resolver | undefined;
const defaultResolver: DnsResolver = (name, rrtype) => {
  systemResolver ??= new dns.promises.Resolver({ timeout: 1000, tries: 2 });
  return systemResolver.resolve(name, rrtype);
};

function timeoutError(): Error {
  return Object.assign(new Error('DNS deadline exceeded'), { code: 'ETIMEOUT' });
}

/** Races every lookup against the shared deadline; the timer is cleared as soon as either ends. */
function withDeadline(resolver: DnsResolver, deadline: number): DnsResolver {
  return (name, rrtype) => {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(timeoutError());
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeoutError()), left);
    });
    return Promise.race([Promise.resolve().then(() => resolver(name, rrtype)), expired]).finally(() => clearTimeout(timer));
  };
}

/** Header-safe token: printable ASCII without the characters that structure the header. */
const token = (value: string, max = 255): string => value.replace(/[^\x21-\x7e]|[;()"\\]/g, '?').slice(0, max) || '?';

async function checkSpf(input: AntiSpamInput, resolver: DnsResolver, deadline: number): Promise<SpfResult> {
  try {
    const result = await mailauthSpf({
      ...(input.mailFrom === '' ? {} : { sender: input.mailFrom }),
      ip: input.clientAddress,
      helo: input.helo,
      mta: input.hubFqdn,
      resolver: resolver as DNSResolver,
      maxElapsedTime: Math.max(1, deadline - Date.now()),
    });
    const status: string = result.status.result;
    return SPF_RESULTS.has(status) ? (status as SpfResult) : 'temperror';
  } catch {
    return 'temperror';
  }
}

/** The DNSBL query name for an address (reversed octets or nibbles), or null when not public. */
export function dnsblQueryName(address: string, zone: string): string | null {
  if (!ipaddr.isValid(address)) return null;
  const ip = ipaddr.process(address);
  if (ip.range() !== 'unicast') return null;
  const labels =
    ip.kind() === 'ipv4'
      ? ip.toByteArray().map(String)
      : ip.toByteArray().flatMap((b) => [(b >> 4).toString(16), (b & 15).toString(16)]);
  return `${labels.reverse().join('.')}.${zone.replace(/\.$/, '')}`;
}

async function checkDnsbl(address: string, zone: string, resolver: DnsResolver): Promise<DnsblResult> {
  const name = dnsblQueryName(address, zone);
  if (name === null) return { zone, result: 'skipped', codes: [] };
  try {
    const answer = await resolver(name, 'A');
    const codes = (Array.isArray(answer) ? answer : []).filter((a): a is string => typeof a === 'string');
    const listed = codes.filter((a) => a.startsWith('127.') && !a.startsWith('127.255.255.') && ipaddr.IPv4.isValidFourPartDecimal(a));
    if (listed.length > 0) return { zone, result: 'listed', codes: listed };
    return { zone, result: codes.length === 0 ? 'notListed' : 'temperror', codes: [] };
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return { zone, result: 'notListed', codes: [] };
    return { zone, result: 'temperror', codes: [] };
  }
}

/** The client-ip value of the headers: the canonical address (IPv4-mapped shown as IPv4). */
const clientIpToken = memoizeByAddress((address: string): string => (ipaddr.isValid(address) ? ipaddr.process(address).toString() : token(address, 64)));

export async function runAntiSpamChecks(input: AntiSpamInput): Promise<AntiSpamResult> {
  const deadline = Date.now() + (input.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const resolver = withDeadline(input.resolver ?? defaultResolver, deadline);
  const [spfResult, dnsbl] = await Promise.all([
    input.spf ? checkSpf(input, resolver, deadline) : Promise.resolve(null),
    Promise.all(input.dnsbl.map((zone) => checkDnsbl(input.clientAddress, zone, resolver))),
  ]);
  const ip = clientIpToken(input.clientAddress);
  const by = token(input.hubFqdn);
  const headers: string[] = [];
  if (spfResult !== null) {
    const identity = input.mailFrom === '' ? `smtp.helo=${token(input.helo)}` : `smtp.mailfrom=${token(input.mailFrom, 320)}`;
    headers.push(`${ANTISPAM_HEADER}: spf=${spfResult} ${identity} client-ip=${ip} by=${by}\r\n`);
  }
  for (const d of dnsbl) {
    const codes = d.codes.length > 0 ? ` codes=${d.codes.map((c) => token(c, 15)).join(',')}` : '';
    headers.push(`${ANTISPAM_HEADER}: dnsbl=${d.result} zone=${token(d.zone)}${codes} client-ip=${ip} by=${by}\r\n`);
  }
  return { headers, spf: spfResult, dnsbl };
}
