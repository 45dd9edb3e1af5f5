// Connector selection on one listener (api.md "Connector selection"): the connector whose
// *smallest* remoteIPRanges entry contains the client address wins. Entries of two connectors
// must be nested or disjoint; an equal or partial overlap leaves the later connector unloaded.
//
// Data structure: per address family, sorted elementary segment starts, each mapped to the
// smallest loaded entry covering it, so a lookup is one binary search (O(log n)) returning a
// cached frozen result: no allocation per connection. Addresses are 128-bit values as four
// big-endian uint32 words in typed arrays (IPv4 in the last word), not bigints, which sort ~10x
// slower: 100,000 entries must load in well under a second. Building: a radix sort ranks all
// endpoints; conflicts are checked in precedence order with two range-min/max trees over the
// ranks (O(n log n), whatever the overlaps inside one connector); a sweep with a min-heap on
// entry size gives each segment its innermost entry. The address parser is hand-written and
// strict (no octal/hex/short IPv4, no zone IDs): ipaddr.js takes 1-4 us per address, so the
// tests use it as the reference instead.

import { RelayError } from '../common/errors.ts';

export type AddressFamily = 4 | 6;

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
  /** IPv4-mapped IPv6 entries (::ffff:a.b.c.d) are family 4. */
  family: AddressFamily;
  first: bigint;
  last: bigint;
  /** Number of addresses covered: last - first + 1. */
  size: bigint;
}

export interface ConnectorRanges {
  id: string;
  /** RFC 3339 creationTimestamp; the earlier connector wins a conflict, ties by id. */
  createdAt: string;
  ranges: string[];
}

export interface RangeConflict {
  /** The later connector, excluded from the index. */
  connectorId: string;
  /** The earlier, loaded connector it collides with. */
  conflictsWith: string;
  entry: string;
  otherEntry: string;
  reason: 'equalRange' | 'partialOverlap';
  message: string;
}

export interface RangeMatch {
  readonly connectorId: string;
  readonly entry: string;
  readonly size: bigint;
}

export type ConnectorSelection =
  | { readonly ok: true; readonly connectorId: string; readonly entry: string; readonly size: bigint }
  | { readonly ok: false; readonly reason: 'noMatchingRange' | 'invalidAddress' };

const WORDS = 4;
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

/** Strict address in text[start, end) into out[at..at+3]; returns its family or 0. */
function readAddress(text: string, start: number, end: number, out: Uint32Array, at: number): 0 | 4 | 6 {
  const v4 = readIPv4(text, start, end);
  if (v4 >= 0) {
    out[at] = 0;
    out[at + 1] = 0;
    out[at + 2] = 0;
    out[at + 3] = v4;
    return 4;
  }
  return readIPv6(text, start, end, out, at);
}

/** Why `text` is not an address; only called on the error path. */
function addressProblem(text: string): string {
  const quoted = JSON.stringify(text);
  if (text === '') return 'an address is empty';
  if (/\s/.test(text)) return `${quoted} contains whitespace`;
  if (text.includes('%')) return `${quoted} has a zone ID, which is not allowed`;
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

function compareWords(a: Uint32Array, ai: number, b: Uint32Array, bi: number): number {
  for (let w = 0; w < WORDS; w++) {
    const x = a[ai + w]!;
    const y = b[bi + w]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** out = a - b (a >= b). */
function subtractWords(a: Uint32Array, ai: number, b: Uint32Array, bi: number, out: Uint32Array, oi: number): void {
  let borrow = 0;
  for (let w = WORDS - 1; w >= 0; w--) {
    let d = a[ai + w]! - b[bi + w]! - borrow;
    borrow = d < 0 ? 1 : 0;
    if (d < 0) d += TWO_POW_32;
    out[oi + w] = d;
  }
}

/** out = a + 1; false when a is the largest 128-bit value. */
function incrementWords(a: Uint32Array, ai: number, out: Uint32Array, oi: number): boolean {
  let carry = 1;
  for (let w = WORDS - 1; w >= 0; w--) {
    const sum = a[ai + w]! + carry;
    carry = sum === TWO_POW_32 ? 1 : 0;
    out[oi + w] = carry ? 0 : sum;
  }
  return carry === 0;
}

function copyWords(from: Uint32Array, fromAt: number, to: Uint32Array, toAt: number): void {
  to[toAt] = from[fromAt]!;
  to[toAt + 1] = from[fromAt + 1]!;
  to[toAt + 2] = from[fromAt + 2]!;
  to[toAt + 3] = from[fromAt + 3]!;
}

function wordsToBigInt(a: Uint32Array, ai: number): bigint {
  return (BigInt(a[ai]!) << 96n) | (BigInt(a[ai + 1]!) << 64n) | (BigInt(a[ai + 2]!) << 32n) | BigInt(a[ai + 3]!);
}

/** Clears (or sets) the low hostBits bits of a[ai..ai+3] in place. */
function maskHostBits(a: Uint32Array, ai: number, hostBits: number, setOnes: boolean): void {
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
function readEntry(
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
    let prefix = readPrefix(entry, slashAt + 1, length);
    if (prefix < 0) {
      const problem = `prefix "/${entry.slice(slashAt + 1)}" is not a decimal number without leading zeros`;
      throwRangeSyntax(entry, SYNTAX, problem, connectorId);
    }
    const writtenAsIPv6 = family === 6 || entry.lastIndexOf(':', slashAt) >= 0;
    const maxPrefix = writtenAsIPv6 ? 128 : 32;
    if (prefix > maxPrefix) {
      const problem = `prefix /${prefix} is out of range 0-${maxPrefix} for IPv${writtenAsIPv6 ? 6 : 4}`;
      throwRangeSyntax(entry, SYNTAX, problem, connectorId);
    }
    if (writtenAsIPv6 && family === 4) {
      // ::ffff:a.b.c.d/p is the IPv4 block /(p-96); shorter prefixes reach outside ::ffff:0:0/96.
      if (prefix < 96) {
        const problem = `IPv4-mapped block needs a prefix of /96 or longer, got /${prefix}`;
        throwRangeSyntax(entry, SYNTAX, problem, connectorId);
      }
      prefix -= 96;
    }
    const hostBits = (family === 4 ? 32 : 128) - prefix;
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
  const family = readEntry(entry, entryFirst, entryLast, entrySpan, 0);
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

const clientScratch = new Uint32Array(WORDS);

/**
 * Parses a client address as Node reports it (IPv4, IPv6, IPv4-mapped IPv6, optional %zone)
 * into out[0..3]; returns the family (4 for IPv4-mapped) or 0 if it is not an address.
 */
export function parseClientAddress(address: string, out: Uint32Array): 0 | AddressFamily {
  const v4 = readIPv4(address, 0, address.length);
  if (v4 >= 0) {
    out[0] = 0;
    out[1] = 0;
    out[2] = 0;
    out[3] = v4;
    return 4;
  }
  // A link-local peer may carry its zone (fe80::1%eth0); the zone plays no part in matching.
  const zoneAt = address.indexOf('%');
  return readIPv6(address, 0, zoneAt < 0 ? address.length : zoneAt, out, 0);
}

// ---------------------------------------------------------------------------------------------
// The index

interface FamilySegments {
  /** IPv4: one word per segment; IPv6: four words per segment. */
  starts: Uint32Array;
  /** Entry index owning each segment, or -1 for a gap. */
  owners: Int32Array;
}

export class ListenerRangeIndex {
  readonly #entryText: readonly string[];
  readonly #entryConnector: Int32Array;
  readonly #entrySpan: Uint32Array;
  readonly #connectorIds: readonly string[];
  readonly #v4: FamilySegments;
  readonly #v6: FamilySegments;
  // Results are made on first use and kept: a lookup then allocates nothing.
  readonly #matches = new Map<number, RangeMatch>();
  readonly #selections = new Map<number, ConnectorSelection>();
  /** Ids of the connectors loaded (not conflicted), in precedence order. */
  readonly connectorIds: readonly string[];
  /** Entries loaded, over all loaded connectors. */
  readonly entryCount: number;

  /** Use buildListenerIndex. */
  constructor(parts: {
    entryText: readonly string[];
    entryConnector: Int32Array;
    entrySpan: Uint32Array;
    connectorIds: readonly string[];
    loadedConnectorIds: readonly string[];
    loadedEntryCount: number;
    v4: FamilySegments;
    v6: FamilySegments;
  }) {
    this.#entryText = parts.entryText;
    this.#entryConnector = parts.entryConnector;
    this.#entrySpan = parts.entrySpan;
    this.#connectorIds = parts.connectorIds;
    this.#v4 = parts.v4;
    this.#v6 = parts.v6;
    this.connectorIds = parts.loadedConnectorIds;
    this.entryCount = parts.loadedEntryCount;
  }

  /** Elementary segments in the lookup arrays (both families, gaps included). */
  get segmentCount(): number {
    return this.#v4.owners.length + this.#v6.owners.length;
  }

  /** The connector for a client address, or null when no entry matches or it is not an address. */
  lookup(address: string): RangeMatch | null {
    const family = parseClientAddress(address, clientScratch);
    if (family === 0) return null;
    return this.lookupParsed(family, clientScratch);
  }

  /** lookup() for an address already parsed by parseClientAddress. */
  lookupParsed(family: AddressFamily, words: Uint32Array): RangeMatch | null {
    const entry = this.entryIndexOf(family, words);
    return entry < 0 ? null : this.#match(entry);
  }

  /** Index of the selected entry, or -1. */
  entryIndexOf(family: AddressFamily, words: Uint32Array): number {
    return family === 4 ? this.#findV4(words[3]!) : this.#findV6(words);
  }

  /** Result for selectConnector, cached per entry like lookup's. */
  selectionFor(entry: number): ConnectorSelection {
    let selection = this.#selections.get(entry);
    if (selection === undefined) {
      const match = this.#match(entry);
      selection = Object.freeze({ ok: true, connectorId: match.connectorId, entry: match.entry, size: match.size });
      this.#selections.set(entry, selection);
    }
    return selection;
  }

  #match(entry: number): RangeMatch {
    let match = this.#matches.get(entry);
    if (match === undefined) {
      match = Object.freeze({
        connectorId: this.#connectorIds[this.#entryConnector[entry]!]!,
        entry: this.#entryText[entry]!,
        size: wordsToBigInt(this.#entrySpan, entry * WORDS) + 1n,
      });
      this.#matches.set(entry, match);
    }
    return match;
  }

  #findV4(value: number): number {
    const { starts, owners } = this.#v4;
    if (starts.length === 0 || value < starts[0]!) return -1;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (starts[middle]! <= value) low = middle;
      else high = middle - 1;
    }
    return owners[low]!;
  }

  #findV6(words: Uint32Array): number {
    const { starts, owners } = this.#v6;
    if (owners.length === 0 || compareWords(starts, 0, words, 0) > 0) return -1;
    let low = 0;
    let high = owners.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (compareWords(starts, middle * WORDS, words, 0) <= 0) low = middle;
      else high = middle - 1;
    }
    return owners[low]!;
  }
}

const NO_MATCH: ConnectorSelection = Object.freeze({ ok: false, reason: 'noMatchingRange' });
const INVALID_ADDRESS: ConnectorSelection = Object.freeze({ ok: false, reason: 'invalidAddress' });

/** The connector for a client, or why there is none (a miss is a 554 5.7.1 refusal). */
export function selectConnector(index: ListenerRangeIndex, address: string): ConnectorSelection {
  const family = parseClientAddress(address, clientScratch);
  if (family === 0) return INVALID_ADDRESS;
  const entry = index.entryIndexOf(family, clientScratch);
  return entry < 0 ? NO_MATCH : index.selectionFor(entry);
}

// ---------------------------------------------------------------------------------------------
// Building

/**
 * Extreme (min or max) of a per-entry rank over entries inserted at positions 0..size-1, with
 * range queries; answers with the entry, so a conflict can name the other side.
 */
class RankExtremumTree {
  readonly #size: number;
  readonly #nodes: Int32Array;
  readonly #rank: Int32Array;
  readonly #wantMax: boolean;

  constructor(size: number, rank: Int32Array, wantMax: boolean) {
    this.#size = size;
    this.#nodes = new Int32Array(2 * size).fill(-1);
    this.#rank = rank;
    this.#wantMax = wantMax;
  }

  #better(a: number, b: number): number {
    if (a < 0) return b;
    if (b < 0) return a;
    const rank = this.#rank;
    if (this.#wantMax) return rank[a]! >= rank[b]! ? a : b;
    return rank[a]! <= rank[b]! ? a : b;
  }

  insert(position: number, entry: number): void {
    const nodes = this.#nodes;
    let node = position + this.#size;
    nodes[node] = this.#better(nodes[node]!, entry);
    for (node >>= 1; node >= 1; node >>= 1) {
      const best = this.#better(nodes[2 * node]!, nodes[2 * node + 1]!);
      if (nodes[node] === best) break;
      nodes[node] = best;
    }
  }

  /** Best entry among positions low..high inclusive, or -1. */
  query(low: number, high: number): number {
    const nodes = this.#nodes;
    let best = -1;
    let left = low + this.#size;
    let right = high + this.#size + 1;
    while (left < right) {
      if (left & 1) best = this.#better(best, nodes[left++]!);
      if (right & 1) best = this.#better(best, nodes[--right]!);
      left >>= 1;
      right >>= 1;
    }
    return best;
  }
}

/** Entries of one family with their endpoints ranked among all endpoints of that family. */
interface RankedFamily {
  entries: Int32Array;
  /** Distinct endpoint values in ascending order, four words each. */
  coordinates: Uint32Array;
  coordinateCount: number;
}

/**
 * Ranks the first and last addresses of `entries` (LSD radix sort on 16-bit digits, skipping
 * digits all keys share, so IPv4 costs two passes), filling firstRank/lastRank.
 */
function rankEndpoints(
  entries: Int32Array,
  first: Uint32Array,
  last: Uint32Array,
  firstRank: Int32Array,
  lastRank: Int32Array,
): RankedFamily {
  const keyCount = entries.length * 2;
  // key k is the first (k even) or last (k odd) address of entries[k >> 1]
  const keys = new Uint32Array(keyCount * WORDS);
  for (let i = 0; i < entries.length; i++) {
    const source = entries[i]! * WORDS;
    copyWords(first, source, keys, 2 * i * WORDS);
    copyWords(last, source, keys, (2 * i + 1) * WORDS);
  }
  let order = new Uint32Array(keyCount);
  let spare = new Uint32Array(keyCount);
  for (let k = 0; k < keyCount; k++) order[k] = k;
  // Bits in which some key differs from key 0: digits without any are already sorted.
  const differing = new Uint32Array(WORDS);
  for (let k = 1; k < keyCount; k++) {
    for (let w = 0; w < WORDS; w++) differing[w]! |= keys[k * WORDS + w]! ^ keys[w]!;
  }
  const counts = new Uint32Array(65536);
  for (let digit = 0; digit < 2 * WORDS; digit++) {
    const word = WORDS - 1 - (digit >> 1);
    const shift = (digit & 1) * 16;
    if (((differing[word]! >>> shift) & 0xffff) === 0) continue;
    counts.fill(0);
    for (let k = 0; k < keyCount; k++) counts[(keys[k * WORDS + word]! >>> shift) & 0xffff]!++;
    let position = 0;
    for (let d = 0; d < 65536; d++) {
      const count = counts[d]!;
      counts[d] = position;
      position += count;
    }
    for (let i = 0; i < keyCount; i++) {
      const k = order[i]!;
      spare[counts[(keys[k * WORDS + word]! >>> shift) & 0xffff]!++] = k;
    }
    [order, spare] = [spare, order];
  }
  const coordinates = new Uint32Array(keyCount * WORDS);
  let coordinateCount = 0;
  for (let i = 0; i < keyCount; i++) {
    const k = order[i]!;
    const at = k * WORDS;
    if (coordinateCount === 0 || compareWords(keys, at, coordinates, (coordinateCount - 1) * WORDS) !== 0) {
      copyWords(keys, at, coordinates, coordinateCount * WORDS);
      coordinateCount++;
    }
    const entry = entries[k >> 1]!;
    if (k & 1) lastRank[entry] = coordinateCount - 1;
    else firstRank[entry] = coordinateCount - 1;
  }
  return { entries, coordinates, coordinateCount };
}

/**
 * Groups entries of one family covering exactly the same addresses (whatever their notation),
 * by a two-pass counting sort on (firstRank, lastRank). Returns the number of groups used.
 */
function groupEqualRanges(
  family: RankedFamily,
  firstRank: Int32Array,
  lastRank: Int32Array,
  groupOf: Int32Array,
  nextGroup: number,
): number {
  const { entries, coordinateCount } = family;
  const byLast = countingSort(entries, lastRank, coordinateCount);
  const byBoth = countingSort(byLast, firstRank, coordinateCount);
  let group = nextGroup - 1;
  for (let i = 0; i < byBoth.length; i++) {
    const entry = byBoth[i]!;
    const previous = i > 0 ? byBoth[i - 1]! : -1;
    if (previous < 0 || firstRank[previous] !== firstRank[entry] || lastRank[previous] !== lastRank[entry]) group++;
    groupOf[entry] = group;
  }
  return group + 1;
}

/** Stable sort of `items` by key[item] in 0..keyRange-1. */
function countingSort(items: Int32Array, key: Int32Array, keyRange: number): Int32Array {
  const starts = new Int32Array(keyRange + 1);
  for (let i = 0; i < items.length; i++) starts[key[items[i]!]! + 1]!++;
  for (let k = 0; k < keyRange; k++) starts[k + 1]! += starts[k]!;
  const sorted = new Int32Array(items.length);
  for (let i = 0; i < items.length; i++) sorted[starts[key[items[i]!]!]!++] = items[i]!;
  return sorted;
}

/** Binary min-heap of entries ordered by span (size), then by entry index (precedence). */
class SmallestEntryHeap {
  readonly #items: Int32Array;
  readonly #span: Uint32Array;
  #length = 0;

  constructor(capacity: number, span: Uint32Array) {
    this.#items = new Int32Array(capacity);
    this.#span = span;
  }

  get top(): number {
    return this.#length === 0 ? -1 : this.#items[0]!;
  }

  #less(a: number, b: number): boolean {
    const order = compareWords(this.#span, a * WORDS, this.#span, b * WORDS);
    return order < 0 || (order === 0 && a < b);
  }

  push(entry: number): void {
    const items = this.#items;
    let i = this.#length++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(entry, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = entry;
  }

  pop(): void {
    const items = this.#items;
    const last = items[--this.#length]!;
    const length = this.#length;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= length) break;
      if (child + 1 < length && this.#less(items[child + 1]!, items[child]!)) child++;
      if (!this.#less(items[child]!, last)) break;
      items[i] = items[child]!;
      i = child;
    }
    if (length > 0) items[i] = last;
  }
}

/**
 * Elementary segments of one family: sweeps the ranked endpoints, keeping the loaded entries that
 * cover the sweep point in a heap whose top is the smallest. Entries leave the heap lazily, when
 * they surface at the top after their last address.
 */
function buildSegments(
  family: RankedFamily,
  loaded: Int32Array,
  firstRank: Int32Array,
  lastRank: Int32Array,
  span: Uint32Array,
  ipv4: boolean,
): FamilySegments {
  const { coordinates, coordinateCount } = family;
  const startingAt = countingSort(loaded, firstRank, coordinateCount);
  const heap = new SmallestEntryHeap(loaded.length, span);
  const capacity = 2 * loaded.length + 1;
  const starts = new Uint32Array(capacity * WORDS);
  const owners = new Int32Array(capacity);
  const afterLast = new Uint32Array(WORDS);
  let count = 0;

  const emit = (source: Uint32Array, at: number, owner: number): void => {
    // Both points of one step may open a segment at the same address; the later one holds.
    if (count > 0 && compareWords(starts, (count - 1) * WORDS, source, at) === 0) count--;
    if (count > 0 ? owners[count - 1] === owner : owner < 0) return;
    copyWords(source, at, starts, count * WORDS);
    owners[count++] = owner;
  };

  let next = 0;
  for (let rank = 0; rank < coordinateCount; rank++) {
    while (next < startingAt.length && firstRank[startingAt[next]!] === rank) heap.push(startingAt[next++]!);
    while (heap.top >= 0 && lastRank[heap.top]! < rank) heap.pop();
    emit(coordinates, rank * WORDS, heap.top);
    // Entries whose last address is this coordinate stop covering right after it.
    const owner = heap.top;
    while (heap.top >= 0 && lastRank[heap.top]! <= rank) heap.pop();
    if (heap.top !== owner && incrementWords(coordinates, rank * WORDS, afterLast, 0)) {
      // 255.255.255.255 + 1 carries into the IPv6-only words: nothing follows it.
      if (!ipv4 || afterLast[2] === 0) emit(afterLast, 0, heap.top);
    }
  }

  if (!ipv4) return { starts: starts.slice(0, count * WORDS), owners: owners.slice(0, count) };
  const v4Starts = new Uint32Array(count);
  for (let i = 0; i < count; i++) v4Starts[i] = starts[i * WORDS + 3]!;
  return { starts: v4Starts, owners: owners.slice(0, count) };
}

function precedence(a: ConnectorRanges, b: ConnectorRanges): number {
  const timeA = Date.parse(a.createdAt);
  const timeB = Date.parse(b.createdAt);
  const keyA = Number.isNaN(timeA) ? Infinity : timeA;
  const keyB = Number.isNaN(timeB) ? Infinity : timeB;
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Builds the index of one listener. Connectors are taken in precedence order (earliest
 * createdAt first, ties by id; the input is sorted here so its order does not matter). A
 * connector with an entry equal to, or partially overlapping, an entry of an earlier *loaded*
 * connector is reported in `conflicts` and left out entirely. Entries of one connector may
 * overlap each other freely. Throws RangeSyntaxError on an unparsable entry.
 */
export function buildListenerIndex(connectors: readonly ConnectorRanges[]): {
  index: ListenerRangeIndex;
  conflicts: RangeConflict[];
} {
  const ordered = [...connectors].sort(precedence);
  let entryCount = 0;
  for (const connector of ordered) entryCount += connector.ranges.length;

  // 1. Parse every entry; entry indices follow precedence, then list order.
  const first = new Uint32Array(entryCount * WORDS);
  const last = new Uint32Array(entryCount * WORDS);
  const span = new Uint32Array(entryCount * WORDS);
  const entryFamily = new Uint8Array(entryCount);
  const entryConnector = new Int32Array(entryCount);
  const entryText: string[] = [];
  const connectorStart = new Int32Array(ordered.length + 1);
  let v4Count = 0;
  let entry = 0;
  for (let c = 0; c < ordered.length; c++) {
    const connector = ordered[c]!;
    connectorStart[c] = entry;
    for (const text of connector.ranges) {
      const family = readEntry(text, first, last, span, entry * WORDS, connector.id);
      if (family === 4) v4Count++;
      entryFamily[entry] = family;
      entryConnector[entry] = c;
      entryText.push(text);
      entry++;
    }
  }
  connectorStart[ordered.length] = entry;

  // 2. Rank endpoints per family; group equal ranges.
  const v4Entries = new Int32Array(v4Count);
  const v6Entries = new Int32Array(entryCount - v4Count);
  for (let e = 0, i4 = 0, i6 = 0; e < entryCount; e++) {
    if (entryFamily[e] === 4) v4Entries[i4++] = e;
    else v6Entries[i6++] = e;
  }
  const firstRank = new Int32Array(entryCount);
  const lastRank = new Int32Array(entryCount);
  const families = [
    rankEndpoints(v4Entries, first, last, firstRank, lastRank),
    rankEndpoints(v6Entries, first, last, firstRank, lastRank),
  ] as const;
  const groupOf = new Int32Array(entryCount);
  const v4GroupCount = groupEqualRanges(families[0], firstRank, lastRank, groupOf, 0);
  const groupCount = groupEqualRanges(families[1], firstRank, lastRank, groupOf, v4GroupCount);
  const groupLoadedEntry = new Int32Array(groupCount).fill(-1);

  // 3. Conflicts, connector by connector, against the connectors already loaded.
  //    Partial overlap of entry e by a loaded f means f.first < e.first <= f.last < e.last
  //    (found as the smallest f.first among f.last in [e.first, e.last)) or the mirror case
  //    e.first < f.first <= e.last < f.last (largest f.last among f.first in (e.first, e.last]).
  const treeFor = (family: RankedFamily) => ({
    byLast: new RankExtremumTree(family.coordinateCount, firstRank, false),
    byFirst: new RankExtremumTree(family.coordinateCount, lastRank, true),
  });
  const trees = [treeFor(families[0]), treeFor(families[1])] as const;
  const conflicts: RangeConflict[] = [];
  const loadedConnectorIds: string[] = [];
  const isLoaded = new Uint8Array(entryCount);
  let loadedV4Count = 0;
  let loadedV6Count = 0;

  for (let c = 0; c < ordered.length; c++) {
    const begin = connectorStart[c]!;
    const end = connectorStart[c + 1]!;
    let conflict: RangeConflict | null = null;
    for (let e = begin; e < end && conflict === null; e++) {
      const tree = trees[entryFamily[e] === 4 ? 0 : 1];
      const low = firstRank[e]!;
      const high = lastRank[e]!;
      const equal = groupLoadedEntry[groupOf[e]!]!;
      if (equal >= 0) {
        conflict = describeConflict(ordered, entryConnector, entryText, e, equal, 'equalRange');
        continue;
      }
      const startsBefore = high > low ? tree.byLast.query(low, high - 1) : -1;
      if (startsBefore >= 0 && firstRank[startsBefore]! < low) {
        conflict = describeConflict(ordered, entryConnector, entryText, e, startsBefore, 'partialOverlap');
        continue;
      }
      const endsAfter = high > low ? tree.byFirst.query(low + 1, high) : -1;
      if (endsAfter >= 0 && lastRank[endsAfter]! > high) {
        conflict = describeConflict(ordered, entryConnector, entryText, e, endsAfter, 'partialOverlap');
      }
    }
    if (conflict !== null) {
      conflicts.push(conflict);
      continue;
    }
    loadedConnectorIds.push(ordered[c]!.id);
    for (let e = begin; e < end; e++) {
      const ipv4 = entryFamily[e] === 4;
      const tree = trees[ipv4 ? 0 : 1];
      tree.byLast.insert(lastRank[e]!, e);
      tree.byFirst.insert(firstRank[e]!, e);
      const group = groupOf[e]!;
      if (groupLoadedEntry[group]! < 0) groupLoadedEntry[group] = e;
      isLoaded[e] = 1;
      if (ipv4) loadedV4Count++;
      else loadedV6Count++;
    }
  }

  // 4. Segments of the loaded entries.
  const loadedV4 = new Int32Array(loadedV4Count);
  const loadedV6 = new Int32Array(loadedV6Count);
  for (let e = 0, i4 = 0, i6 = 0; e < entryCount; e++) {
    if (isLoaded[e] === 0) continue;
    if (entryFamily[e] === 4) loadedV4[i4++] = e;
    else loadedV6[i6++] = e;
  }
  const index = new ListenerRangeIndex({
    entryText,
    entryConnector,
    entrySpan: span,
    connectorIds: ordered.map((connector) => connector.id),
    loadedConnectorIds,
    loadedEntryCount: loadedV4.length + loadedV6.length,
    v4: buildSegments(families[0], loadedV4, firstRank, lastRank, span, true),
    v6: buildSegments(families[1], loadedV6, firstRank, lastRank, span, false),
  });
  return { index, conflicts };
}

function describeConflict(
  ordered: readonly ConnectorRanges[],
  entryConnector: Int32Array,
  entryText: readonly string[],
  entry: number,
  other: number,
  reason: RangeConflict['reason'],
): RangeConflict {
  const connectorId = ordered[entryConnector[entry]!]!.id;
  const conflictsWith = ordered[entryConnector[other]!]!.id;
  const text = entryText[entry]!;
  const otherText = entryText[other]!;
  const how = reason === 'equalRange'
    ? 'covers the same addresses as'
    : 'overlaps without containing or being contained in';
  return {
    connectorId,
    conflictsWith,
    entry: text,
    otherEntry: otherText,
    reason,
    message:
      `remoteIPRanges entry ${JSON.stringify(text)} ${how} entry ${JSON.stringify(otherText)} of the earlier ` +
      `connector ${JSON.stringify(conflictsWith)} on the same listener; this connector is not loaded`,
  };
}
