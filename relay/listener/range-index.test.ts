// Tests for the listener range index: entry syntax, most-specific selection, conflicts, and a
// randomized cross-check against a brute-force matcher that follows api.md word for word.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import { RangeSyntaxError, parseClientAddress, parseRemoteIPRange, type ParsedRange } from '../common/addresses.ts';
import { buildListenerIndex, compareConnectorPrecedence, type ConnectorRanges } from './range-index-build.ts';
import { selectConnector } from './range-index-lookup.ts';
import { mulberry32, v4Text } from '../../test/support/seeded-random.ts';

const V4_ALL = 2n ** 32n;
const V6_ALL = 2n ** 128n;

function connector(id: string, ranges: string[], day = 1): ConnectorRanges {
  return { id, createdAt: `2024-01-${String(day).padStart(2, '0')}T00:00:00Z`, ranges };
}

test('buildListenerIndex reports a bad entry with its connector', () => {
  assert.throws(
    () => buildListenerIndex([connector('mail/relay', ['10.0.0.1', '10.0.0.0/33'])]),
    (error: unknown) => error instanceof RangeSyntaxError && error.connectorId === 'mail/relay' &&
      error.message === 'remoteIPRanges entry "10.0.0.0/33" of connector "mail/relay": prefix /33 is out of range 0-32 for IPv4 (rule remoteIPRangeSyntax)',
  );
});

test('the most specific entry wins (Exchange documentation example)', () => {
  const { index, conflicts } = buildListenerIndex([
    connector('default', ['0.0.0.0-255.255.255.255'], 1),
    connector('A', ['192.168.1.0-192.168.1.255'], 2),
    connector('B', ['192.168.1.75'], 3),
  ]);
  assert.deepEqual(conflicts, []);
  assert.deepEqual(index.lookup('192.168.1.75'), { connectorId: 'B', entry: '192.168.1.75', size: 1n });
  assert.deepEqual(index.lookup('192.168.1.100'), { connectorId: 'A', entry: '192.168.1.0-192.168.1.255', size: 256n });
  assert.deepEqual(index.lookup('10.1.1.1'), { connectorId: 'default', entry: '0.0.0.0-255.255.255.255', size: V4_ALL });
  assert.equal(index.lookup('0.0.0.0')?.connectorId, 'default');
  assert.equal(index.lookup('255.255.255.255')?.connectorId, 'default');
  // Precedence does not decide specificity: the same connectors created in reverse order.
  const reversed = buildListenerIndex([
    connector('B', ['192.168.1.75'], 1),
    connector('A', ['192.168.1.0/24'], 2),
    connector('default', ['0.0.0.0/0'], 3),
  ]);
  assert.deepEqual(reversed.conflicts, []);
  assert.equal(reversed.index.lookup('192.168.1.75')?.connectorId, 'B');
  assert.equal(reversed.index.lookup('192.168.1.74')?.connectorId, 'A');
  assert.equal(reversed.index.lookup('192.168.2.0')?.connectorId, 'default');
});

test('a-b includes both ends', () => {
  const { index } = buildListenerIndex([connector('r', ['10.0.0.10-10.0.0.20', '2001:db8::a-2001:db8::14'])]);
  assert.equal(index.lookup('10.0.0.9'), null);
  assert.equal(index.lookup('10.0.0.10')?.size, 11n);
  assert.equal(index.lookup('10.0.0.20')?.size, 11n);
  assert.equal(index.lookup('10.0.0.21'), null);
  assert.equal(index.lookup('2001:db8::9'), null);
  assert.equal(index.lookup('2001:db8::a')?.connectorId, 'r');
  assert.equal(index.lookup('2001:db8::14')?.connectorId, 'r');
  assert.equal(index.lookup('2001:db8::15'), null);
});

test('IPv6 selection and family separation', () => {
  const { index, conflicts } = buildListenerIndex([
    connector('any6', ['::/0'], 1),
    connector('site', ['2001:db8::/32'], 2),
    connector('host', ['2001:db8:0:1::25'], 3),
    connector('top', ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124'], 4),
  ]);
  assert.deepEqual(conflicts, []);
  assert.equal(index.lookup('2001:db8:0:1::25')?.connectorId, 'host');
  assert.equal(index.lookup('2001:DB8:0:1:0:0:0:25')?.connectorId, 'host');
  assert.equal(index.lookup('2001:db8:ffff::1')?.connectorId, 'site');
  assert.equal(index.lookup('2001:db9::1')?.connectorId, 'any6');
  assert.equal(index.lookup('::')?.connectorId, 'any6');
  assert.equal(index.lookup('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')?.connectorId, 'top');
  assert.equal(index.lookup('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffef')?.connectorId, 'any6');
  // ::/0 is IPv6 only: IPv4 and IPv4-mapped clients do not match it.
  assert.equal(index.lookup('192.0.2.1'), null);
  assert.equal(index.lookup('::ffff:192.0.2.1'), null);
  // A zone ID on a link-local peer is ignored.
  assert.equal(index.lookup('fe80::1%eth0')?.connectorId, 'any6');
});

test('IPv4-mapped clients match IPv4 entries; mapped entries are refused', () => {
  const { index } = buildListenerIndex([
    connector('lan', ['192.168.1.0/24'], 1),
    connector('printer', ['192.168.1.100'], 2),
  ]);
  assert.equal(index.lookup('::ffff:192.168.1.100')?.connectorId, 'printer');
  assert.equal(index.lookup('192.168.1.100')?.connectorId, 'printer');
  assert.equal(index.lookup('::FFFF:192.168.1.7')?.connectorId, 'lan');
  assert.equal(index.lookup('::ffff:c0a8:107')?.connectorId, 'lan');
  assert.equal(index.lookup('0:0:0:0:0:ffff:192.168.1.7')?.connectorId, 'lan');
  assert.equal(index.lookup('::ffff:192.168.2.7'), null);
  // An entry is written the way CEL's isIP takes it: IPv4 as IPv4 (relay/common/addresses.ts).
  assert.throws(() => buildListenerIndex([connector('printer', ['::ffff:192.168.1.100'])]), (error: unknown) =>
    error instanceof RangeSyntaxError && /IPv4-mapped IPv6 address, which is not allowed: write the IPv4 address 192\.168\.1\.100/.test(error.message));
});

test('selectConnector tells a miss from an invalid address', () => {
  const { index } = buildListenerIndex([connector('lan', ['192.168.1.0/24'])]);
  assert.deepEqual(selectConnector(index, '192.168.1.9'), { ok: true, connectorId: 'lan', entry: '192.168.1.0/24', size: 256n });
  assert.deepEqual(selectConnector(index, '10.0.0.1'), { ok: false, reason: 'noMatchingRange' });
  assert.deepEqual(selectConnector(index, '2001:db8::1'), { ok: false, reason: 'noMatchingRange' });
  for (const bad of ['', 'localhost', '192.168.1.256', '192.168.01.9', '1::2::3']) {
    assert.deepEqual(selectConnector(index, bad), { ok: false, reason: 'invalidAddress' }, bad);
    assert.equal(index.lookup(bad), null);
  }
  const words = new Uint32Array(4);
  assert.equal(parseClientAddress('::ffff:192.168.1.9', words), 4);
  assert.equal(index.lookupParsed(4, words), index.lookup('192.168.1.9'));
  // Results are cached: repeated lookups return the same frozen object.
  assert.equal(index.lookup('192.168.1.9'), index.lookup('192.168.1.10'));
  assert.ok(Object.isFrozen(index.lookup('192.168.1.9')));
  const empty = buildListenerIndex([]).index;
  assert.deepEqual(selectConnector(empty, '192.168.1.9'), { ok: false, reason: 'noMatchingRange' });
  assert.equal(empty.lookup('::1'), null);
});

test('equal entries conflict, whatever their notation; the earlier connector keeps working', () => {
  const { index, conflicts } = buildListenerIndex([
    connector('mail/later', ['172.16.0.1', '10.0.0.0-10.0.0.255'], 2),
    connector('mail/earlier', ['10.0.0.0/24'], 1),
  ]);
  assert.equal(conflicts.length, 1);
  const [conflict] = conflicts;
  assert.deepEqual({ ...conflict, message: undefined }, {
    connectorId: 'mail/later',
    conflictsWith: 'mail/earlier',
    entry: '10.0.0.0-10.0.0.255',
    otherEntry: '10.0.0.0/24',
    reason: 'equalRange',
    message: undefined,
  });
  assert.match(conflict!.message, /"10\.0\.0\.0-10\.0\.0\.255" covers the same addresses as entry "10\.0\.0\.0\/24" of the earlier connector "mail\/earlier"/);
  assert.equal(index.lookup('10.0.0.7')?.connectorId, 'mail/earlier');
  // Excluded entirely: its other entries do not load either.
  assert.equal(index.lookup('172.16.0.1'), null);
  assert.deepEqual(index.connectorIds, ['mail/earlier']);
  assert.equal(index.entryCount, 1);
});

test('partially overlapping entries conflict; ties in createdAt are broken by id', () => {
  const { index, conflicts } = buildListenerIndex([
    connector('b', ['10.0.0.128-10.0.1.127', '2001:db8::/64'], 1),
    connector('a', ['10.0.0.0/24'], 1),
  ]);
  assert.deepEqual(conflicts.map((c) => [c.connectorId, c.conflictsWith, c.entry, c.otherEntry, c.reason]), [
    ['b', 'a', '10.0.0.128-10.0.1.127', '10.0.0.0/24', 'partialOverlap'],
  ]);
  assert.equal(index.lookup('10.0.0.200')?.connectorId, 'a');
  assert.equal(index.lookup('10.0.1.0'), null);
  assert.equal(index.lookup('2001:db8::1'), null);

  const v6 = buildListenerIndex([
    connector('first', ['2001:db8::/64'], 1),
    connector('second', ['2001:db8::8000:0:0:0-2001:db8:0:1::ffff'], 2),
  ]);
  assert.equal(v6.conflicts[0]?.reason, 'partialOverlap');
  assert.equal(v6.index.lookup('2001:db8::1')?.connectorId, 'first');
});

test('touching ranges do not conflict; nested ones do not either', () => {
  const { index, conflicts } = buildListenerIndex([
    connector('low', ['10.0.0.0-10.0.0.9'], 1),
    connector('high', ['10.0.0.10-10.0.0.19'], 2),
    connector('around', ['10.0.0.0/27'], 3),
    connector('inside', ['10.0.0.5'], 4),
  ]);
  assert.deepEqual(conflicts, []);
  assert.equal(index.lookup('10.0.0.9')?.connectorId, 'low');
  assert.equal(index.lookup('10.0.0.10')?.connectorId, 'high');
  assert.equal(index.lookup('10.0.0.20')?.connectorId, 'around');
  assert.equal(index.lookup('10.0.0.5')?.connectorId, 'inside');
  // Touching entries give one segment each plus the gap after them, nothing duplicated.
  const touching = buildListenerIndex([connector('low', ['10.0.0.0-10.0.0.9'], 1), connector('high', ['10.0.0.10/31'], 2)]);
  assert.equal(touching.index.segmentCount, 3);
  assert.equal(touching.index.lookup('10.0.0.12'), null);
});

test('only loaded connectors cause conflicts', () => {
  const { index, conflicts } = buildListenerIndex([
    connector('a', ['10.0.0.0/24'], 1),
    connector('b', ['10.0.0.128-10.0.1.127'], 2),
    connector('c', ['10.0.1.0/24'], 3),
  ]);
  assert.deepEqual(conflicts.map((c) => c.connectorId), ['b']);
  assert.equal(index.lookup('10.0.1.200')?.connectorId, 'c');
});

test('entries of one connector overlap freely; its smallest matching entry counts', () => {
  const { index, conflicts } = buildListenerIndex([
    connector('wide', ['10.0.0.0/8', '10.1.2.3', '10.0.0.0-10.0.0.10', '10.0.0.5-10.0.0.20', '10.0.0.0/8'], 1),
    connector('mid', ['10.1.0.0/16'], 2),
    connector('narrow', ['10.0.0.7-10.0.0.8'], 3),
  ]);
  assert.deepEqual(conflicts, []);
  assert.deepEqual(index.lookup('10.1.2.3'), { connectorId: 'wide', entry: '10.1.2.3', size: 1n });
  assert.deepEqual(index.lookup('10.1.2.4'), { connectorId: 'mid', entry: '10.1.0.0/16', size: 65536n });
  assert.deepEqual(index.lookup('10.2.0.0'), { connectorId: 'wide', entry: '10.0.0.0/8', size: 2n ** 24n });
  assert.deepEqual(index.lookup('10.0.0.3'), { connectorId: 'wide', entry: '10.0.0.0-10.0.0.10', size: 11n });
  assert.deepEqual(index.lookup('10.0.0.7'), { connectorId: 'narrow', entry: '10.0.0.7-10.0.0.8', size: 2n });
  assert.deepEqual(index.lookup('10.0.0.15'), { connectorId: 'wide', entry: '10.0.0.5-10.0.0.20', size: 16n });
  // Another connector that partially overlaps one of those entries conflicts, even if it is
  // inside their union: at 10.0.0.5 it would tie in size with "10.0.0.0-10.0.0.10".
  const tie = buildListenerIndex([
    connector('wide', ['10.0.0.0-10.0.0.10', '10.0.0.5-10.0.0.20'], 1),
    connector('late', ['10.0.0.5-10.0.0.15'], 2),
  ]);
  assert.deepEqual(tie.conflicts.map((c) => [c.entry, c.otherEntry]), [['10.0.0.5-10.0.0.15', '10.0.0.0-10.0.0.10']]);
});

// ---------------------------------------------------------------------------------------------
// Randomized cross-check against a brute-force matcher

interface Reference {
  lookup(address: string): { connectorId: string; entry: string; size: bigint } | null;
  loaded: string[];
  conflicted: Map<string, string>;
  isConflict(a: ParsedRange, b: ParsedRange): boolean;
  entriesOf: Map<string, ParsedRange[]>;
}

/** api.md "Connector selection", literally: quadratic, obviously right. */
function bruteForce(connectors: ConnectorRanges[]): Reference {
  const ordered = [...connectors].sort((a, b) =>
    a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  // The one precedence (render and the index) agrees with the literal reading for RFC 3339 times.
  assert.deepEqual([...connectors].sort(compareConnectorPrecedence).map((c) => c.id), ordered.map((c) => c.id));
  const isConflict = (a: ParsedRange, b: ParsedRange): boolean => {
    if (a.family !== b.family || a.last < b.first || b.last < a.first) return false;
    const aContainsB = a.first <= b.first && b.last <= a.last;
    const bContainsA = b.first <= a.first && a.last <= b.last;
    return aContainsB === bContainsA; // equal (both) or partial (neither)
  };
  const loaded: Array<{ id: string; entries: ParsedRange[] }> = [];
  const conflicted = new Map<string, string>();
  const entriesOf = new Map<string, ParsedRange[]>();
  for (const c of ordered) {
    const entries = c.ranges.map(parseRemoteIPRange);
    entriesOf.set(c.id, entries);
    const bad = entries.find((e) => loaded.some((l) => l.entries.some((f) => isConflict(e, f))));
    if (bad) conflicted.set(c.id, bad.entry);
    else loaded.push({ id: c.id, entries });
  }
  return {
    loaded: loaded.map((l) => l.id),
    conflicted,
    isConflict,
    entriesOf,
    lookup(address) {
      let parsed: ipaddr.IPv4 | ipaddr.IPv6;
      try {
        parsed = ipaddr.process(address);
      } catch {
        return null;
      }
      const family = parsed.kind() === 'ipv4' ? 4 : 6;
      const value = parsed.toByteArray().reduce((v, byte) => (v << 8n) | BigInt(byte), 0n);
      let best: { connectorId: string; entry: string; size: bigint } | null = null;
      for (const l of loaded) {
        for (const f of l.entries) {
          if (f.family === family && f.first <= value && value <= f.last && (best === null || f.size < best.size)) {
            best = { connectorId: l.id, entry: f.entry, size: f.size };
          }
        }
      }
      return best;
    },
  };
}

function bigintToV6(value: bigint): string {
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  return groups.join(':');
}

function v6Text(value: number): string {
  // Inside 2001:db8::/96, so the low 32 bits vary.
  return `2001:db8::${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`;
}

/** Random entries in a universe of `bits` bits at 10.0.0.0 (IPv4) and 2001:db8:: (IPv6). */
function randomEntry(random: () => number, bits: number, rangeShare: number, sizeSkew: number): string {
  const ipv6 = random() < 0.3;
  const base = ipv6 ? 0 : 0x0a000000;
  const universe = 2 ** bits;
  const text = (value: number) => (ipv6 ? v6Text(value) : v4Text(base + value));
  const kind = random();
  if (kind < rangeShare) {
    const start = Math.floor(random() * universe);
    const end = Math.min(universe - 1, start + Math.floor(random() ** (sizeSkew + 1) * universe / 4));
    return `${text(start)}-${text(end)}`;
  }
  if (kind < rangeShare + 0.25) {
    const value = Math.floor(random() * universe);
    return text(value);
  }
  const hostBits = Math.floor(random() ** sizeSkew * (bits + 1));
  const value = Math.floor(random() * universe);
  const prefix = (ipv6 ? 128 : 32) - hostBits;
  return `${text(value)}/${prefix}`;
}

function crossCheck(
  seed: number, connectorCount: number, maxEntries: number, bits: number, rangeShare: number, sizeSkew = 2,
): number {
  const random = mulberry32(seed);
  const connectors: ConnectorRanges[] = [];
  for (let c = 0; c < connectorCount; c++) {
    const ranges = Array.from({ length: 1 + Math.floor(random() * maxEntries) }, () => randomEntry(random, bits, rangeShare, sizeSkew));
    connectors.push(connector(`c${String(c).padStart(3, '0')}`, ranges, 1 + Math.floor(random() * 28)));
  }
  const reference = bruteForce(connectors);
  const { index, conflicts } = buildListenerIndex(connectors);
  const context = `seed ${seed}`;
  assert.deepEqual(index.connectorIds, reference.loaded, context);
  assert.deepEqual(new Map(conflicts.map((c) => [c.connectorId, c.entry])), reference.conflicted, context);
  for (const conflict of conflicts) {
    // The other side must be a loaded connector and a genuine conflict.
    assert.ok(reference.loaded.includes(conflict.conflictsWith), context);
    const mine = parseRemoteIPRange(conflict.entry);
    const other = reference.entriesOf.get(conflict.conflictsWith)!.find((e) => e.entry === conflict.otherEntry)!;
    assert.ok(reference.isConflict(mine, other), `${context}: ${conflict.message}`);
    const equal = mine.first === other.first && mine.last === other.last;
    assert.equal(conflict.reason, equal ? 'equalRange' : 'partialOverlap', context);
  }
  const universe = 2 ** bits;
  for (let i = 0; i < 3000; i++) {
    const value = Math.floor(random() * (universe + 64)) - 32;
    const pick = random();
    let address: string;
    if (pick < 0.45) address = v4Text((0x0a000000 + value) >>> 0);
    else if (pick < 0.6) address = `::ffff:${v4Text((0x0a000000 + value) >>> 0)}`;
    else address = v6Text(value >>> 0);
    assert.deepEqual(index.lookup(address), reference.lookup(address), `${context}: ${address}`);
  }
  // Every boundary: one before, first, last, one after each entry.
  for (const entries of reference.entriesOf.values()) {
    for (const entry of entries) {
      const top = entry.family === 4 ? V4_ALL : V6_ALL;
      for (const value of [entry.first - 1n, entry.first, entry.last, entry.last + 1n]) {
        if (value < 0n || value >= top) continue;
        const address = entry.family === 4 ? v4Text(Number(value)) : bigintToV6(value);
        assert.deepEqual(index.lookup(address), reference.lookup(address), `${context}: ${address}`);
      }
    }
  }
  return index.connectorIds.length;
}

test('randomized: matches a brute-force matcher (dense universe, many conflicts)', () => {
  for (let seed = 1; seed <= 8; seed++) {
    const loaded = crossCheck(seed, 40, 8, 10, 0.15);
    assert.ok(loaded >= 10, `seed ${seed} loaded ${loaded}`);
  }
});

test('randomized: matches a brute-force matcher (a few thousand entries, CIDR-heavy)', () => {
  for (let seed = 100; seed <= 103; seed++) {
    const loaded = crossCheck(seed, 30, 200, 24, 0.02, 6);
    assert.ok(loaded >= 5, `seed ${seed} loaded ${loaded}`);
  }
});

test('randomized: one connector with heavily overlapping entries', () => {
  for (let seed = 200; seed <= 205; seed++) crossCheck(seed, 1, 3000, 12, 0.5);
});

test('100,000 entries from two connectors load into one index and resolve correctly', () => {
  const ranges: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    const base = 0x0a000000 + i * 16;
    ranges.push(i % 3 === 0 ? v4Text(base) : i % 3 === 1 ? `${v4Text(base)}-${v4Text(base + 7)}` : `${v4Text(base)}/28`);
  }
  const connectors = [connector('a', ranges.filter((_, i) => i % 2 === 0), 1), connector('b', ranges.filter((_, i) => i % 2 === 1), 2)];
  // Load time is a benchmark figure (bench/range-matcher.ts, docs/benchmarks.md), not a test.
  const { index, conflicts } = buildListenerIndex(connectors);
  assert.deepEqual(conflicts, []);
  assert.equal(index.entryCount, 100_000);
  assert.equal(index.lookup(v4Text(0x0a000000 + 16 * 5 + 3))?.connectorId, 'b');
  assert.equal(index.lookup(v4Text(0x0a000000 + 16 * 5 + 15))?.connectorId, 'b');
  assert.equal(index.lookup(v4Text(0x0a000000 + 16 * 4 + 7))?.connectorId, 'a');
  assert.equal(index.lookup(v4Text(0x0a000000 + 16 * 4 + 8)), null);
});
