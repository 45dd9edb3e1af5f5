import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SpoolEnvelope } from '../spool/spool.ts';
import { buildDsn, wantsDsn, type DsnInput } from './dsn.ts';

const BODY = Buffer.from('From: <app@corp.test>\r\nSubject: quarterly report\r\nMessage-ID: <q1@corp.test>\r\n\r\nline one\r\n.hidden dot\r\n');

function envelope(overrides: Partial<SpoolEnvelope> = {}): SpoolEnvelope {
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

const input = (env: SpoolEnvelope, recipients: DsnInput['recipients']): DsnInput => ({
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
  const env = (notify?: SpoolEnvelope['rcptTo'][number]['notify'], mailFrom = 'app@corp.test'): SpoolEnvelope =>
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
