import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyExpiry, EXPIRED_STATUS, mergeOutcomes } from './attempt-result.ts';
import type { RecipientDeliveryState, RecipientOutcome } from '../delivery/job.ts';

const NOW = '2025-01-01T04:00:00.000Z';
const pending = (address: string, extra: Partial<RecipientDeliveryState> = {}): RecipientDeliveryState => ({ address, status: 'pending', attempts: 1, ...extra });
const deferred = (index: number): RecipientOutcome => ({ index, result: 'deferred', dsnStatus: '4.4.1', reply: '451 later' });

void test('mergeOutcomes marks delayNotified only for deferrals while the notice is due', () => {
  const recipients = [pending('a@x.test'), pending('b@x.test'), pending('c@x.test'), pending('d@x.test', { delayNotified: true })];
  const outcomes: RecipientOutcome[] = [
    deferred(0),
    { index: 1, result: 'delivered', dsnStatus: '2.0.0', reply: '250 ok' },
    { index: 2, result: 'failed', dsnStatus: '5.1.1', reply: '550 no' },
    deferred(3),
  ];
  const due = mergeOutcomes({ recipients, delayNoticeDue: true }, outcomes, NOW);
  assert.deepEqual(due.map((r) => [r.status, r.delayNotified]), [['pending', true], ['delivered', undefined], ['failed', undefined], ['pending', true]]);
  assert.equal(recipients[0]?.delayNotified, undefined, 'the input is not changed');
  const early = mergeOutcomes({ recipients, delayNoticeDue: false }, outcomes, NOW);
  assert.deepEqual(early.map((r) => r.delayNotified), [undefined, undefined, undefined, true], 'not due: nobody newly marked, an old mark stays');
  assert.deepEqual(early.map((r) => r.attempts), [2, 2, 2, 2]);
});

void test('applyExpiry fills in skipped recipients and fails deferrals on the final attempt', () => {
  const live = applyExpiry({ pending: [0, 1], expired: false }, [deferred(0)]);
  assert.deepEqual(live.map((o) => [o.index, o.result, o.dsnStatus]), [[0, 'deferred', '4.4.1'], [1, 'deferred', '4.3.0']]);
  const final = applyExpiry({ pending: [0], expired: true }, [deferred(0)]);
  assert.equal(final[0]?.result, 'failed');
  assert.equal(final[0]?.dsnStatus, EXPIRED_STATUS);
  assert.match(final[0]?.reply ?? '', /expired.*451 later/);
});
