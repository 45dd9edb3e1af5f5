/*
 * What `queue --hub` and `track --hub` make of several pods' answers: POD/ID ids parsed and
 * refused with the argument named, queues and messages merged with their pod, tracking
 * entries merged by time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrackingEntry } from '../../relay/log/tracking-log-search.ts';
import type { MessageSummary, NextHopQueue } from '../../relay/queue/queue-view.ts';
import { FlagError } from './flags.ts';
import { groupByPod, limitMerged, mergeMessages, mergeQueues, mergeTracking, parsePodMessageId } from './queue-aggregate.ts';

test('POD/ID and ID --pod POD name a message; anything else is a flag error naming the argument', () => {
  assert.deepEqual(parsePodMessageId('queue show', 'mail-relay-1/0a1b2c', undefined), { pod: 'mail-relay-1', id: '0a1b2c' });
  assert.deepEqual(parsePodMessageId('queue show', '0a1b2c', 'mail-relay-0'), { pod: 'mail-relay-0', id: '0a1b2c' });
  assert.deepEqual(parsePodMessageId('queue show', 'mail-relay-0/0a1b2c', 'mail-relay-0'), { pod: 'mail-relay-0', id: '0a1b2c' });
  const refused: [string, string | undefined, RegExp][] = [
    ['0a1b2c', undefined, /"0a1b2c": with --hub, give the message as POD\/ID .* or add --pod POD/],
    ['mail-relay-0/', undefined, /no message id after the pod/],
    ['Mail_Relay/0a1b', undefined, /"Mail_Relay" is not a pod name/],
    ['a/b/c', undefined, /no message id after the pod/],
    ['mail-relay-1/0a1b', 'mail-relay-0', /names pod mail-relay-1 but --pod is mail-relay-0/],
  ];
  for (const [arg, pod, message] of refused) {
    assert.throws(() => parsePodMessageId('queue hold', arg, pod), (e: unknown) => e instanceof FlagError && message.test(e.message) && e.message.startsWith('relay-operator queue hold:'), arg);
  }
  assert.deepEqual([...groupByPod([{ pod: 'b', id: '1' }, { pod: 'a', id: '2' }, { pod: 'b', id: '3' }])], [['b', ['1', '3']], ['a', ['2']]]);
});

const queue = (nextHop: string, count: number): NextHopQueue => ({ nextHop, count, byState: { incoming: 0, active: 0, deferred: count, hold: 0 }, oldestAgeSeconds: 60, lastError: 'connection refused', nextRetryAt: null });

test('next-hop queues of every pod, each row with its pod, by next hop then pod', () => {
  const rows = mergeQueues([
    { pod: 'hub-relay-1', answer: { queues: [queue('smarthost.example.net:25', 2), queue('a.example:25', 1)] } },
    { pod: 'hub-relay-0', answer: { queues: [queue('smarthost.example.net:25', 3)] } },
  ]);
  assert.deepEqual(rows.map((r) => [r.nextHop, r.pod, r.count]), [['a.example:25', 'hub-relay-1', 1], ['smarthost.example.net:25', 'hub-relay-0', 3], ['smarthost.example.net:25', 'hub-relay-1', 2]]);
});

const message = (id: string, ageSeconds: number): MessageSummary => ({
  id, state: 'deferred', sender: 'app@contoso.test', recipients: 1, pending: 1, size: 10, receivedAt: '2026-12-06T10:00:00Z', ageSeconds, nextHops: ['smarthost'], attempts: 1, nextAttemptAt: null, lastError: null,
});

test('messages of every pod with POD/ID ids, oldest first; the pods with more pages say where to continue', () => {
  const merged = mergeMessages([
    { pod: 'hub-relay-0', answer: { messages: [message('aa', 10), message('bb', 300)], next: 'bb' } },
    { pod: 'hub-relay-1', answer: { messages: [message('cc', 100)], next: null } },
  ]);
  assert.deepEqual(merged.messages.map((m) => [m.id, m.pod]), [['hub-relay-0/bb', 'hub-relay-0'], ['hub-relay-1/cc', 'hub-relay-1'], ['hub-relay-0/aa', 'hub-relay-0']]);
  assert.deepEqual(merged.more, [{ pod: 'hub-relay-0', after: 'bb' }]);
});

const entry = (at: string, id: TrackingEntry['event-id']): TrackingEntry => ({
  log: 'tracking', 'date-time': at, 'event-id': id, source: 'SMTP', 'internal-message-id': 'Q', 'network-message-id': '<m@x>', 'sender-address': 'a@b',
  'recipient-address': ['c@d'], 'recipient-count': 1, 'total-bytes': 1, 'connector-id': 'mail/apps', 'recipient-status': [''],
});

test('tracking entries of every pod merged by time, ties in pod order then each pod\'s own order; a limit keeps the oldest', () => {
  const merged = mergeTracking([
    { pod: 'hub-relay-1', answer: { entries: [entry('2026-12-06T10:00:01.000Z', 'RECEIVE'), entry('2026-12-06T10:00:03.000Z', 'DEFER'), entry('2026-12-06T10:00:03.000Z', 'SEND')] } },
    { pod: 'hub-relay-0', answer: { entries: [entry('2026-12-06T10:00:02.000Z', 'RECEIVE'), entry('2026-12-06T10:00:03.000Z', 'SEND')] } },
  ]);
  assert.deepEqual(merged.map((e) => `${e.pod} ${e['date-time'].slice(17, 19)} ${e['event-id']}`), [
    'hub-relay-1 01 RECEIVE', 'hub-relay-0 02 RECEIVE', 'hub-relay-0 03 SEND', 'hub-relay-1 03 DEFER', 'hub-relay-1 03 SEND',
  ]);
  assert.deepEqual(limitMerged(merged, 2).rows.map((e) => e['event-id']), ['RECEIVE', 'RECEIVE']);
  assert.equal(limitMerged(merged, 2).truncated, true);
  assert.equal(limitMerged(merged, 0).rows.length, 5);
  assert.equal(limitMerged(merged, 5).truncated, false);
});
