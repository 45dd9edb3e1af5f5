// Tests for the PROXY protocol reader: the pure parser on v1/v2 headers and rejections, seeded
// fuzzing of its incremental contract, and readProxyHeader over real loopback sockets (headers
// split at every byte, bytes after the header returned in `rest`, timeouts, hang-ups).
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import ipaddr from 'ipaddr.js';
import {
  DEFAULT_PROXY_TIMEOUT_MS,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_MAX_LENGTH,
  parseProxyHeader,
  readProxyHeader,
} from './proxy-protocol.ts';
import type { ProxyHeader, ProxyHeaderResult, ProxyParseFailure, ProxyParseResult } from './proxy-protocol.ts';
import { mulberry32 } from '../../test/support/seeded-random.ts';

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const EHLO = Buffer.from('EHLO x\r\n', 'latin1');

const PARSE_FAILURES: ReadonlySet<string> = new Set<ProxyParseFailure>([
  'invalidSignature',
  'headerTooLong',
  'malformedHeader',
  'unsupportedFamily',
  'unsupportedTransport',
  'unsupportedVersion',
  'unsupportedCommand',
  'invalidLength',
  'invalidAddress',
  'invalidPort',
]);

function ascii(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

function addressBytes(address: string): number[] {
  return ipaddr.parse(address).toByteArray();
}

function port16(port: number): number[] {
  return [port >> 8, port & 0xff];
}

/** Address block of a v2 header: src, dst, sport, dport. */
function v2Addresses(src: string, dst: string, sport: number, dport: number): Buffer {
  return Buffer.from([...addressBytes(src), ...addressBytes(dst), ...port16(sport), ...port16(dport)]);
}

function tlv(type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, ...port16(value.length)]), value]);
}

/** A v2 header; `length` overrides the computed length field. */
function v2(versionCommand: number, family: number, body: Buffer = Buffer.alloc(0), length = body.length): Buffer {
  return Buffer.concat([SIGNATURE, Buffer.from([versionCommand, family, ...port16(length)]), body]);
}

function done(header: ProxyHeader, consumed: number): ProxyParseResult {
  return { state: 'done', header, consumed };
}

function endpoints(src: string, sport: number, dst: string, dport: number): Pick<ProxyHeader, 'source' | 'destination'> {
  return { source: { address: src, port: sport }, destination: { address: dst, port: dport } };
}

// ---------------------------------------------------------------------------------------------
// Parser: accepted headers

test('v1 TCP4 header parses to endpoints and consumes exactly the line', () => {
  const line = 'PROXY TCP4 192.0.2.10 198.51.100.2 51234 25\r\n';
  assert.deepEqual(
    parseProxyHeader(ascii(line)),
    done({ version: 1, command: 'PROXY', ...endpoints('192.0.2.10', 51234, '198.51.100.2', 25) }, line.length),
  );
  const edge = 'PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n';
  assert.deepEqual(
    parseProxyHeader(Buffer.concat([ascii(edge), EHLO])),
    done({ version: 1, command: 'PROXY', ...endpoints('0.0.0.0', 0, '255.255.255.255', 65535) }, edge.length),
  );
});

test('v1 TCP6 header: addresses in RFC 5952 form, IPv4-mapped ones as plain IPv4', () => {
  const table: Array<[string, string, string]> = [
    ['2001:db8::1', '2001:db8::2', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '::', '2001:db8::1:0:0:1'],
    ['::ffff:192.0.2.7', '::ffff:198.51.100.2', '192.0.2.7'],
    ['::FFFF:c000:0207', '::1', '192.0.2.7'],
    ['0:0:0:0:0:ffff:192.0.2.7', '::1', '192.0.2.7'],
    ['::192.0.2.7', '::1', '::c000:207'],
    ['fe80::1:2:3:4', '::1', 'fe80::1:2:3:4'],
  ];
  for (const [src, dst, expected] of table) {
    const line = `PROXY TCP6 ${src} ${dst} 40000 587\r\n`;
    const result = parseProxyHeader(ascii(line));
    assert.equal(result.state, 'done', line);
    assert.ok(result.state === 'done');
    assert.equal(result.consumed, line.length);
    assert.equal(result.header.source?.address, expected, line);
    assert.equal(result.header.source?.port, 40000);
    assert.equal(result.header.destination?.port, 587);
  }
  const mapped = 'PROXY TCP6 ::ffff:10.0.0.1 ::ffff:10.0.0.2 1 2\r\n';
  assert.deepEqual(parseProxyHeader(ascii(mapped)), done({ version: 1, command: 'PROXY', ...endpoints('10.0.0.1', 1, '10.0.0.2', 2) }, mapped.length));
});

test('v1 UNKNOWN has no endpoints and the rest of its line is ignored', () => {
  for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff:: ffff:: 1 2\r\n', 'PROXY UNKNOWN whatever the proxy says\r\n']) {
    assert.deepEqual(parseProxyHeader(Buffer.concat([ascii(line), EHLO])), done({ version: 1, command: 'PROXY' }, line.length));
  }
});

test('v2 PROXY over IPv4 (TCP)', () => {
  const header = v2(0x21, 0x11, v2Addresses('192.0.2.10', '198.51.100.2', 51234, 25));
  assert.equal(header.length, 28);
  assert.deepEqual(
    parseProxyHeader(Buffer.concat([header, EHLO])),
    done({ version: 2, command: 'PROXY', ...endpoints('192.0.2.10', 51234, '198.51.100.2', 25) }, 28),
  );
});

test('v2 PROXY over IPv6, with IPv4-mapped addresses returned as IPv4', () => {
  const header = v2(0x21, 0x21, v2Addresses('2001:db8::a', '2001:db8:0:0:1::', 65535, 0));
  assert.equal(header.length, 52);
  assert.deepEqual(
    parseProxyHeader(header),
    done({ version: 2, command: 'PROXY', ...endpoints('2001:db8::a', 65535, '2001:db8:0:0:1::', 0) }, 52),
  );
  const mapped = v2(0x21, 0x21, v2Addresses('::ffff:203.0.113.9', '::ffff:10.1.2.3', 1025, 25));
  assert.deepEqual(
    parseProxyHeader(mapped),
    done({ version: 2, command: 'PROXY', ...endpoints('203.0.113.9', 1025, '10.1.2.3', 25) }, 52),
  );
});

test('v2 LOCAL ignores the family and the address block', () => {
  assert.deepEqual(parseProxyHeader(v2(0x20, 0x00)), done({ version: 2, command: 'LOCAL' }, 16));
  // Whatever family byte and body a health check carries, LOCAL means "use the socket's endpoints".
  const withBody = v2(0x20, 0x31, Buffer.alloc(216, 0x41));
  assert.deepEqual(parseProxyHeader(Buffer.concat([withBody, EHLO])), done({ version: 2, command: 'LOCAL' }, 232));
  assert.deepEqual(parseProxyHeader(v2(0x20, 0x11, Buffer.alloc(3))), done({ version: 2, command: 'LOCAL' }, 19));
});

test('v2 PROXY with AF_UNSPEC has no endpoints', () => {
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x00)), done({ version: 2, command: 'PROXY' }, 16));
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x00, Buffer.from([1, 2, 3]))), done({ version: 2, command: 'PROXY' }, 19));
});

test('v2 TLVs after the addresses are skipped and counted in consumed', () => {
  const tlvs = Buffer.concat([
    tlv(0x01, ascii('smtp')), // ALPN
    tlv(0x02, ascii('mail.example.com')), // authority
    tlv(0x04, Buffer.alloc(0)), // NOOP
    tlv(0x20, Buffer.from([0x07, 0, 0, 0, 0, ...tlv(0x21, ascii('TLSv1.3'))])), // SSL with a sub-TLV
    tlv(0xea, Buffer.alloc(40, 0xff)), // AWS VPC endpoint id style, custom type
  ]);
  const v4 = v2(0x21, 0x11, Buffer.concat([v2Addresses('192.0.2.1', '192.0.2.2', 1000, 25), tlvs]));
  assert.deepEqual(
    parseProxyHeader(Buffer.concat([v4, EHLO])),
    done({ version: 2, command: 'PROXY', ...endpoints('192.0.2.1', 1000, '192.0.2.2', 25) }, v4.length),
  );
  const v6 = v2(0x21, 0x21, Buffer.concat([v2Addresses('2001:db8::1', '2001:db8::2', 1000, 25), tlvs]));
  assert.deepEqual(
    parseProxyHeader(v6),
    done({ version: 2, command: 'PROXY', ...endpoints('2001:db8::1', 1000, '2001:db8::2', 25) }, v6.length),
  );
  // The largest header the cap allows is still accepted.
  const biggest = v2(0x21, 0x11, Buffer.concat([v2Addresses('192.0.2.1', '192.0.2.2', 1, 2), Buffer.alloc(PROXY_V2_MAX_LENGTH - 28)]));
  assert.equal(biggest.length, PROXY_V2_MAX_LENGTH);
  assert.equal(parseProxyHeader(biggest).state, 'done');
});

const VALID_HEADERS: Buffer[] = [
  ascii('PROXY TCP4 192.0.2.10 198.51.100.2 51234 25\r\n'),
  ascii('PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 65535 0\r\n'),
  ascii('PROXY UNKNOWN\r\n'),
  v2(0x21, 0x11, v2Addresses('192.0.2.10', '198.51.100.2', 51234, 25)),
  v2(0x21, 0x21, Buffer.concat([v2Addresses('2001:db8::1', '2001:db8::2', 1, 2), tlv(0x01, ascii('smtp'))])),
  v2(0x20, 0x00),
];

test('every proper prefix of a valid header is incomplete; trailing bytes are never consumed', () => {
  for (const header of VALID_HEADERS) {
    for (let n = 0; n < header.length; n++) {
      assert.deepEqual(parseProxyHeader(header.subarray(0, n)), { state: 'incomplete' }, `${n} of ${JSON.stringify(header.toString('latin1'))}`);
    }
    for (const tail of [Buffer.alloc(0), EHLO, Buffer.alloc(1000, 0x0d), SIGNATURE]) {
      const result = parseProxyHeader(Buffer.concat([header, tail]));
      assert.equal(result.state, 'done');
      assert.ok(result.state === 'done');
      assert.equal(result.consumed, header.length);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Parser: rejections

function assertInvalid(input: Buffer, reason: ProxyParseFailure): void {
  assert.deepEqual(parseProxyHeader(input), { state: 'invalid', reason }, JSON.stringify(input.toString('latin1')));
}

test('garbage and plain SMTP are rejected on the first byte that proves it', () => {
  for (const text of ['E', 'EHLO x\r\n', 'HELO', 'QUIT\r\n', '\r\r', '\r\n\r\n\r', ' PROXY TCP4', 'proxy TCP4', 'PROXy', 'PROXY\t', 'PROXY\r\n', '\x00']) {
    assertInvalid(ascii(text), 'invalidSignature');
  }
  assertInvalid(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), 'invalidSignature'); // a TLS ClientHello
  assertInvalid(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01]), 'invalidSignature');
  assertInvalid(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0d]), 'invalidSignature');
  assertInvalid(ascii('\r\nEHLO'), 'invalidSignature');
  assert.deepEqual(parseProxyHeader(ascii('PROX')), { state: 'incomplete' });
  assert.deepEqual(parseProxyHeader(ascii('\r\n')), { state: 'incomplete' }); // could still be v2
  assert.deepEqual(parseProxyHeader(SIGNATURE.subarray(0, 7)), { state: 'incomplete' });
});

test('malformed v1 headers are rejected with a stable reason', () => {
  const table: Array<[string, ProxyParseFailure]> = [
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n', 'malformedHeader'], // LF without CR
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX', 'malformedHeader'], // CR without LF
    ['PROXY TCP4 192.0.2.1\t192.0.2.2 1 2\r\n', 'malformedHeader'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2\x00\r\n', 'malformedHeader'],
    ['PROXY TCP4 192.0.2.1 192.0.2.\xe9 1 2\r\n', 'malformedHeader'],
    ['PROXY TCP4 192.0.2.1  192.0.2.2 1 2\r\n', 'malformedHeader'], // double space
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n', 'malformedHeader'], // trailing space
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n', 'malformedHeader'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n', 'malformedHeader'],
    ['PROXY TCP4\r\n', 'malformedHeader'],
    ['PROXY \r\n', 'unsupportedFamily'],
    ['PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n', 'unsupportedFamily'],
    ['PROXY tcp4 192.0.2.1 192.0.2.2 1 2\r\n', 'unsupportedFamily'],
    ['PROXY UNKNOWNX\r\n', 'unsupportedFamily'],
    ['PROXY  TCP4 192.0.2.1 192.0.2.2 1 2\r\n', 'unsupportedFamily'],
    // Addresses: wrong family, out of range, leading zeros, short forms, zone IDs, hostnames.
    ['PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP6 192.0.2.1 2001:db8::1 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP4 256.0.0.1 192.0.2.2 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP4 192.0.2.01 192.0.2.2 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP4 192.0.2 192.0.2.2 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP4 0x7f.0.0.1 192.0.2.2 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP4 localhost 192.0.2.2 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2.3 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP6 2001:db8:::1 ::1 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP6 [::1] ::1 1 2\r\n', 'invalidAddress'],
    ['PROXY TCP6 12345::1 ::1 1 2\r\n', 'invalidAddress'],
    // Ports: 0-65535, plain decimal, no leading zeros or signs.
    ['PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n', 'invalidPort'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 99999\r\n', 'invalidPort'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 025 2\r\n', 'invalidPort'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 00 2\r\n', 'invalidPort'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n', 'invalidPort'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 +1 2\r\n', 'invalidPort'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1e3 2\r\n', 'invalidPort'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 0x19 2\r\n', 'invalidPort'],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 100000 2\r\n', 'invalidPort'],
    ['PROXY TCP6 ::1 ::1 1 2.5\r\n', 'invalidPort'],
  ];
  for (const [line, reason] of table) assertInvalid(ascii(line), reason);
  // A bad byte is rejected as it arrives, without waiting for the end of the line.
  assertInvalid(ascii('PROXY TCP4 192.0.2.1\n'), 'malformedHeader');
  assertInvalid(ascii('PROXY \x1b'), 'malformedHeader');
});

test('the v1 line may be 107 bytes, CRLF included, and no more', () => {
  const line = (total: number): string => `PROXY UNKNOWN ${'x'.repeat(total - 16)}\r\n`;
  assert.equal(line(PROXY_V1_MAX_LENGTH).length, 107);
  assert.deepEqual(parseProxyHeader(ascii(line(107))), done({ version: 1, command: 'PROXY' }, 107));
  assertInvalid(ascii(line(108)), 'headerTooLong');
  // Rejected as soon as 107 bytes without a line end have arrived, and not before.
  const endless = ascii(`PROXY TCP4 ${'1'.repeat(200)}`);
  assert.deepEqual(parseProxyHeader(endless.subarray(0, 106)), { state: 'incomplete' });
  assertInvalid(endless.subarray(0, 107), 'headerTooLong');
  assertInvalid(endless, 'headerTooLong');
  // The longest possible TCP6 line is well inside the limit.
  const longest = `PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
  assert.equal(longest.length, 104);
  assert.equal(parseProxyHeader(ascii(longest)).state, 'done');
});

test('malformed v2 headers are rejected from the 16 fixed bytes, before the body arrives', () => {
  const addresses = v2Addresses('192.0.2.1', '192.0.2.2', 1, 2);
  const table: Array<[Buffer, ProxyParseFailure]> = [
    [v2(0x11, 0x11, addresses), 'unsupportedVersion'],
    [v2(0x31, 0x11, addresses), 'unsupportedVersion'],
    [v2(0x01, 0x11, addresses), 'unsupportedVersion'],
    [v2(0x22, 0x11, addresses), 'unsupportedCommand'],
    [v2(0x2f, 0x11, addresses), 'unsupportedCommand'],
    [v2(0x21, 0x31, Buffer.alloc(216)), 'unsupportedFamily'], // AF_UNIX stream
    [v2(0x21, 0x32, Buffer.alloc(216)), 'unsupportedFamily'], // AF_UNIX dgram
    [v2(0x21, 0x41, addresses), 'unsupportedFamily'],
    [v2(0x21, 0x10, addresses), 'unsupportedFamily'],
    [v2(0x21, 0x01, addresses), 'unsupportedFamily'],
    [v2(0x21, 0x13, addresses), 'unsupportedFamily'],
    [v2(0x21, 0x12, addresses), 'unsupportedTransport'], // UDP over IPv4
    [v2(0x21, 0x22, Buffer.alloc(36)), 'unsupportedTransport'],
    [v2(0x21, 0x11, addresses.subarray(0, 11)), 'invalidLength'],
    [v2(0x21, 0x21, Buffer.alloc(35)), 'invalidLength'],
    [v2(0x21, 0x11, Buffer.alloc(0), PROXY_V2_MAX_LENGTH - 15), 'headerTooLong'],
    [v2(0x20, 0x00, Buffer.alloc(0), 0xffff), 'headerTooLong'], // LOCAL too
  ];
  for (const [header, reason] of table) {
    assertInvalid(header, reason);
    assertInvalid(header.subarray(0, 16), reason);
  }
  // Just under the cap is not rejected, only incomplete.
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(0), PROXY_V2_MAX_LENGTH - 16)), { state: 'incomplete' });
});

// ---------------------------------------------------------------------------------------------
// Parser: fuzzing

function assertWellFormed(result: ProxyParseResult, input: Buffer): void {
  const label = input.toString('hex');
  if (result.state === 'incomplete') return;
  if (result.state === 'invalid') {
    assert.ok(PARSE_FAILURES.has(result.reason), `${result.reason} for ${label}`);
    return;
  }
  const { header, consumed } = result;
  assert.ok(Number.isInteger(consumed) && consumed >= 15 && consumed <= input.length, label);
  assert.ok(consumed <= (header.version === 1 ? PROXY_V1_MAX_LENGTH : PROXY_V2_MAX_LENGTH), label);
  assert.ok(header.command === 'PROXY' || header.command === 'LOCAL', label);
  assert.equal(header.source === undefined, header.destination === undefined, label);
  for (const endpoint of [header.source, header.destination]) {
    if (endpoint === undefined) continue;
    assert.notEqual(net.isIP(endpoint.address), 0, label);
    assert.ok(Number.isInteger(endpoint.port) && endpoint.port >= 0 && endpoint.port <= 65535, label);
  }
}

const V1_TOKENS = [
  'PROXY', 'TCP4', 'TCP6', 'UNKNOWN', 'tcp4', '192.0.2.1', '10.0.0.255', '256.1.1.1', '1.2.3', '::1', '::ffff:1.2.3.4',
  '2001:db8::1', 'fe80::1%lo', '0', '25', '65535', '65536', '025', '-1', '', ' ', '\r', '\n', '\r\n', 'x'.repeat(60),
];

function randomInput(random: () => number): Buffer {
  const int = (n: number): number => Math.floor(random() * n);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  switch (int(5)) {
    case 0:
      return bytes(int(600));
    case 1: {
      const tokens = Array.from({ length: int(8) }, () => V1_TOKENS[int(V1_TOKENS.length)] ?? '');
      return ascii(`PROXY ${tokens.join(random() < 0.8 ? ' ' : '')}${random() < 0.7 ? '\r\n' : ''}`);
    }
    case 2:
      return Buffer.concat([SIGNATURE, Buffer.from([0x20 | int(3), [0x00, 0x11, 0x21, 0x12, 0x31][int(5)] ?? 0]), bytes(int(80))]);
    case 3: {
      const length = int(64);
      const family = [0x00, 0x11, 0x21][int(3)] ?? 0;
      return Buffer.concat([SIGNATURE, Buffer.from([0x21, family, ...port16(length)]), bytes(int(length + 8))]);
    }
    default: {
      const base = Buffer.from(VALID_HEADERS[int(VALID_HEADERS.length)] ?? EHLO);
      const mutated = Buffer.concat([base, random() < 0.5 ? EHLO : Buffer.alloc(0)]);
      for (let flips = 1 + int(3); flips > 0; flips--) mutated[int(mutated.length)] = int(256);
      return mutated.subarray(0, random() < 0.3 ? int(mutated.length + 1) : mutated.length);
    }
  }
}

test('fuzz: random input never throws and always gives a well-formed result', () => {
  const random = mulberry32(0x5eed);
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    const input = randomInput(random);
    const result = parseProxyHeader(input);
    assertWellFormed(result, input);
    if (result.state === 'done') accepted++;
  }
  assert.ok(accepted > 100, `only ${accepted} random inputs parsed; the generator is too weak`);
});

test('fuzz: results are stable as more bytes arrive (split anywhere gives the same answer)', () => {
  const random = mulberry32(20240601);
  for (let i = 0; i < 5000; i++) {
    const input = randomInput(random);
    const whole = parseProxyHeader(input);
    for (let trial = 0; trial < 4; trial++) {
      const cut = Math.floor(random() * (input.length + 1));
      const part = parseProxyHeader(input.subarray(0, cut));
      const label = `${input.toString('hex')} cut at ${cut}`;
      // A verdict on a prefix is final: more bytes never change it.
      if (part.state !== 'incomplete') assert.deepEqual(whole, part, label);
      // A header is never reported before all its bytes are there.
      if (whole.state === 'done' && cut < whole.consumed) assert.deepEqual(part, { state: 'incomplete' }, label);
    }
  }
});

test('fuzz: v1 and v2 addresses agree with ipaddr.js', () => {
  const random = mulberry32(99);
  const int = (n: number): number => Math.floor(random() * n);
  for (let i = 0; i < 3000; i++) {
    const parts = Array.from({ length: 8 }, () => (random() < 0.5 ? 0 : int(65536)));
    if (i % 5 === 0) parts.splice(0, 6, 0, 0, 0, 0, 0, 0xffff);
    const address = new ipaddr.IPv6(parts);
    const expected = address.isIPv4MappedAddress() ? address.toIPv4Address().toString() : address.toRFC5952String();
    const v4 = `${int(256)}.${int(256)}.${int(256)}.${int(256)}`;
    const sport = int(65536);
    const dport = int(65536);

    const six = v2(0x21, 0x21, Buffer.concat([Buffer.from(address.toByteArray()), Buffer.alloc(16), Buffer.from([...port16(sport), ...port16(dport)])]));
    assert.deepEqual(parseProxyHeader(six), done({ version: 2, command: 'PROXY', ...endpoints(expected, sport, '::', dport) }, 52));
    const four = v2(0x21, 0x11, v2Addresses(v4, v4, sport, dport));
    assert.deepEqual(parseProxyHeader(four), done({ version: 2, command: 'PROXY', ...endpoints(v4, sport, v4, dport) }, 28));

    const v4Tail = `${parts[6]! >> 8}.${parts[6]! & 255}.${parts[7]! >> 8}.${parts[7]! & 255}`;
    const forms = [
      address.toRFC5952String(),
      address.toNormalizedString(),
      address.toNormalizedString().toUpperCase(),
      parts.map((part) => part.toString(16).padStart(4, '0')).join(':'),
      `${parts.slice(0, 6).map((part) => part.toString(16)).join(':')}:${v4Tail}`,
    ];
    for (const text of forms) {
      const line = `PROXY TCP6 ${text} ::1 ${sport} ${dport}\r\n`;
      assert.deepEqual(parseProxyHeader(ascii(line)), done({ version: 1, command: 'PROXY', ...endpoints(expected, sport, '::1', dport) }, line.length), line);
    }
    const line = `PROXY TCP4 ${v4} ${v4} ${sport} ${dport}\r\n`;
    assert.deepEqual(parseProxyHeader(ascii(line)), done({ version: 1, command: 'PROXY', ...endpoints(v4, sport, v4, dport) }, line.length));
  }
});

// ---------------------------------------------------------------------------------------------
// readProxyHeader over real sockets

interface Connection {
  client: net.Socket;
  server: net.Socket;
}

/** A loopback server; connect() returns both ends. Everything is torn down after the test. */
async function loopback(t: TestContext): Promise<{ connect: () => Promise<Connection> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('error', () => {}); // a reset from a destroyed client is not the test's business
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    connect: async (): Promise<Connection> => {
      const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
      const client = net.connect({ port, host: '127.0.0.1', noDelay: true });
      sockets.add(client);
      client.on('error', () => {});
      return { client, server: await accepted };
    },
  };
}

async function writePieces(client: net.Socket, pieces: Buffer[], delayMs = 3): Promise<void> {
  for (const [i, piece] of pieces.entries()) {
    if (i > 0) await delay(delayMs);
    client.write(piece);
  }
}

/** Reads exactly n bytes the way an SMTP engine would ('data' events), then pauses again. */
function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= n) {
        socket.off('data', onData);
        socket.pause();
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
  });
}

function assertAccepted(result: ProxyHeaderResult, expected: ProxyHeader): Buffer {
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.ok(result.ok);
  const { ok: _ok, rest, ...header } = result;
  assert.deepEqual(header, expected);
  return rest;
}

const V1_TCP4 = ascii('PROXY TCP4 192.0.2.10 198.51.100.2 51234 25\r\n');
const V1_TCP4_HEADER: ProxyHeader = { version: 1, command: 'PROXY', ...endpoints('192.0.2.10', 51234, '198.51.100.2', 25) };
const V2_TCP6 = v2(0x21, 0x21, Buffer.concat([v2Addresses('2001:db8::7', '2001:db8::25', 40000, 25), tlv(0x02, ascii('mx.example'))]));
const V2_TCP6_HEADER: ProxyHeader = { version: 2, command: 'PROXY', ...endpoints('2001:db8::7', 40000, '2001:db8::25', 25) };

test('socket: header and EHLO in one write; rest carries EHLO and the stream continues after unshift', async (t) => {
  const { connect } = await loopback(t);
  for (const [header, expected] of [
    [V1_TCP4, V1_TCP4_HEADER],
    [V2_TCP6, V2_TCP6_HEADER],
    [v2(0x20, 0x00), { version: 2, command: 'LOCAL' }],
  ] as const) {
    const { client, server } = await connect();
    const pending = readProxyHeader(server, { timeoutMs: 2000 });
    client.write(Buffer.concat([header, EHLO]));
    const rest = assertAccepted(await pending, expected);
    assert.deepEqual(rest, EHLO);
    server.unshift(rest);
    const later = ascii('MAIL FROM:<a@example.com>\r\n');
    client.write(later);
    assert.deepEqual(await readBytes(server, EHLO.length + later.length), Buffer.concat([EHLO, later]));
  }
});

test('socket: header split into two writes at every byte position', { timeout: 30000 }, async (t) => {
  const { connect } = await loopback(t);
  for (const [header, expected] of [
    [V1_TCP4, V1_TCP4_HEADER],
    [V2_TCP6, V2_TCP6_HEADER],
  ] as const) {
    // Cuts run through the EHLO too, so `rest` is sometimes a partial line and sometimes empty.
    const payload = Buffer.concat([header, EHLO]);
    for (let cut = 1; cut < payload.length; cut++) {
      const { client, server } = await connect();
      const pending = readProxyHeader(server, { timeoutMs: 2000 });
      await writePieces(client, [payload.subarray(0, cut), payload.subarray(cut)]);
      const rest = assertAccepted(await pending, expected);
      assert.ok(EHLO.subarray(0, rest.length).equals(rest), `cut ${cut}: rest ${JSON.stringify(rest.toString('latin1'))}`);
      server.unshift(rest);
      assert.deepEqual(await readBytes(server, EHLO.length), EHLO, `cut ${cut}`);
      client.destroy();
      server.destroy();
    }
  }
});

test('socket: one byte per write', { timeout: 30000 }, async (t) => {
  const { connect } = await loopback(t);
  for (const [header, expected] of [
    [V1_TCP4, V1_TCP4_HEADER],
    [V2_TCP6, V2_TCP6_HEADER],
  ] as const) {
    const { client, server } = await connect();
    const pending = readProxyHeader(server, { timeoutMs: 5000 });
    const payload = Buffer.concat([header, EHLO]);
    await writePieces(client, Array.from(payload, (byte) => Buffer.from([byte])), 1);
    const rest = assertAccepted(await pending, expected);
    server.unshift(rest);
    assert.deepEqual(await readBytes(server, EHLO.length), EHLO);
  }
});

test('socket: bytes that arrived before the call are not lost', async (t) => {
  const { connect } = await loopback(t);
  const { client, server } = await connect();
  client.write(Buffer.concat([V1_TCP4, EHLO]));
  for (let waited = 0; server.readableLength < V1_TCP4.length + EHLO.length && waited < 2000; waited += 5) await delay(5);
  assert.equal(server.readableLength, V1_TCP4.length + EHLO.length);
  const rest = assertAccepted(await readProxyHeader(server, { timeoutMs: 2000 }), V1_TCP4_HEADER);
  assert.deepEqual(rest, EHLO);
});

test('socket: invalid input fails at once, not at the timeout', async (t) => {
  const { connect } = await loopback(t);
  const cases: Array<[Buffer, ProxyParseFailure]> = [
    [EHLO, 'invalidSignature'],
    [Buffer.from([0x16, 0x03, 0x01]), 'invalidSignature'],
    [ascii('PROXY TCP4 192.0.2.1 192.0.2.2 025 25\r\n'), 'invalidPort'],
    [ascii('PROXY TCP4 192.0.2.1 ::1 1 25\r\n'), 'invalidAddress'],
    [ascii(`PROXY UNKNOWN ${'x'.repeat(200)}`), 'headerTooLong'],
    [v2(0x21, 0x31, Buffer.alloc(216)), 'unsupportedFamily'],
    [v2(0x21, 0x11, Buffer.alloc(0), 2000), 'headerTooLong'],
  ];
  for (const [input, reason] of cases) {
    const { client, server } = await connect();
    const started = performance.now();
    const pending = readProxyHeader(server, { timeoutMs: 5000 });
    client.write(input);
    assert.deepEqual(await pending, { ok: false, reason });
    assert.ok(performance.now() - started < 1000, reason);
  }
});

test('socket: a silent peer or a partial header times out', async (t) => {
  const { connect } = await loopback(t);
  for (const partial of [Buffer.alloc(0), ascii('PROXY TCP4 192.0.2.1 '), SIGNATURE, v2(0x21, 0x11, Buffer.alloc(4), 12)]) {
    const { client, server } = await connect();
    const started = performance.now();
    const pending = readProxyHeader(server, { timeoutMs: 80 });
    if (partial.length > 0) client.write(partial);
    assert.deepEqual(await pending, { ok: false, reason: 'timeout' });
    assert.ok(performance.now() - started >= 70);
    assert.equal(server.destroyed, false, 'the caller decides what to do with the socket');
  }
});

test('socket: the default timeout is 5000 ms', async (t) => {
  const { connect } = await loopback(t);
  const { server } = await connect();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let settled: ProxyHeaderResult | undefined;
  const pending = readProxyHeader(server).then((result) => (settled = result));
  t.mock.timers.tick(DEFAULT_PROXY_TIMEOUT_MS - 1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, undefined);
  t.mock.timers.tick(1);
  assert.deepEqual(await pending, { ok: false, reason: 'timeout' });
});

test('socket: a peer that hangs up mid-header, or a socket already gone, gives closed', async (t) => {
  const { connect } = await loopback(t);
  {
    const { client, server } = await connect();
    const pending = readProxyHeader(server, { timeoutMs: 2000 });
    client.end(ascii('PROXY TCP4 192.0.2.1'));
    assert.deepEqual(await pending, { ok: false, reason: 'closed' });
  }
  {
    const { client, server } = await connect();
    const pending = readProxyHeader(server, { timeoutMs: 2000 });
    await writePieces(client, [SIGNATURE.subarray(0, 5)]);
    client.destroy();
    assert.deepEqual(await pending, { ok: false, reason: 'closed' });
  }
  {
    const { server } = await connect();
    const pending = readProxyHeader(server, { timeoutMs: 2000 });
    server.destroy();
    assert.deepEqual(await pending, { ok: false, reason: 'closed' });
  }
  {
    const { server } = await connect();
    server.destroy();
    assert.deepEqual(await readProxyHeader(server, { timeoutMs: 2000 }), { ok: false, reason: 'closed' });
  }
});
