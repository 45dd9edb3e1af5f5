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
 *
 * DNS on the accept path (issue 14 item 7). Every lookup goes through the hub's DNS cache
 * (./dns-cache.ts: positive, negative and failure answers by TTL, LRU-bounded, one query in
 * flight per question, stale answers served while refreshed), and the checks of one message
 * together race one deadline: the connector's `limits.dnsLookupTimeout` (default 5 s). When
 * the deadline passes, a check that has no answer yet ends as `temperror` (RFC 7208 2.6.6 for
 * SPF; the same word for a DNSBL) and the message is accepted with that verdict in its header:
 * a slow or dead resolver never holds the reply to DATA longer than the timeout, and never
 * turns into a refusal (the headers inform, they do not decide).
 *
 * Which check runs at which stage, and why:
 * - SPF and DNSBL start when MAIL FROM is accepted (startAntiSpamChecks from onMailFrom):
 *   that is the first moment all of SPF's inputs (client address, HELO, MAIL FROM) and the
 *   session's rights (BypassAntiSpam comes with AUTH, which must precede MAIL) are known. Their
 *   DNS round trips then overlap the RCPT commands and the whole DATA transfer instead of
 *   following them.
 * - Not at connect, though DNSBL needs only the client address: a session that is refused, or
 *   authenticates and bypasses the checks, or never sends MAIL, would still cost DNS queries
 *   (a connection flood becoming a DNS flood); and a refused MAIL FROM starts nothing, for the
 *   same reason.
 * - The result is awaited at the end of DATA (acceptMessage in accept-message.ts), before the spool commit: the
 *   headers are part of the message that is fsynced before 250, so they must be known then;
 *   writing them after the 250 would need a second write and fsync per message.
 * - The deadline runs from MAIL FROM, so the wait at end of DATA is what is left of it: at
 *   most the timeout, and nothing when the transfer took longer. A resolver that answers
 *   after the deadline still fills the cache for the next message.
 * The DNS resolver is injectable (`resolver`, uncached, for unit tests; `dnsCache`, the hub's);
 * without either the process-wide cache over the system resolver is used.
 * Non-public client addresses (private, loopback, documentation...) are not sent to DNSBLs.
 */
import ipaddr from 'ipaddr.js';
import { WORDS, addressBytes, addressFamily, canonicalAddress, parseClientAddress } from '../common/addresses.ts';
import type { DNSResolver } from 'mailauth';
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import { memoizeByAddress } from './address-memo.ts';
import { DEFAULT_LOOKUP_TIMEOUT_MS, defaultDnsCache, type DnsCache, type DnsResolver } from './dns-cache.ts';

export type { DnsResolver };

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
  /** Uncached resolver (unit tests); ignored when dnsCache is given. */
  resolver?: DnsResolver;
  /** The hub's shared cache; default: the process-wide cache over the system resolver. */
  dnsCache?: DnsCache;
  /** Cap for all checks together, and for each upstream query; default 5000 ms. */
  timeoutMs?: number;
}
export interface AntiSpamResult {
  /** `X-Relay-Antispam: ...\r\n` lines. */
  headers: string[];
  spf: SpfResult | null;
  dnsbl: DnsblResult[];
}

export const ANTISPAM_HEADER = 'X-Relay-Antispam';
const SPF_RESULTS: ReadonlySet<string> = new Set(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror']);

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
  const words = new Uint32Array(WORDS);
  const family = parseClientAddress(address, words);
  if (family === 0) return null;
  const bytes = addressBytes(family, words);
  // ipaddr.js only for its table of special-purpose ranges; the codec parsed the address.
  if (ipaddr.fromByteArray(bytes).range() !== 'unicast') return null;
  const labels =
    family === 4
      ? bytes.map(String)
      : bytes.flatMap((b) => [(b >> 4).toString(16), (b & 15).toString(16)]);
  return `${labels.reverse().join('.')}.${zone.replace(/\.$/, '')}`;
}

async function checkDnsbl(address: string, zone: string, resolver: DnsResolver): Promise<DnsblResult> {
  const name = dnsblQueryName(address, zone);
  if (name === null) return { zone, result: 'skipped', codes: [] };
  try {
    const answer = await resolver(name, 'A');
    const codes = (Array.isArray(answer) ? answer : []).filter((a): a is string => typeof a === 'string');
    const listed = codes.filter((a) => a.startsWith('127.') && !a.startsWith('127.255.255.') && addressFamily(a) === 4);
    if (listed.length > 0) return { zone, result: 'listed', codes: listed };
    return { zone, result: codes.length === 0 ? 'notListed' : 'temperror', codes: [] };
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return { zone, result: 'notListed', codes: [] };
    return { zone, result: 'temperror', codes: [] };
  }
}

/** The client-ip value of the headers: the canonical address (IPv4-mapped shown as IPv4). */
const clientIpToken = memoizeByAddress((address: string): string => canonicalAddress(address) ?? token(address, 64));

/**
 * startAntiSpamChecks - runAntiSpamChecks started now (at MAIL FROM) and awaited later (at the
 * end of DATA); the promise never rejects, so a session that ends before DATA leaves no
 * unhandled rejection behind.
 */
export function startAntiSpamChecks(input: AntiSpamInput): Promise<AntiSpamResult> {
  return runAntiSpamChecks(input).catch(() => temperrorResult(input));
}

/** What every check concludes when nothing could be asked: all temperror. */
function temperrorResult(input: AntiSpamInput): AntiSpamResult {
  return render(input, input.spf ? 'temperror' : null, input.dnsbl.map((zone) => ({ zone, result: 'temperror', codes: [] })));
}

export async function runAntiSpamChecks(input: AntiSpamInput): Promise<AntiSpamResult> {
  const timeoutMs = input.timeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const upstream = input.dnsCache ? input.dnsCache.resolverFor(timeoutMs) : (input.resolver ?? defaultDnsCache().resolverFor(timeoutMs));
  const resolver = withDeadline(upstream, deadline);
  const [spfResult, dnsbl] = await Promise.all([
    input.spf ? checkSpf(input, resolver, deadline) : Promise.resolve(null),
    Promise.all(input.dnsbl.map((zone) => checkDnsbl(input.clientAddress, zone, resolver))),
  ]);
  return render(input, spfResult, dnsbl);
}

function render(input: AntiSpamInput, spfResult: SpfResult | null, dnsbl: DnsblResult[]): AntiSpamResult {
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
