/*
 * The reporter's delay notices: which deferred recipients get one (NOTIFY, delayNotified,
 * delayNoticeDue, the null sender), as one `delayed` DSN per attempt with Will-Retry-Until,
 * labelled `delayed` in the tracking log and the metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QueueJob, RecipientDeliveryState, RecipientOutcome } from './job.ts';
import { TrackingLog, type TrackingEvent } from '../log/tracking-log.ts';
import type { MessageEnvelope, EnvelopeRecipient } from './envelope.ts';
import { reportAttempt } from './delivery-report.ts';
import { renderedConfig } from '../../test/support/rendered-config.ts';
import { NO_DELIVERY_METRICS } from './metrics.ts';
import { testBodyText } from '../../test/support/delivery-harness.ts';

const RECEIVED = '2025-03-01T10:00:00.000Z';
const NOW = Date.parse('2025-03-01T14:30:00.000Z');
const MAX_AGE_MS = 2 * 86_400_000;

function job(rcptTo: EnvelopeRecipient[], o: { delayNoticeDue: boolean; mailFrom?: string; notified?: number[] }): QueueJob {
  const body = Buffer.from(testBodyText('slow'), 'latin1');
  const envelope: MessageEnvelope = { mailFrom: o.mailFrom ?? 'app@corp.test', rcptTo, receivedAt: RECEIVED, connectorId: 'mail/in', sessionId: 's', clientAddress: '127.0.0.1', size: body.length };
  const recipients = rcptTo.map((r, i): RecipientDeliveryState => ({ address: r.address, status: 'pending', attempts: 3, ...(o.notified?.includes(i) ? { delayNotified: true } : {}) }));
  return {
    id: '0190000000000001aaaaaaaaaaaa', message: { envelope, body },
    recipients, pending: rcptTo.map((_, i) => i), attempts: 3, firstAttempt: false, expired: false, delayNoticeDue: o.delayNoticeDue,
    expiresAtMs: Date.parse(RECEIVED) + MAX_AGE_MS,
    signal: new AbortController().signal,
  };
}

const deferAll = (j: QueueJob): RecipientOutcome[] => j.pending.map((index) => ({ index, result: 'deferred', dsnStatus: '4.2.1', reply: '450 4.2.1 Mailbox busy', remoteMta: 'mx.remote.test' }));

async function report(j: QueueJob, outcomes = deferAll(j)) {
  const committed: Array<{ envelope: MessageEnvelope; text: string; intoReserve: boolean }> = [];
  const tracking: TrackingEvent[] = [];
  const dsnActions: string[] = [];
  await reportAttempt(j, outcomes, {
    spool: { commitMessage: (envelope, body, options) => (committed.push({ envelope, text: Buffer.concat([body].flat()).toString('latin1'), intoReserve: options?.intoReserve === true }), Promise.resolve(`0190000000000009dsn${committed.length}aaaaaaa`)) },
    config: renderedConfig([], { maxAgeMs: MAX_AGE_MS, delayNotificationMs: 4 * 3_600_000 }),
    tracking: new TrackingLog((line) => void tracking.push(JSON.parse(line) as TrackingEvent), () => NOW),
    metrics: { ...NO_DELIVERY_METRICS, dsn: (action) => void dsnActions.push(action) },
    now: () => NOW,
  });
  return { committed, tracking, dsnActions };
}

const finalRecipients = (text: string): string[] => [...text.matchAll(/Final-Recipient: rfc822; (\S+)\r\nAction: (\S+)/g)].map((m) => `${m[1]} ${m[2]}`);

void test('one delayed DSN for the deferred recipients whose NOTIFY allows it and who were not told yet', async () => {
  const j = job([
    { address: 'plain@remote.test' },
    { address: 'failure-only@remote.test', notify: ['FAILURE'] },
    { address: 'delay@remote.test', notify: ['DELAY'] },
    { address: 'told@remote.test' },
    { address: 'never@remote.test', notify: ['NEVER'] },
  ], { delayNoticeDue: true, notified: [3] });
  const { committed, tracking, dsnActions } = await report(j);
  assert.equal(committed.length, 1, 'one report per attempt');
  const [dsn] = committed;
  assert.equal(dsn?.intoReserve, true, 'a DSN may use the spool reserve that client messages may not');
  assert.deepEqual(dsn?.envelope.rcptTo, [{ address: 'app@corp.test' }]);
  assert.equal(dsn?.envelope.mailFrom, '');
  assert.deepEqual(finalRecipients(dsn?.text ?? ''), ['plain@remote.test delayed', 'delay@remote.test delayed']);
  const until = new Date(Date.parse(RECEIVED) + MAX_AGE_MS).toUTCString().replace(/GMT$/, '+0000');
  assert.equal([...(dsn?.text ?? '').matchAll(/Will-Retry-Until: (.+)\r\n/g)].map((m) => m[1]).join('|'), `${until}|${until}`, 'receivedAt + maxAge');
  assert.match(dsn?.text ?? '', /^Subject: Delivery delayed: test slow\r$/m);
  assert.match(dsn?.text ?? '', /Status: 4\.2\.1\r\nRemote-MTA: dns; mx\.remote\.test\r\nDiagnostic-Code: smtp; 450 4\.2\.1 Mailbox busy\r\n/);
  assert.deepEqual(dsnActions, ['delayed']);
  const line = tracking.find((e) => e['event-id'] === 'DSN');
  assert.deepEqual(line?.['recipient-status'], ['delayed 4.2.1 plain@remote.test', 'delayed 4.2.1 delay@remote.test']);
  assert.equal(tracking.filter((e) => e['event-id'] === 'DEFER').length, 1, 'the deferral is tracked as before');
});

void test('no delay notice before it is due, for a null sender, or for recipients delivered or failed now', async () => {
  const rcpts: EnvelopeRecipient[] = [{ address: 'a@remote.test' }, { address: 'b@remote.test' }];
  assert.equal((await report(job(rcpts, { delayNoticeDue: false }))).committed.length, 0, 'not due yet');
  assert.equal((await report(job(rcpts, { delayNoticeDue: true, mailFrom: '' }))).committed.length, 0, 'never for a bounce');
  assert.equal((await report(job(rcpts, { delayNoticeDue: true, notified: [0, 1] }))).committed.length, 0, 'everybody told already');
  const mixed = job(rcpts, { delayNoticeDue: true });
  const { committed } = await report(mixed, [
    { index: 0, result: 'delivered', dsnStatus: '2.0.0', reply: '250 ok', nextHop: 'smtp.remote.test:25', dsnPassedOn: true },
    { index: 1, result: 'failed', dsnStatus: '5.1.1', reply: '550 5.1.1 no such user' },
  ]);
  assert.deepEqual(committed.map((c) => finalRecipients(c.text)), [['b@remote.test failed']], 'only the failure DSN');
});
