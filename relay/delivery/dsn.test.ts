import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageEnvelope } from './envelope.ts';
import { buildDsn, wantsDsn, type DsnInput } from './dsn.ts';
import { BREAKS, assertNoInjectedLine, fieldNames, payload } from '../../test/support/header-injection-cases.ts';

const BODY = Buffer.from('From: <app@corp.test>\r\nSubject: quarterly report\r\nMessage-ID: <q1@corp.test>\r\n\r\nline one\r\n.hidden dot\r\n');

function envelope(overrides: Partial<MessageEnvelope> = {}): MessageEnvelope {
  return {
    mailFrom: 'app@corp.test',
    rcptTo: [
      { address: 'gone@remote.test', orcpt: 'rfc822;Gone+2BTag@remote.test' },
      { address: 'quiet@remote.test', notify: ['NEVER'] },
      { address: 'ok@remote.test', notify: ['SUCCESS', 'FAILURE'] },
    ],
    receivedAt: '2025-03-01T10:00:00.000Z', connectorId: 'mail/in', sessionId: 's', clientAddress: '127.0.0.1', size: BODY.length,
    dsnEnvid: 'ENV+2B42', ...overrides,
  };
}

const input = (env: MessageEnvelope, recipients: DsnInput['recipients']): DsnInput => ({
  queueId: '0190000000000001aaaaaaaaaaaa', envelope: env, body: BODY, recipients,
  reportingMta: 'hub.relay.test', postmaster: 'postmaster@relay.test', now: new Date('2025-03-01T10:05:00.000Z'),
});

/** parts - the MIME parts of a multipart body, split on its boundary. */
function parts(text: string): { head: string; parts: string[] } {
  const boundary = /boundary="([^"]+)"/.exec(text)?.[1] ?? '';
  assert.ok(boundary, 'boundary');
  const chunks = text.split(`--${boundary}`);
  assert.equal(chunks.at(-1), '--\r\n', 'closing delimiter');
  return { head: chunks[0] ?? '', parts: chunks.slice(1, -1) };
}

void test('NOTIFY rules: default FAILURE, NEVER, SUCCESS only on request, never for the null sender', () => {
  const env = envelope();
  assert.equal(wantsDsn(env, 0, 'failed'), true);
  assert.equal(wantsDsn(env, 0, 'relayed'), false);
  assert.equal(wantsDsn(env, 1, 'failed'), false);
  assert.equal(wantsDsn(env, 2, 'relayed'), true);
  assert.equal(wantsDsn({ ...env, rcptTo: [{ address: 'x@y.test', notify: ['DELAY'] }] }, 0, 'failed'), false);
  assert.equal(wantsDsn(envelope({ mailFrom: '' }), 0, 'failed'), false, 'never bounce a bounce');
});

void test('a failure DSN is an RFC 3464 multipart/report with the full message', () => {
  const dsn = buildDsn(input(envelope(), [{ index: 0, action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 <gone@remote.test>: no such user', remoteMta: 'mx.remote.test', lastAttemptAt: '2025-03-01T10:04:00.000Z' }]));
  assert.deepEqual(dsn.envelope.rcptTo, [{ address: 'app@corp.test' }]);
  assert.equal(dsn.envelope.mailFrom, '', 'null sender');
  assert.equal(dsn.envelope.size, dsn.body.length);
  const text = dsn.body.toString('latin1');
  assert.doesNotMatch(text, /(?<!\r)\n|\r(?!\n)/, 'CRLF only');
  const { head, parts: [human, status, returned] } = parts(text);
  assert.match(head, /^From: Mail Delivery System <postmaster@relay\.test>\r\n/m);
  assert.match(head, /^To: <app@corp\.test>\r$/m);
  assert.match(head, /^Subject: Undeliverable: quarterly report\r$/m);
  assert.match(head, /^Content-Type: multipart\/report; report-type=delivery-status; boundary="/m);
  assert.match(head, /^Auto-Submitted: auto-replied\r$/m);
  assert.match(head, /^Date: Sat, 01 Mar 2025 10:05:00 \+0000\r$/m);
  assert.match(human ?? '', /Content-Type: text\/plain/);
  assert.match(human ?? '', /<gone@remote\.test>: failed: 550 5\.1\.1/);
  const [perMessage, perRecipient] = (status ?? '').split('\r\n\r\n').slice(1);
  assert.match(perMessage ?? '', /^Reporting-MTA: dns; hub\.relay\.test\r\n/);
  assert.match(perMessage ?? '', /^Original-Envelope-Id: ENV\+42\r$/m, 'ENVID xtext decoded');
  assert.match(perMessage ?? '', /^Arrival-Date: Sat, 01 Mar 2025 10:00:00 \+0000/m);
  assert.equal(perRecipient, [
    'Original-Recipient: rfc822; Gone+Tag@remote.test',
    'Final-Recipient: rfc822; gone@remote.test',
    'Action: failed',
    'Status: 5.1.1',
    'Remote-MTA: dns; mx.remote.test',
    'Diagnostic-Code: smtp; 550 5.1.1 <gone@remote.test>: no such user',
    'Last-Attempt-Date: Sat, 01 Mar 2025 10:04:00 +0000',
  ].join('\r\n'));
  assert.match(returned ?? '', /^\r\nContent-Type: message\/rfc822\r\n\r\nFrom: <app@corp\.test>/);
  assert.ok((returned ?? '').includes('\r\n.hidden dot\r\n'), 'whole body returned');
});

void test('RET=HDRS returns the header section only; success reports too', () => {
  const hdrs = buildDsn(input(envelope({ dsnRet: 'HDRS' }), [{ index: 0, action: 'failed', status: '4.4.7', diagnostic: 'message expired in the queue' }])).body.toString('latin1');
  assert.match(hdrs, /Content-Type: text\/rfc822-headers\r\n\r\nFrom: <app@corp\.test>[\s\S]*Message-ID: <q1@corp\.test>\r\n\r\n--/);
  assert.doesNotMatch(hdrs, /line one/);
  assert.match(hdrs, /Diagnostic-Code: X-Relay; message expired in the queue/);
  const relayed = buildDsn(input(envelope(), [{ index: 2, action: 'relayed', status: '2.0.0', diagnostic: '250 2.0.0 ok' }])).body.toString('latin1');
  assert.match(relayed, /^Subject: Relayed: quarterly report\r$/m);
  assert.match(relayed, /Action: relayed\r\nStatus: 2\.0\.0/);
  assert.match(relayed, /text\/rfc822-headers/);
});

void test('NOTIFY for delays: no NOTIFY or DELAY asks for one; FAILURE or SUCCESS alone, NEVER and the null sender do not', () => {
  const env = (notify?: MessageEnvelope['rcptTo'][number]['notify'], mailFrom = 'app@corp.test'): MessageEnvelope =>
    envelope({ mailFrom, rcptTo: [{ address: 'x@remote.test', ...(notify ? { notify } : {}) }] });
  assert.equal(wantsDsn(env(), 0, 'delayed'), true, 'no NOTIFY: failures and delays');
  assert.equal(wantsDsn(env(['DELAY']), 0, 'delayed'), true);
  assert.equal(wantsDsn(env(['SUCCESS', 'DELAY']), 0, 'delayed'), true);
  assert.equal(wantsDsn(env(['FAILURE']), 0, 'delayed'), false);
  assert.equal(wantsDsn(env(['SUCCESS']), 0, 'delayed'), false);
  assert.equal(wantsDsn(env(['NEVER']), 0, 'delayed'), false);
  assert.equal(wantsDsn(env(undefined, ''), 0, 'delayed'), false, 'never for a bounce');
});

void test('a delay DSN: Action delayed, the 4.x.x status, Will-Retry-Until, headers only even with RET=FULL', () => {
  const dsn = buildDsn(input(envelope({ dsnRet: 'FULL' }), [{
    index: 0, action: 'delayed', status: '4.2.1', diagnostic: '450 4.2.1 Mailbox busy', remoteMta: 'mx.remote.test',
    lastAttemptAt: '2025-03-01T14:00:00.000Z', willRetryUntil: '2025-03-06T10:00:00.000Z',
  }]));
  assert.equal(dsn.envelope.mailFrom, '', 'null sender');
  assert.deepEqual(dsn.envelope.rcptTo, [{ address: 'app@corp.test' }]);
  const text = dsn.body.toString('latin1');
  const { head, parts: [human, status, returned] } = parts(text);
  assert.match(head, /^Subject: Delivery delayed: quarterly report\r$/m);
  assert.match(head, /^Content-Type: multipart\/report; report-type=delivery-status; boundary="/m);
  assert.match(human ?? '', /has not been delivered yet/);
  assert.match(human ?? '', /keep trying until Thu, 06 Mar 2025 10:00:00 \+0000\./);
  assert.match(human ?? '', /do not need to send it again/);
  assert.match(human ?? '', /<gone@remote\.test>: delayed: 450 4\.2\.1 Mailbox busy/);
  assert.doesNotMatch(human ?? '', /could not be delivered|returned/);
  const perRecipient = (status ?? '').split('\r\n\r\n')[2];
  assert.equal(perRecipient, [
    'Original-Recipient: rfc822; Gone+Tag@remote.test',
    'Final-Recipient: rfc822; gone@remote.test',
    'Action: delayed',
    'Status: 4.2.1',
    'Remote-MTA: dns; mx.remote.test',
    'Diagnostic-Code: smtp; 450 4.2.1 Mailbox busy',
    'Last-Attempt-Date: Sat, 01 Mar 2025 14:00:00 +0000',
    'Will-Retry-Until: Thu, 06 Mar 2025 10:00:00 +0000',
  ].join('\r\n'));
  assert.match(returned ?? '', /^\r\nContent-Type: text\/rfc822-headers\r\n\r\nFrom: <app@corp\.test>[\s\S]*Message-ID: <q1@corp\.test>\r\n\r\n$/);
  assert.doesNotMatch(text, /line one|hidden dot/, 'no body in a delay notice');
});

void test('a report with a failure and a delay is a failure report: Undeliverable, the full message', () => {
  const text = buildDsn(input(envelope(), [
    { index: 0, action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 no such user' },
    { index: 2, action: 'delayed', status: '4.4.1', diagnostic: '451 4.4.1 later', willRetryUntil: '2025-03-06T10:00:00.000Z' },
  ])).body.toString('latin1');
  assert.match(text, /^Subject: Undeliverable: quarterly report\r$/m);
  assert.match(text, /Action: delayed\r\nStatus: 4\.4\.1\r\nDiagnostic-Code: smtp; 451 4\.4\.1 later\r\nWill-Retry-Until: /);
  assert.match(text, /Content-Type: message\/rfc822\r\n/);
});

/** The bytes of a DSN that we write: everything but the returned message's own content. */
function ourBytes(body: Buffer): Buffer {
  const text = body.toString('latin1');
  const boundary = /boundary="([^"]+)"/.exec(text)?.[1] ?? '';
  const delimiter = `\r\n--${boundary}\r\n`;
  let at = -1;
  for (let i = 0; i < 3; i += 1) at = text.indexOf(delimiter, at + 1);
  assert.ok(at > 0, 'three parts');
  const contentStart = text.indexOf('\r\n\r\n', at + delimiter.length) + 4;
  const closing = text.lastIndexOf(`--${boundary}--\r\n`);
  return Buffer.concat([body.subarray(0, contentStart), body.subarray(closing)]);
}

const TOP_FIELDS = ['From', 'To', 'Subject', 'Date', 'Message-ID', 'Auto-Submitted', 'MIME-Version', 'Content-Type'];
const STATUS_FIELDS = new Set([
  'Reporting-MTA', 'X-Relay-Queue-ID', 'Original-Envelope-Id', 'Arrival-Date', 'Original-Recipient', 'Final-Recipient', 'Action',
  'Status', 'Remote-MTA', 'Diagnostic-Code', 'Last-Attempt-Date', 'Will-Retry-Until',
]);

function assertOnlyOurFields(body: Buffer, label: string): void {
  const text = body.toString('utf8');
  const { head, parts: [human, status] } = parts(text);
  assert.deepEqual(fieldNames(head.slice(0, head.indexOf('\r\n\r\n') + 2)), [...TOP_FIELDS, ...(/Content-Transfer-Encoding/.test(head) ? ['Content-Transfer-Encoding'] : [])], `${label}: top-level fields`);
  assert.deepEqual(fieldNames((human ?? '').slice(2, (human ?? '').indexOf('\r\n\r\n') + 2)).filter((n) => n !== 'Content-Transfer-Encoding'), ['Content-Type'], `${label}: text part header`);
  for (const name of fieldNames((status ?? '').slice((status ?? '').indexOf('\r\n\r\n') + 4))) {
    assert.ok(STATUS_FIELDS.has(name), `${label}: unexpected delivery-status field ${JSON.stringify(name)}`);
  }
}

for (const { name, brk } of BREAKS) {
  void test(`issue 17 item 2: ${name} in any envelope field never writes a line of its own into the DSN`, () => {
    const hostile = payload(brk);
    const base = envelope({ rcptTo: [{ address: 'gone@remote.test' }], dsnEnvid: 'ENV1' });
    const variants: Array<{ field: string; env: MessageEnvelope; body?: Buffer; report?: Partial<DsnInput['recipients'][number]> }> = [
      { field: 'MAIL FROM', env: { ...base, mailFrom: `${hostile}@evil.test` } },
      { field: 'RCPT TO', env: { ...base, rcptTo: [{ address: `${hostile}@remote.test` }] } },
      { field: 'ORCPT rfc822', env: { ...base, rcptTo: [{ address: 'gone@remote.test', orcpt: `rfc822;${hostile}@remote.test` }] } },
      { field: 'ORCPT utf-8', env: { ...base, rcptTo: [{ address: 'gone@remote.test', orcpt: `utf-8;${hostile}@remote.test` }] } },
      { field: 'ENVID', env: { ...base, dsnEnvid: hostile } },
      { field: 'Subject (UTF-8 bytes)', env: base, body: Buffer.from(`Subject: ${hostile}\r\nFrom: <a@corp.test>\r\n\r\nbody\r\n`) },
      { field: 'remote reply echoing the address', env: base, report: { diagnostic: `550 5.1.1 <${hostile}@remote.test>: no such user`, remoteMta: hostile } },
    ];
    for (const v of variants) {
      for (const [action, status, extra] of [['failed', '5.1.1', {}], ['delayed', '4.4.1', { willRetryUntil: '2025-03-06T10:00:00.000Z' }]] as const) {
        for (const dsnRet of ['FULL', 'HDRS'] as const) {
          const label = `${name} in ${v.field}, ${action}, RET=${dsnRet}`;
          const dsn = buildDsn({
            ...input({ ...v.env, dsnRet }, [{ index: 0, action, status, diagnostic: '550 5.1.1 no such user', ...extra, ...v.report }]),
            ...(v.body ? { body: v.body } : {}),
          });
          assertNoInjectedLine(ourBytes(dsn.body), label);
          assertOnlyOurFields(dsn.body, label);
          assert.equal(dsn.envelope.rcptTo[0]?.address, v.env.mailFrom, `${label}: the DSN still goes to the sender`);
        }
      }
    }
  });
}

void test('issue 17 item 2: xtext-encoded CR LF in ORCPT and ENVID stays inside its field', () => {
  const env = envelope({ rcptTo: [{ address: 'gone@remote.test', orcpt: 'rfc822;x+0D+0AX-Injected:+20yes@remote.test' }], dsnEnvid: 'e+0D+0AX-Injected:+20yes' });
  const dsn = buildDsn(input(env, [{ index: 0, action: 'failed', status: '5.1.1' }]));
  assertNoInjectedLine(ourBytes(dsn.body), 'xtext');
  assertOnlyOurFields(dsn.body, 'xtext');
});

void test('an internationalised sender gets a UTF-8 DSN (RFC 6533): To in UTF-8, message/global-delivery-status, utf-8 address type, RFC 2047 Subject', () => {
  const subject = 'Bericht für Jörg – 日本語';
  const body = Buffer.from(`From: <jörg@bücher.test>\r\nSubject: ${subject}\r\n\r\nHallo\r\n`);
  const env = envelope({ mailFrom: 'jörg@bücher.test', rcptTo: [{ address: 'größe@bücher.test' }, { address: 'plain@remote.test' }], dsnEnvid: undefined });
  const dsn = buildDsn({ ...input(env, [{ index: 0, action: 'failed', status: '5.1.1' }, { index: 1, action: 'failed', status: '5.1.1' }]), body });
  const text = dsn.body.toString('utf8');
  const { head, parts: [human, status, returned] } = parts(text);
  assert.match(head, /^To: <jörg@bücher\.test>\r$/m);
  const encoded = /^Subject: ((?:.|\r\n[ \t])*)\r$/m.exec(head)?.[1] ?? '';
  assert.match(encoded, /^=\?UTF-8\?B\?/, 'non-ASCII subject as encoded words');
  for (const line of `Subject: ${encoded}`.split('\r\n')) assert.ok(line.length <= 76, `folded within RFC 2047's 76: ${line}`);
  const decoded = encoded.split(/\r\n[ \t]/).map((w) => Buffer.from(/^ ?=\?UTF-8\?B\?([^?]*)\?=$/.exec(w)?.[1] ?? '', 'base64')).reduce((a, b) => Buffer.concat([a, b]));
  assert.equal(decoded.toString('utf8'), `Undeliverable: ${subject}`);
  assert.match(human ?? '', /charset=utf-8/);
  assert.match(human ?? '', /<größe@bücher\.test>: failed/);
  assert.match(status ?? '', /^\r\nContent-Type: message\/global-delivery-status\r\n/);
  assert.match(status ?? '', /^Final-Recipient: utf-8; größe@bücher\.test\r$/m);
  assert.match(status ?? '', /^Final-Recipient: rfc822; plain@remote\.test\r$/m);
  assert.match(returned ?? '', /^\r\nContent-Type: message\/global\r\n/, 'UTF-8 headers come back as message/global');
  const hdrs = buildDsn({ ...input({ ...env, dsnRet: 'HDRS' }, [{ index: 0, action: 'failed', status: '5.1.1' }]), body }).body.toString('utf8');
  assert.match(hdrs, /Content-Type: message\/global-headers\r\n/);
});

void test('an ASCII DSN stays as it was: message/delivery-status, us-ascii, rfc822 addresses', () => {
  const text = buildDsn(input(envelope(), [{ index: 0, action: 'failed', status: '5.1.1' }])).body.toString('latin1');
  assert.match(text, /Content-Type: message\/delivery-status\r\n/);
  assert.match(text, /charset=us-ascii/);
  assert.ok([...text].every((c) => c.charCodeAt(0) < 0x80), 'ASCII only');
});

void test('an address that is not valid in a header is not written into one', () => {
  for (const mailFrom of ['a b@evil.test', 'a@b@evil.test', 'x"y@evil.test', 'x\\@evil.test', 'x@evil.test>', 'no-domain', 'x@[1.2.3.4\u010a]', 'x@do main.test']) {
    const dsn = buildDsn(input(envelope({ mailFrom }), [{ index: 0, action: 'failed', status: '5.1.1' }]));
    const to = /^To: (.*)\r$/m.exec(dsn.body.toString('utf8'))?.[1] ?? '';
    assert.match(to, /^(?:<[^<>\s]+>|undisclosed-recipients:;)$/, `${mailFrom} -> ${to}`);
    assertNoInjectedLine(ourBytes(dsn.body), mailFrom);
  }
  const quoted = buildDsn(input(envelope({ mailFrom: 'a:b(c)@corp.test' }), [{ index: 0, action: 'failed', status: '5.1.1' }])).body.toString('utf8');
  assert.match(quoted, /^To: <"a:b\(c\)"@corp\.test>\r$/m, 'specials are quoted, the address is kept');
});
