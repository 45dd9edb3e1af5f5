import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideFailure, enhancedStatus, type SmtpPhase } from './failure-policy.ts';

// desc | phase | code | reply | final host | action | reason | status
const TABLE: Array<[string, SmtpPhase, number | null, string, boolean, string, string, string]> = [
  ['connection refused, more hosts', 'connect', null, '', false, 'nextHost', 'hostUnavailable', '4.4.1'],
  ['connection refused, last host', 'connect', null, '', true, 'deferred', 'hostUnavailable', '4.4.1'],
  ['421 greeting, more hosts', 'connect', 421, '421 4.3.2 shutting down', false, 'nextHost', 'hostUnavailable', '4.3.2'],
  ['421 greeting, last host', 'connect', 421, '421 4.3.2 shutting down', true, 'deferred', 'hostUnavailable', '4.3.2'],
  ['554 greeting, more hosts', 'connect', 554, '554 no service', false, 'nextHost', 'hostRejectedSession', '4.4.1'],
  ['554 greeting, last host', 'connect', 554, '554 5.7.1 go away', true, 'failed', 'hostRejectedSession', '5.7.1'],
  ['STARTTLS failed, more hosts', 'tls', null, '', false, 'nextHost', 'tlsFailed', '4.7.5'],
  ['STARTTLS required, not offered, last host', 'tls', null, '', true, 'deferred', 'tlsFailed', '4.7.5'],
  ['AUTH 535, last host: never bounce', 'auth', 535, '535 5.7.8 bad credentials', true, 'deferred', 'authFailed', '4.7.8'],
  ['AUTH 454, more hosts', 'auth', 454, '454 4.7.0 try later', false, 'nextHost', 'authFailed', '4.7.0'],
  ['MAIL 451, more hosts', 'mail', 451, '451 4.3.0 later', false, 'nextHost', 'senderDeferred', '4.3.0'],
  ['MAIL 553, more hosts: bounce', 'mail', 553, '553 5.1.8 bad sender', false, 'failed', 'senderRejected', '5.1.8'],
  ['RCPT 450, more hosts', 'rcpt', 450, '450 4.2.1 mailbox busy', false, 'nextHost', 'recipientDeferred', '4.2.1'],
  ['RCPT 450, last host', 'rcpt', 450, '450 4.2.1 mailbox busy', true, 'deferred', 'recipientDeferred', '4.2.1'],
  ['RCPT 550, more hosts: bounce at once', 'rcpt', 550, '550 5.1.1 no such user', false, 'failed', 'recipientRejected', '5.1.1'],
  ['RCPT 550 without enhanced code', 'rcpt', 550, '550 no such user', true, 'failed', 'recipientRejected', '5.1.1'],
  ['RCPT 550 with a class-4 enhanced code: class follows the reply', 'rcpt', 550, '550 4.2.2 over quota', true, 'failed', 'recipientRejected', '5.2.2'],
  ['RCPT 503 (bad sequence) is soft', 'rcpt', 503, '503 5.5.1 bad sequence', true, 'deferred', 'recipientDeferred', '4.5.1'],
  ['DATA 452, last host', 'data', 452, '452 4.3.1 insufficient storage', true, 'deferred', 'messageDeferred', '4.3.1'],
  ['end of DATA 554, more hosts: bounce', 'data', 554, '554 5.6.0 content rejected', false, 'failed', 'messageRejected', '5.6.0'],
  ['dropped during DATA, last host', 'data', null, '', true, 'deferred', 'messageDeferred', '4.3.0'],
  ['421 after DATA, more hosts', 'data', 421, '421 closing', false, 'nextHost', 'messageDeferred', '4.3.0'],
];

for (const [desc, phase, code, reply, finalHost, action, reason, status] of TABLE) {
  void test(`policy: ${desc}`, () => {
    assert.deepEqual(decideFailure({ phase, code, reply, finalHost }), { action, reason, dsnStatus: status });
  });
}

void test('enhancedStatus reads x.y.z after the reply code only', () => {
  assert.equal(enhancedStatus('550 5.1.1 <a@b>: no such user'), '5.1.1');
  assert.equal(enhancedStatus('250-2.0.0 ok'), '2.0.0');
  assert.equal(enhancedStatus('550 no such user 5.1.1'), '');
  assert.equal(enhancedStatus(undefined), '');
});
