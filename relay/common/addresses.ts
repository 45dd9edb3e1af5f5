/*
 * relay/common/addresses - the one codec for IP addresses and remoteIPRanges entries: text to
 * 128-bit values (four big-endian uint32 words, IPv4 in the last word) and back.
 *
 * Two grammars, one parser:
 *   configuration text (remoteIPRanges, trustedProxies, hub addresses, bindings): strict
 *     dotted-quad IPv4 (no octal/hex/short forms, no leading zeros), IPv6 with an optional
 *     embedded dotted tail, no zone IDs, and no IPv4-mapped IPv6 (::ffff:a.b.c.d): what the
 *     CRDs' CEL isIP/isCIDR (Kubernetes' Go netip rules) let through, so the offline validator,
 *     render and the relay give the API server's verdicts;
 *   client addresses (a socket's remoteAddress, a PROXY header): the same, plus a zone ID
 *     (fe80::1%eth0, kept apart and playing no part in matching) and IPv4-mapped IPv6, which is
 *     the IPv4 client it stands for (dual-stack sockets report IPv4 peers that way).
 * The parser is hand-written: ipaddr.js takes 1-4 us per address, this well under 100 ns, and
 * the listener parses every connection's address. The tests use ipaddr.js as the reference.
 */

import { RelayError } from './errors.ts';

export type AddressFamily = 4 | 6;

/** Four uint32 words per 128-bit value. */
export const WORDS = 4;

/** The CRD's CEL rule names, so a message from the relay matches one from the API server. */
export type RangeRule = 'remoteIPRangeSyntax' | 'remoteIPRangeOrder';

export class RangeSyntaxError extends RelayError {
  readonly rule: RangeRule;
  readonly entry: string;
  /** Set when the entry came from buildListenerIndex. */
  readonly connectorId: string | undefined;

  constructor(entry: string, rule: RangeRule, problem: string, connectorId?: string) {
    const owner = connectorId === undefined ? '' : ` of connector ${JSON.stringify(connectorId)}`;
    super('RELAY_ERR_RANGE_SYNTAX', `remoteIPRanges entry ${JSON.stringify(entry)}${owner}: ${problem} (rule ${rule})`);
    this.name = 'RangeSyntaxError';
    this.rule = rule;
    this.entry = entry;
    this.connectorId = connectorId;
  }
}

export interface ParsedRange {
  entry: string;
  form: 'address' | 'range' | 'cidr';
  family: AddressFamily;
  first: bigint;
  last: bigint;
  /** Number of addresses covered: last - first + 1. */
  size: bigint;
}

const TWO_POW_32 = 4294967296;
const CHAR_0 = 48;
const CHAR_9 = 57;
const CHAR_DOT = 46;
const CHAR_COLON = 58;

// ---------------------------------------------------------------------------------------------
// Address parsing into words

/** Value of a strict dotted-quad IPv4 address in text[start, end), or -1. */
function readIPv4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= CHAR_0 && c <= CHAR_9) {
      // "010" is octal to inet_aton and ipaddr.js, decimal to others: refuse the ambiguity.
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (c - CHAR_0);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === CHAR_DOT) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

function hexDigit(c: number): number {
  if (c >= CHAR_0 && c <= CHAR_9) return c - CHAR_0;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

const groupScratch = new Uint32Array(8);

/**
 * Writes the IPv6 address in text[start, end) into out[at..at+3]; returns 6, 4 when it is
 * IPv4-mapped (then stored as IPv4: words 0,0,0,v4), or 0 when it is not an address.
 */
function readIPv6(text: string, start: number, end: number, out: Uint32Array, at: number): 0 | 4 | 6 {
  const groups = groupScratch;
  let count = 0;
  let gapAt = -1;
  let i = start;
  if (end - start < 2) return 0;
  if (text.charCodeAt(i) === CHAR_COLON) {
    if (text.charCodeAt(i + 1) !== CHAR_COLON) return 0;
    gapAt = 0;
    i += 2;
  }
  while (i < end) {
    const groupStart = i;
    let value = 0;
    let digit: number;
    while (i < end && (digit = hexDigit(text.charCodeAt(i))) >= 0) {
      value = value * 16 + digit;
      i++;
    }
    if (i < end && text.charCodeAt(i) === CHAR_DOT) {
      // Embedded dotted IPv4 (::ffff:1.2.3.4) stands for the last two groups.
      if (count > 6) return 0;
      const v4 = readIPv4(text, groupStart, end);
      if (v4 < 0) return 0;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      break;
    }
    const digits = i - groupStart;
    if (digits === 0 || digits > 4 || count === 8) return 0;
    groups[count++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== CHAR_COLON) return 0;
    i++;
    if (i < end && text.charCodeAt(i) === CHAR_COLON) {
      if (gapAt >= 0) return 0;
      gapAt = count;
      i++;
    } else if (i === end) {
      return 0;
    }
  }
  if (gapAt < 0 ? count !== 8 : count > 7) return 0;
  const zeros = gapAt < 0 ? 0 : 8 - count;
  for (let w = 0; w < WORDS; w++) {
    const hi = expandedGroup(groups, 2 * w, gapAt, zeros);
    const lo = expandedGroup(groups, 2 * w + 1, gapAt, zeros);
    out[at + w] = hi * 65536 + lo;
  }
  if (out[at] === 0 && out[at + 1] === 0 && out[at + 2] === 0xffff) {
    out[at + 2] = 0;
    return 4;
  }
  return 6;
}

function expandedGroup(groups: Uint32Array, index: number, gapAt: number, zeros: number): number {
  if (gapAt < 0 || index < gapAt) return groups[index]!;
  if (index < gapAt + zeros) return 0;
  return groups[index - zeros]!;
}

function writeIPv4(v4: number, out: Uint32Array, at: number): 4 {
  out[at] = 0;
  out[at + 1] = 0;
  out[at + 2] = 0;
  out[at + 3] = v4;
  return 4;
}

/**
 * Address of the configuration grammar in text[start, end) into out[at..at+3]; returns its
 * family or 0. IPv4-mapped IPv6 is refused, as CEL's isIP refuses it: an entry means one
 * family, written the one way the API server takes.
 */
function readAddress(text: string, start: number, end: number, out: Uint32Array, at: number): 0 | 4 | 6 {
  const v4 = readIPv4(text, start, end);
  if (v4 >= 0) return writeIPv4(v4, out, at);
  const family = readIPv6(text, start, end, out, at);
  return family === 4 ? 0 : family;
}

const problemScratch = new Uint32Array(WORDS);

/** Why `text` is not an address; only called on the error path. */
function addressProblem(text: string): string {
  const quoted = JSON.stringify(text);
  if (text === '') return 'an address is empty';
  if (/\s/.test(text)) return `${quoted} contains whitespace`;
  if (text.includes('%')) return `${quoted} has a zone ID, which is not allowed`;
  if (readIPv6(text, 0, text.length, problemScratch, 0) === 4) {
    return `${quoted} is an IPv4-mapped IPv6 address, which is not allowed: write the IPv4 address ${formatIPv4(problemScratch[3]!)}`;
  }
  const dotted = text.slice(text.lastIndexOf(':') + 1);
  if (/^\d+(\.\d+){3}$/.test(dotted)) {
    const octets = dotted.split('.');
    if (octets.some((octet) => octet.length > 1 && octet.startsWith('0'))) {
      return `${quoted} has an IPv4 octet with a leading zero (octal or decimal is ambiguous)`;
    }
    if (octets.some((octet) => Number(octet) > 255)) return `${quoted} has an IPv4 octet above 255`;
  }
  return `${quoted} is not an IPv4 or IPv6 address`;
}

// ---------------------------------------------------------------------------------------------
// 128-bit word arithmetic

export function compareWords(a: Uint32Array, ai: number, b: Uint32Array, bi: number): number {
  for (let w = 0; w < WORDS; w++) {
    const x = a[ai + w]!;
    const y = b[bi + w]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** out = a - b (a >= b). */
export function subtractWords(a: Uint32Array, ai: number, b: Uint32Array, bi: number, out: Uint32Array, oi: number): void {
  let borrow = 0;
  for (let w = WORDS - 1; w >= 0; w--) {
    let d = a[ai + w]! - b[bi + w]! - borrow;
    borrow = d < 0 ? 1 : 0;
    if (d < 0) d += TWO_POW_32;
    out[oi + w] = d;
  }
}

/** out = a + 1; false when a is the largest 128-bit value. */
export function incrementWords(a: Uint32Array, ai: number, out: Uint32Array, oi: number): boolean {
  let carry = 1;
  for (let w = WORDS - 1; w >= 0; w--) {
    const sum = a[ai + w]! + carry;
    carry = sum === TWO_POW_32 ? 1 : 0;
    out[oi + w] = carry ? 0 : sum;
  }
  return carry === 0;
}

export function copyWords(from: Uint32Array, fromAt: number, to: Uint32Array, toAt: number): void {
  to[toAt] = from[fromAt]!;
  to[toAt + 1] = from[fromAt + 1]!;
  to[toAt + 2] = from[fromAt + 2]!;
  to[toAt + 3] = from[fromAt + 3]!;
}

export function wordsToBigInt(a: Uint32Array, ai: number): bigint {
  return (BigInt(a[ai]!) << 96n) | (BigInt(a[ai + 1]!) << 64n) | (BigInt(a[ai + 2]!) << 32n) | BigInt(a[ai + 3]!);
}

/** Clears (or sets) the low hostBits bits of a[ai..ai+3] in place. */
export function maskHostBits(a: Uint32Array, ai: number, hostBits: number, setOnes: boolean): void {
  for (let w = 0; w < WORDS; w++) {
    const bitsBelow = hostBits - (WORDS - 1 - w) * 32;
    if (bitsBelow <= 0) continue;
    const bitsInWord = bitsBelow > 32 ? 32 : bitsBelow;
    const mask = bitsInWord === 32 ? 0xffffffff : 2 ** bitsInWord - 1;
    a[ai + w] = setOnes ? (a[ai + w]! | mask) >>> 0 : (a[ai + w]! & ~mask) >>> 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Entries

function throwRangeSyntax(entry: string, rule: RangeRule, problem: string, connectorId?: string): never {
  throw new RangeSyntaxError(entry, rule, problem, connectorId);
}

/** The CIDR prefix in text[start, end) if it is 0-999 without leading zeros, else -1. */
function readPrefix(text: string, start: number, end: number): number {
  const digits = end - start;
  if (digits < 1 || digits > 3) return -1;
  let prefix = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < CHAR_0 || c > CHAR_9 || (i > start && prefix === 0)) return -1;
    prefix = prefix * 10 + (c - CHAR_0);
  }
  return prefix;
}

/**
 * Parses one entry into first[at..], last[at..] and span[at..] (span = last - first) and returns
 * its family. Throws RangeSyntaxError.
 */
export function readRangeEntry(
  entry: string,
  first: Uint32Array,
  last: Uint32Array,
  span: Uint32Array,
  at: number,
  connectorId?: string,
): AddressFamily {
  const SYNTAX = 'remoteIPRangeSyntax';
  const length = entry.length;
  const dashAt = entry.indexOf('-');
  const slashAt = dashAt >= 0 ? -1 : entry.indexOf('/');
  const addressEnd = dashAt >= 0 ? dashAt : slashAt >= 0 ? slashAt : length;
  const family = readAddress(entry, 0, addressEnd, first, at);
  if (family === 0) {
    if (length === 0) throwRangeSyntax(entry, SYNTAX, 'an entry must not be empty', connectorId);
    if (dashAt >= 0 && entry.includes('/')) {
      throwRangeSyntax(entry, SYNTAX, 'a range a-b takes two addresses, not CIDR blocks', connectorId);
    }
    throwRangeSyntax(entry, SYNTAX, addressProblem(entry.slice(0, addressEnd)), connectorId);
  }

  if (dashAt >= 0) {
    if (entry.indexOf('-', dashAt + 1) >= 0) throwRangeSyntax(entry, SYNTAX, 'a range has exactly one "-"', connectorId);
    const endFamily = readAddress(entry, dashAt + 1, length, last, at);
    if (endFamily === 0) {
      const problem = entry.includes('/', dashAt)
        ? 'a range a-b takes two addresses, not CIDR blocks'
        : addressProblem(entry.slice(dashAt + 1));
      throwRangeSyntax(entry, SYNTAX, problem, connectorId);
    }
    if (endFamily !== family) {
      const problem = `range ends are of different families (IPv${family} and IPv${endFamily})`;
      throwRangeSyntax(entry, SYNTAX, problem, connectorId);
    }
    if (compareWords(first, at, last, at) > 0) {
      throwRangeSyntax(entry, 'remoteIPRangeOrder', 'range a-b must have a <= b', connectorId);
    }
  } else if (slashAt >= 0) {
    const prefix = readPrefix(entry, slashAt + 1, length);
    if (prefix < 0) {
      const problem = `prefix "/${entry.slice(slashAt + 1)}" is not a decimal number without leading zeros`;
      throwRangeSyntax(entry, SYNTAX, problem, connectorId);
    }
    const maxPrefix = family === 6 ? 128 : 32;
    if (prefix > maxPrefix) {
      const problem = `prefix /${prefix} is out of range 0-${maxPrefix} for IPv${family}`;
      throwRangeSyntax(entry, SYNTAX, problem, connectorId);
    }
    const hostBits = maxPrefix - prefix;
    copyWords(first, at, last, at);
    maskHostBits(first, at, hostBits, false);
    maskHostBits(last, at, hostBits, true);
  } else {
    copyWords(first, at, last, at);
  }
  subtractWords(last, at, first, at, span, at);
  return family;
}

const entryFirst = new Uint32Array(WORDS);
const entryLast = new Uint32Array(WORDS);
const entrySpan = new Uint32Array(WORDS);

/** Parses one remoteIPRanges entry: an address, a range `a-b` (inclusive), or a CIDR block. */
export function parseRemoteIPRange(entry: string): ParsedRange {
  const family = readRangeEntry(entry, entryFirst, entryLast, entrySpan, 0);
  const dash = entry.includes('-');
  return {
    entry,
    form: dash ? 'range' : entry.includes('/') ? 'cidr' : 'address',
    family,
    first: wordsToBigInt(entryFirst, 0),
    last: wordsToBigInt(entryLast, 0),
    size: wordsToBigInt(entrySpan, 0) + 1n,
  };
}

// ---------------------------------------------------------------------------------------------
// Client addresses

/**
 * Parses a client address as Node reports it (IPv4, IPv6, IPv4-mapped IPv6, optional %zone)
 * into out[0..3]; returns the family (4 for IPv4-mapped) or 0 if it is not an address.
 */
export function parseClientAddress(address: string, out: Uint32Array): 0 | AddressFamily {
  const v4 = readIPv4(address, 0, address.length);
  if (v4 >= 0) return writeIPv4(v4, out, 0);
  // A link-local peer may carry its zone (fe80::1%eth0); the zone plays no part in matching.
  const zoneAt = address.indexOf('%');
  return readIPv6(address, 0, zoneAt < 0 ? address.length : zoneAt, out, 0);
}


// ---------------------------------------------------------------------------------------------
// Configuration text: the predicates of the CRDs' CEL rules

const predicateScratch = new Uint32Array(WORDS);

/** Family of an address in the configuration grammar (CEL isIP), or null. */
export function addressFamily(text: string): AddressFamily | null {
  const family = readAddress(text, 0, text.length, predicateScratch, 0);
  return family === 0 ? null : family;
}

/** CEL isIP: an IPv4 or IPv6 address, no zone ID, no IPv4-mapped IPv6. */
export function isIP(text: string): boolean {
  return addressFamily(text) !== null;
}

/** CEL isCIDR: address "/" prefix, the prefix decimal without leading zeros and within the family. */
export function isCIDR(text: string): boolean {
  const slashAt = text.indexOf('/');
  if (slashAt < 0) return false;
  const family = readAddress(text, 0, slashAt, predicateScratch, 0);
  const prefix = readPrefix(text, slashAt + 1, text.length);
  return family !== 0 && prefix >= 0 && prefix <= (family === 4 ? 32 : 128);
}

// ---------------------------------------------------------------------------------------------
// Words back to text

function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/** RFC 5952 text of the IPv6 address in words[at..at+3]. */
function formatIPv6(words: Uint32Array, at: number): string {
  const group = (i: number): number => (i & 1 ? words[at + (i >> 1)]! & 0xffff : words[at + (i >> 1)]! >>> 16);
  // The longest run of two or more zero groups (the first one on a tie) becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (group(i) !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && group(j) === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => {
    const parts: string[] = [];
    for (let i = from; i < to; i++) parts.push(group(i).toString(16));
    return parts.join(':');
  };
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** Canonical text of a parsed address: dotted-quad IPv4, RFC 5952 IPv6. */
export function formatAddress(family: AddressFamily, words: Uint32Array, at = 0): string {
  return family === 4 ? formatIPv4(words[at + 3]!) : formatIPv6(words, at);
}

/**
 * Reads a 4- or 16-byte network-order address (a PROXY v2 block) into out[0..3]; returns its
 * family, 4 for IPv4-mapped IPv6.
 */
export function readAddressBytes(bytes: Uint8Array, at: number, length: 4 | 16, out: Uint32Array): AddressFamily {
  const word = (i: number): number => ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
  if (length === 4) return writeIPv4(word(at), out, 0);
  for (let w = 0; w < WORDS; w++) out[w] = word(at + 4 * w);
  if (out[0] === 0 && out[1] === 0 && out[2] === 0xffff) {
    out[2] = 0;
    return 4;
  }
  return 6;
}

/** Network-order bytes (4 for IPv4, 16 for IPv6) of a parsed address. */
export function addressBytes(family: AddressFamily, words: Uint32Array): number[] {
  const bytes: number[] = [];
  for (let w = family === 4 ? WORDS - 1 : 0; w < WORDS; w++) {
    const value = words[w]!;
    bytes.push(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
  }
  return bytes;
}

const canonicalScratch = new Uint32Array(WORDS);

/**
 * One spelling per client address: IPv4-mapped IPv6 as IPv4, IPv6 in its RFC 5952 form, a zone
 * ID kept as written; null when it is not an address.
 */
export function canonicalAddress(address: string): string | null {
  const family = parseClientAddress(address, canonicalScratch);
  if (family === 0) return null;
  const zoneAt = address.indexOf('%');
  return formatAddress(family, canonicalScratch) + (zoneAt < 0 ? '' : address.slice(zoneAt));
}
