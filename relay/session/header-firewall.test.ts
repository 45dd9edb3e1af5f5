import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Right } from '../config/schema.ts';
import {
  addressLiteral,
  buildReceivedHeader,
  countReceivedHeaders,
  filterHeaders,
  receivedProtocol,
  rfc5322Date,
} from './header-firewall.ts';
import { BREAKS, assertNoInjectedLine, payload } from '../../test/support/header-injection-cases.ts';

const block = (...lines: string[]): Buffer => Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1');
const NONE = new Set<Right>();
const ROUTING = new Set<Right>(['AcceptRoutingHeaders']);
const ORG = new Set<Right>(['AcceptOrganizationHeaders']);

const SAMPLE = block(
  'Received: from a.example (a.example [192.0.2.1])',
  '\tby b.example with ESMTP id 1;',
  '\tTue, 1 Jan 2030 00:00:00 +0000',
  'From: alice@example.org',
  'RECEIVED : from forged',
  'Resent-From: mallory@example.org',
  'resent-to: x@example.org',
  '  continued',
  'Subject: hello',
  '  world',
  'X-Relay-Organization-Scl: -1',
  'x-relay-organization-auth: internal',
  'X-Relay-Antispam: spf=pass',
  'X-Relay-Organizational: not ours',
  'Received-SPF: pass',
  '',
  'body line',
  'Received: not a header, body',
);

test('without rights: routing and organization headers are stripped with their continuations', () => {
  const r = filterHeaders(SAMPLE, NONE);
  assert.equal(
    r.headers.toString('latin1'),
    block(
      'From: alice@example.org',
      'Subject: hello',
      '  world',
      'X-Relay-Organizational: not ours',
      'Received-SPF: pass',
      '',
      'body line',
      'Received: not a header, body',
    ).toString('latin1'),
  );
  assert.deepEqual(r.stripped, [
    'Received',
    'RECEIVED',
    'Resent-From',
    'resent-to',
    'X-Relay-Organization-Scl',
    'x-relay-organization-auth',
    'X-Relay-Antispam',
  ]);
});

test('AcceptRoutingHeaders keeps Received/Resent-*, strips organization headers', () => {
  const r = filterHeaders(SAMPLE, ROUTING);
  const text = r.headers.toString('latin1');
  assert.match(text, /^Received: from a\.example/);
  assert.match(text, /resent-to: x@example.org\r\n {2}continued\r\n/);
  assert.doesNotMatch(text, /X-Relay-Organization-Scl/i);
  assert.deepEqual(r.stripped, ['X-Relay-Organization-Scl', 'x-relay-organization-auth', 'X-Relay-Antispam']);
});

test('AcceptOrganizationHeaders keeps organization headers, strips routing', () => {
  const r = filterHeaders(SAMPLE, ORG);
  assert.match(r.headers.toString('latin1'), /X-Relay-Organization-Scl: -1\r\nx-relay-organization-auth: internal\r\n/);
  assert.deepEqual(r.stripped, ['Received', 'RECEIVED', 'Resent-From', 'resent-to']);
});

test('with both rights the block is returned untouched (same buffer)', () => {
  const r = filterHeaders(SAMPLE, new Set<Right>(['AcceptRoutingHeaders', 'AcceptOrganizationHeaders']));
  assert.equal(r.headers, SAMPLE);
  assert.deepEqual(r.stripped, []);
});

test('header block without trailing blank line and with a last line lacking CRLF', () => {
  const raw = Buffer.from('Subject: x\r\nReceived: a\r\n b');
  const r = filterHeaders(raw, NONE);
  assert.equal(r.headers.toString(), 'Subject: x\r\n');
  assert.deepEqual(r.stripped, ['Received']);
});

test('a line without a colon is kept', () => {
  const raw = block('Subject: s', 'garbage line', 'Received: x', 'To: y');
  assert.equal(filterHeaders(raw, NONE).headers.toString(), block('Subject: s', 'garbage line', 'To: y').toString());
});

test('bytes outside ASCII are copied verbatim', () => {
  const raw = Buffer.concat([Buffer.from('Subject: '), Buffer.from([0xc3, 0xa9, 0xff]), Buffer.from('\r\nReceived: x\r\n\r\n')]);
  const r = filterHeaders(raw, NONE);
  assert.deepEqual(r.headers, Buffer.concat([Buffer.from('Subject: '), Buffer.from([0xc3, 0xa9, 0xff]), Buffer.from('\r\n\r\n')]));
});

test('countReceivedHeaders counts fields, not continuation lines or body', () => {
  assert.equal(countReceivedHeaders(SAMPLE), 2);
  assert.equal(countReceivedHeaders(Buffer.alloc(0)), 0);
  assert.equal(countReceivedHeaders(block(...Array.from({ length: 31 }, (_, i) => `Received: hop ${i}`))), 31);
});

test('buildReceivedHeader formats and folds', () => {
  const h = buildReceivedHeader({
    fromHelo: 'mail.example.org',
    clientAddress: '::ffff:192.0.2.7',
    byFqdn: 'hub-east.mail.example.com',
    withProtocol: 'ESMTPS',
    id: 'ABC123',
    forRecipient: 'bob@contoso.com',
    date: new Date(Date.UTC(2030, 0, 1, 12, 34, 56)),
  });
  assert.equal(
    h,
    'Received: from mail.example.org ([192.0.2.7])\r\n\tby hub-east.mail.example.com with ESMTPS id ABC123\r\n' +
      '\tfor <bob@contoso.com>; Tue, 01 Jan 2030 12:34:56 +0000\r\n',
  );
});

test('buildReceivedHeader neutralises hostile HELO, recipient and id', () => {
  const h = buildReceivedHeader({
    fromHelo: 'evil\r\nX-Injected: 1 (x); y',
    clientAddress: '2001:db8::1',
    byFqdn: 'hub.example',
    withProtocol: 'ESMTP',
    id: 'id\r\nX: y',
    forRecipient: 'a@b>\r\nX-Injected: 2',
    date: new Date(0),
  });
  assert.equal(h.split('\r\n').length, 4); // three lines plus the empty string after the final CRLF
  assert.doesNotMatch(h, /\r\nX-Injected/);
  assert.ok(h.startsWith('Received: from evil??X-Injected:?1??x???y ('));
  assert.match(h, / id id\?\?X\?\?y\r\n/);
  assert.match(h, /\tfor <a@b\?\?\?X-Injected:\?2>; /);
  assert.match(h, /\(\[IPv6:2001:db8::1\]\)/);
  const empty = buildReceivedHeader({ fromHelo: '', clientAddress: 'bogus', byFqdn: 'h', withProtocol: 'SMTP', id: '1', date: new Date(0) });
  assert.match(empty, /^Received: from unknown \(\[b\?\?\?\?\]\)\r\n\tby h with SMTP id 1; Thu, 01 Jan 1970 00:00:00 \+0000\r\n$/);
});

test('receivedProtocol follows RFC 3848', () => {
  assert.equal(receivedProtocol({ esmtp: false, secure: true, authenticated: true }), 'SMTP');
  assert.equal(receivedProtocol({ esmtp: true, secure: false, authenticated: false }), 'ESMTP');
  assert.equal(receivedProtocol({ esmtp: true, secure: true, authenticated: false }), 'ESMTPS');
  assert.equal(receivedProtocol({ esmtp: true, secure: false, authenticated: true }), 'ESMTPA');
  assert.equal(receivedProtocol({ esmtp: true, secure: true, authenticated: true }), 'ESMTPSA');
});

test('addressLiteral and rfc5322Date', () => {
  assert.equal(addressLiteral('192.0.2.1'), '[192.0.2.1]');
  assert.equal(addressLiteral('::1'), '[IPv6:::1]');
  assert.equal(rfc5322Date(new Date(Date.UTC(2024, 11, 18))), 'Wed, 18 Dec 2024 00:00:00 +0000');
});

test('rfc5322Date is right across seconds (it keeps the text of the last second)', () => {
  const base = Date.UTC(2024, 11, 18, 23, 59, 58);
  const cases: Array<[number, string]> = [
    [base, 'Wed, 18 Dec 2024 23:59:58 +0000'],
    [base + 999, 'Wed, 18 Dec 2024 23:59:58 +0000'],
    [base + 1000, 'Wed, 18 Dec 2024 23:59:59 +0000'],
    [base + 2000, 'Thu, 19 Dec 2024 00:00:00 +0000'],
    [base, 'Wed, 18 Dec 2024 23:59:58 +0000'],
    [-1, 'Wed, 31 Dec 1969 23:59:59 +0000'],
  ];
  for (const [ms, text] of cases) assert.equal(rfc5322Date(new Date(ms)), text);
  assert.equal(rfc5322Date(new Date(Number.NaN)), 'Invalid Date');
});

/** Our headers as accept-message prepends them, then the filtered client block; UTF-8 like it. */
function stored(clientBlock: Buffer, rights: ReadonlySet<Right> = NONE): { text: string; result: ReturnType<typeof filterHeaders> } {
  const ours = buildReceivedHeader({
    fromHelo: 'client.example', clientAddress: '192.0.2.9', byFqdn: 'hub.example', withProtocol: 'ESMTP', id: 'ID1', date: new Date(0),
  }) + 'X-Relay-Antispam: spf=fail smtp.mailfrom=a@b.example client-ip=192.0.2.9 by=hub.example\r\n';
  const result = filterHeaders(clientBlock, rights);
  return { text: Buffer.concat([Buffer.from(ours), result.headers]).toString('latin1'), result };
}

/** The unfolded fields of the first header section of a message. */
function unfoldedFields(text: string): string[] {
  const section = text.slice(0, text.indexOf('\r\n\r\n') + 2);
  return section.replace(/\r\n[ \t]/g, ' ').split('\r\n').filter((l) => l !== '');
}

for (const lead of [' ', '\t', '  \t']) {
  test(`item 9: a first line starting with ${JSON.stringify(lead)} is never folded onto our X-Relay-Antispam or Received`, () => {
    const client = block(`${lead}X-Relay-Antispam: spf=pass forged=yes`, `${lead}more`, 'Subject: hi', 'Received: forged', '', 'body');
    for (const rights of [NONE, new Set<Right>(['AcceptRoutingHeaders', 'AcceptOrganizationHeaders'])]) {
      const { text, result } = stored(client, rights);
      const fields = unfoldedFields(text);
      // Postfix (mime_state): a non-header line at the start ends the header section; a blank
      // line is put before it, so the client's lines become the first lines of the body
      assert.deepEqual(fields.map((f) => f.slice(0, f.indexOf(':'))), ['Received', 'X-Relay-Antispam']);
      assert.equal(fields[1], 'X-Relay-Antispam: spf=fail smtp.mailfrom=a@b.example client-ip=192.0.2.9 by=hub.example');
      assert.doesNotMatch(fields.join('\n'), /forged/);
      assert.equal(result.headers.toString('latin1'), `\r\n${client.toString('latin1')}`, 'the client bytes follow unchanged');
      assert.deepEqual(result.stripped, [], 'nothing of it is a header, so nothing is stripped');
      assert.equal(result.leadingWhitespace, true);
    }
    assert.equal(countReceivedHeaders(client), 0, 'the Received after it is body text');
  });
}

test('item 9: a first line of whitespace only, and a block with no blank line at all, become body too', () => {
  for (const raw of [block(' ', 'Subject: x', '', 'b'), Buffer.from(' X-Relay-Antispam: spf=pass'), Buffer.from('\t\r\n')]) {
    const { text, result } = stored(raw);
    assert.deepEqual(unfoldedFields(text).map((f) => f.slice(0, f.indexOf(':'))), ['Received', 'X-Relay-Antispam']);
    assert.ok(result.headers.subarray(0, 2).equals(Buffer.from('\r\n')));
  }
});

test('item 9: an ordinary block, an empty one and a blank-line-first one are unchanged', () => {
  for (const raw of [block('Subject: x', ' folded', '', ' body starts with a space'), Buffer.alloc(0), block('', ' body')]) {
    const r = filterHeaders(raw, NONE);
    assert.equal(r.headers, raw);
    assert.equal(r.leadingWhitespace, false);
  }
});

for (const { name, brk } of BREAKS) {
  test(`item 2: Received never carries an injected line: ${name} in HELO, recipient, client address`, () => {
    const hostile = payload(brk);
    const cases = [
      { fromHelo: hostile, forRecipient: 'bob@contoso.com', clientAddress: '192.0.2.1' },
      { fromHelo: 'ok.example', forRecipient: `${hostile}@evil.example`, clientAddress: '192.0.2.1' },
      { fromHelo: 'ok.example', forRecipient: 'bob@contoso.com', clientAddress: hostile },
    ];
    for (const c of cases) {
      const h = buildReceivedHeader({ ...c, byFqdn: 'hub.example', withProtocol: 'ESMTP', id: 'ID', date: new Date(0) });
      // accept-message writes it with Buffer.from (UTF-8)
      assertNoInjectedLine(Buffer.from(h), `${name}: ${JSON.stringify(c)}`);
      assert.equal(h.split('\r\n').length, 4, 'three lines, ours');
    }
  });
}
