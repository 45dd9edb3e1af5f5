// Tests for the address codec: remoteIPRanges entries, client addresses, the CEL predicates,
// and text back from words, against ipaddr.js as the reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import {
  RangeSyntaxError,
  WORDS,
  addressBytes,
  addressFamily,
  canonicalAddress,
  formatAddress,
  isCIDR,
  isIP,
  parseClientAddress,
  parseRemoteIPRange,
  readAddressBytes,
} from './addresses.ts';
import type { ParsedRange, RangeRule } from './addresses.ts';
import { mulberry32 } from '../../test/support/seeded-random.ts';

const V4_ALL = 2n ** 32n;
const V6_ALL = 2n ** 128n;

test('valid entries parse to family, first, last and size', () => {
  const table: Array<{ entry: string; family: 4 | 6; first: bigint; last: bigint; size: bigint; form: ParsedRange['form'] }> = [
    { entry: '192.168.1.75', family: 4, first: 0xc0a8014bn, last: 0xc0a8014bn, size: 1n, form: 'address' },
    { entry: '0.0.0.0', family: 4, first: 0n, last: 0n, size: 1n, form: 'address' },
    { entry: '192.168.1.0-192.168.1.255', family: 4, first: 0xc0a80100n, last: 0xc0a801ffn, size: 256n, form: 'range' },
    { entry: '10.0.0.1-10.0.0.1', family: 4, first: 0x0a000001n, last: 0x0a000001n, size: 1n, form: 'range' },
    { entry: '0.0.0.0-255.255.255.255', family: 4, first: 0n, last: V4_ALL - 1n, size: V4_ALL, form: 'range' },
    { entry: '10.20.0.0/16', family: 4, first: 0x0a140000n, last: 0x0a14ffffn, size: 65536n, form: 'cidr' },
    { entry: '10.20.30.40/16', family: 4, first: 0x0a140000n, last: 0x0a14ffffn, size: 65536n, form: 'cidr' },
    { entry: '0.0.0.0/0', family: 4, first: 0n, last: V4_ALL - 1n, size: V4_ALL, form: 'cidr' },
    { entry: '1.2.3.4/32', family: 4, first: 0x01020304n, last: 0x01020304n, size: 1n, form: 'cidr' },
    { entry: '1.2.3.4/31', family: 4, first: 0x01020304n, last: 0x01020305n, size: 2n, form: 'cidr' },
    { entry: '2001:db8::1', family: 6, first: 0x20010db8n << 96n | 1n, last: 0x20010db8n << 96n | 1n, size: 1n, form: 'address' },
    { entry: '2001:DB8::/48', family: 6, first: 0x20010db8n << 96n, last: (0x20010db8n << 96n) | (2n ** 80n - 1n), size: 2n ** 80n, form: 'cidr' },
    { entry: '2001:db8::ff/120', family: 6, first: 0x20010db8n << 96n, last: (0x20010db8n << 96n) | 0xffn, size: 256n, form: 'cidr' },
    { entry: '::/0', family: 6, first: 0n, last: V6_ALL - 1n, size: V6_ALL, form: 'cidr' },
    { entry: '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 6, first: 0n, last: V6_ALL - 1n, size: V6_ALL, form: 'range' },
    { entry: '2001:db8::1-2001:db8::10', family: 6, first: 0x20010db8n << 96n | 1n, last: 0x20010db8n << 96n | 16n, size: 16n, form: 'range' },
    { entry: '::1', family: 6, first: 1n, last: 1n, size: 1n, form: 'address' },
    { entry: '::1.2.3.4', family: 6, first: 0x01020304n, last: 0x01020304n, size: 1n, form: 'address' },
    { entry: '64:ff9b::192.0.2.33', family: 6, first: (0x64ff9bn << 96n) | 0xc0000221n, last: (0x64ff9bn << 96n) | 0xc0000221n, size: 1n, form: 'address' },
  ];
  for (const row of table) {
    const parsed = parseRemoteIPRange(row.entry);
    assert.deepEqual(parsed, { entry: row.entry, form: row.form, family: row.family, first: row.first, last: row.last, size: row.size }, row.entry);
  }
});

test('invalid entries throw RangeSyntaxError naming the entry, the problem and the rule', () => {
  const table: Array<{ entry: string; rule: RangeRule; says: RegExp }> = [
    { entry: '10.0.0.5-10.0.0.1', rule: 'remoteIPRangeOrder', says: /range a-b must have a <= b/ },
    { entry: '2001:db8::10-2001:db8::1', rule: 'remoteIPRangeOrder', says: /a <= b/ },
    { entry: '10.0.0.1-2001:db8::1', rule: 'remoteIPRangeSyntax', says: /different families \(IPv4 and IPv6\)/ },
    { entry: '10.0.0.1-::1.2.3.4', rule: 'remoteIPRangeSyntax', says: /different families \(IPv4 and IPv6\)/ },
    { entry: '10.0.0.0/33', rule: 'remoteIPRangeSyntax', says: /prefix \/33 is out of range 0-32 for IPv4/ },
    { entry: '2001:db8::/129', rule: 'remoteIPRangeSyntax', says: /prefix \/129 is out of range 0-128 for IPv6/ },
    { entry: '10.0.0.0/', rule: 'remoteIPRangeSyntax', says: /prefix/ },
    { entry: '10.0.0.0/08', rule: 'remoteIPRangeSyntax', says: /leading zeros/ },
    { entry: '10.0.0.0/-1', rule: 'remoteIPRangeSyntax', says: /./ },
    { entry: '10.0.0.0/8/9', rule: 'remoteIPRangeSyntax', says: /prefix/ },
    // IPv4-mapped IPv6 is refused in every form, as CEL's isIP/isCIDR refuse it on the API server.
    { entry: '::ffff:192.168.1.100', rule: 'remoteIPRangeSyntax', says: /IPv4-mapped IPv6 address, which is not allowed: write the IPv4 address 192\.168\.1\.100/ },
    { entry: '::FFFF:c0a8:164', rule: 'remoteIPRangeSyntax', says: /IPv4-mapped/ },
    { entry: '0:0:0:0:0:ffff:c0a8:164', rule: 'remoteIPRangeSyntax', says: /IPv4-mapped/ },
    { entry: '::ffff:10.0.0.0/104', rule: 'remoteIPRangeSyntax', says: /IPv4-mapped/ },
    { entry: '::ffff:10.0.0.0/95', rule: 'remoteIPRangeSyntax', says: /IPv4-mapped/ },
    { entry: '::ffff:10.0.0.1-10.0.0.9', rule: 'remoteIPRangeSyntax', says: /IPv4-mapped/ },
    { entry: '10.0.0.1-::ffff:10.0.0.9', rule: 'remoteIPRangeSyntax', says: /IPv4-mapped/ },
    { entry: '::ffff:10.0.0.1-2001:db8::1', rule: 'remoteIPRangeSyntax', says: /IPv4-mapped/ },
    { entry: '10.0.0.0/8-10.1.0.0', rule: 'remoteIPRangeSyntax', says: /not CIDR blocks/ },
    { entry: '10.0.0.1-10.0.0.2-10.0.0.3', rule: 'remoteIPRangeSyntax', says: /exactly one "-"/ },
    { entry: '', rule: 'remoteIPRangeSyntax', says: /empty/ },
    { entry: 'garbage', rule: 'remoteIPRangeSyntax', says: /"garbage" is not an IPv4 or IPv6 address/ },
    { entry: 'mail.example.com', rule: 'remoteIPRangeSyntax', says: /not an IPv4 or IPv6 address/ },
    { entry: '256.1.1.1', rule: 'remoteIPRangeSyntax', says: /above 255/ },
    { entry: '1.2.3', rule: 'remoteIPRangeSyntax', says: /not an IPv4/ },
    { entry: '1.2.3.4.5', rule: 'remoteIPRangeSyntax', says: /not an IPv4/ },
    { entry: '010.0.0.1', rule: 'remoteIPRangeSyntax', says: /leading zero/ },
    { entry: '0x0a.0.0.1', rule: 'remoteIPRangeSyntax', says: /not an IPv4/ },
    { entry: '167772161', rule: 'remoteIPRangeSyntax', says: /not an IPv4/ },
    { entry: ' 10.0.0.1', rule: 'remoteIPRangeSyntax', says: /whitespace/ },
    { entry: '10.0.0.1 - 10.0.0.2', rule: 'remoteIPRangeSyntax', says: /whitespace/ },
    { entry: 'fe80::1%eth0', rule: 'remoteIPRangeSyntax', says: /zone ID/ },
    { entry: '2001:db8::1::2', rule: 'remoteIPRangeSyntax', says: /not an IPv4 or IPv6/ },
    { entry: '1:2:3:4:5:6:7:8:9', rule: 'remoteIPRangeSyntax', says: /not an IPv4 or IPv6/ },
    { entry: '1:2:3:4:5:6:7', rule: 'remoteIPRangeSyntax', says: /not an IPv4 or IPv6/ },
    { entry: '12345::1', rule: 'remoteIPRangeSyntax', says: /not an IPv4 or IPv6/ },
    { entry: ':1::2', rule: 'remoteIPRangeSyntax', says: /not an IPv4 or IPv6/ },
    { entry: '1::2:', rule: 'remoteIPRangeSyntax', says: /not an IPv4 or IPv6/ },
    { entry: '::ffff:1.2.3.256', rule: 'remoteIPRangeSyntax', says: /above 255/ },
    { entry: '1:2:3:4:5:6:7:1.2.3.4', rule: 'remoteIPRangeSyntax', says: /not an IPv4 or IPv6/ },
    { entry: '[2001:db8::1]', rule: 'remoteIPRangeSyntax', says: /not an IPv4 or IPv6/ },
  ];
  for (const row of table) {
    assert.throws(() => parseRemoteIPRange(row.entry), (error: unknown) => {
      assert.ok(error instanceof RangeSyntaxError, row.entry);
      assert.equal(error.code, 'RELAY_ERR_RANGE_SYNTAX');
      assert.equal(error.rule, row.rule, row.entry);
      assert.equal(error.entry, row.entry);
      assert.ok(error.message.startsWith(`remoteIPRanges entry ${JSON.stringify(row.entry)}: `), error.message);
      assert.ok(error.message.endsWith(`(rule ${row.rule})`), error.message);
      assert.match(error.message, row.says, row.entry);
      return true;
    });
  }
  assert.throws(() => parseRemoteIPRange('10.0.0.5-10.0.0.1'), {
    message: 'remoteIPRanges entry "10.0.0.5-10.0.0.1": range a-b must have a <= b (rule remoteIPRangeOrder)',
  });
});

test('the client address parser agrees with ipaddr.js', () => {
  const random = mulberry32(7);
  const words = new Uint32Array(4);
  for (let i = 0; i < 5000; i++) {
    const parts = Array.from({ length: 8 }, () => (random() < 0.4 ? 0 : Math.floor(random() * 65536)));
    if (i % 5 === 0) parts.splice(0, 6, 0, 0, 0, 0, 0, 0xffff);
    const address = new ipaddr.IPv6(parts);
    const expected = parts.reduce((value, part) => (value << 16n) | BigInt(part), 0n);
    const v4Tail = `${parts[6]! >> 8}.${parts[6]! & 255}.${parts[7]! >> 8}.${parts[7]! & 255}`;
    const mixed = `${parts.slice(0, 6).map((part) => part.toString(16)).join(':')}:${v4Tail}`;
    const forms = [address.toRFC5952String(), address.toNormalizedString(), parts.map((part) => part.toString(16).padStart(4, '0')).join(':'), mixed];
    if (address.isIPv4MappedAddress()) forms.push(`::ffff:${v4Tail}`, `::FFFF:${v4Tail}`);
    for (const text of forms) {
      const family = parseClientAddress(text, words);
      assert.notEqual(family, 0, text);
      const value = (BigInt(words[0]!) << 96n) | (BigInt(words[1]!) << 64n) | (BigInt(words[2]!) << 32n) | BigInt(words[3]!);
      const reference = ipaddr.process(text);
      if (address.isIPv4MappedAddress()) {
        assert.equal(family, 4, text);
        assert.equal(reference.kind(), 'ipv4');
        assert.equal(value, expected & 0xffffffffn, text);
      } else {
        assert.equal(family, 6, text);
        assert.equal(value, expected, text);
      }
    }
    const v4 = `${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`;
    assert.equal(parseClientAddress(v4, words), 4);
    assert.equal(words[3], ipaddr.IPv4.parse(v4).toByteArray().reduce((value, octet) => value * 256 + octet, 0), v4);
  }
});


test('isIP, isCIDR and addressFamily give the verdicts of CEL isIP/isCIDR (Go netip)', () => {
  for (const text of ['192.0.2.1', '0.0.0.0', '255.255.255.255']) assert.equal(addressFamily(text), 4, text);
  for (const text of ['::', '::1', '2001:db8::1', '2001:DB8:0:0:0:0:0:1', '::1.2.3.4', '64:ff9b::192.0.2.33', 'fe80::1']) assert.equal(addressFamily(text), 6, text);
  // IPv4-mapped IPv6 in every spelling, zones, leading zeros, short and numeric IPv4, brackets.
  const refused = ['::ffff:192.0.2.1', '::FFFF:192.0.2.1', '::ffff:c000:201', '0:0:0:0:0:ffff:c000:201', '0:0:0:0:0:ffff:192.0.2.1',
    'fe80::1%eth0', '010.0.0.1', '10.0.0', '167772161', '0x0a.0.0.1', '[::1]', '', ' 10.0.0.1', '1::2::3', '256.0.0.1'];
  for (const text of refused) {
    assert.equal(addressFamily(text), null, text);
    assert.equal(isIP(text), false, text);
  }
  for (const text of ['10.0.0.0/8', '10.20.30.40/16', '0.0.0.0/0', '1.2.3.4/32', '2001:db8::/32', '::/0', '::1/128']) assert.ok(isCIDR(text), text);
  for (const text of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/', '2001:db8::/129', '::ffff:10.0.0.0/104', 'fe80::%eth0/64', '10.0.0.0/8/9']) {
    assert.equal(isCIDR(text), false, text);
  }
});

test('canonicalAddress and formatAddress agree with ipaddr.js (RFC 5952, IPv4-mapped as IPv4)', () => {
  const random = mulberry32(11);
  const words = new Uint32Array(WORDS);
  for (let i = 0; i < 3000; i++) {
    const parts = Array.from({ length: 8 }, () => (random() < 0.5 ? 0 : Math.floor(random() * 65536)));
    if (i % 4 === 0) parts.splice(0, 6, 0, 0, 0, 0, 0, 0xffff);
    const address = new ipaddr.IPv6(parts);
    const expected = ipaddr.process(address.toNormalizedString()).toString();
    assert.equal(canonicalAddress(address.toNormalizedString()), expected);
    assert.equal(canonicalAddress(parts.map((part) => part.toString(16).padStart(4, '0')).join(':').toUpperCase()), expected);
    const bytes = Uint8Array.from(address.toByteArray());
    const family = readAddressBytes(bytes, 0, 16, words);
    assert.equal(formatAddress(family, words), expected);
    assert.deepEqual(addressBytes(family, words), ipaddr.process(expected).toByteArray());
  }
  assert.equal(canonicalAddress('192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalAddress('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalAddress('fe80::0:1%eth0'), 'fe80::1%eth0');
  for (const bad of ['', 'localhost', '192.0.2.256', '010.0.0.1', '1::2::3']) assert.equal(canonicalAddress(bad), null, bad);
  const v4 = Uint8Array.from([192, 0, 2, 1]);
  assert.equal(formatAddress(readAddressBytes(v4, 0, 4, words), words), '192.0.2.1');
});
