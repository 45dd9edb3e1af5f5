import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrackingLog, trackingLine, type TrackingEvent } from '../log/tracking-log.ts';

const EVENT: TrackingEvent = {
  'event-id': 'SEND', source: 'QUEUE', 'connector-id': 'mail/internet', 'internal-message-id': '0190000000000001aaaaaaaaaaaa',
  'network-message-id': 'abc@corp.test', 'sender-address': 'a@corp.test', 'recipient-address': ['b@x.test'],
  'recipient-status': ['250 2.0.0 Ok'], 'recipient-count': 1, 'total-bytes': 1234, 'server-hostname': 'smtp.x.test:25',
};

void test('a tracking line is one JSON object with log "tracking" and Exchange field names', () => {
  const line = trackingLine(EVENT, new Date('2025-01-01T00:00:00.000Z'));
  assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
  assert.deepEqual(JSON.parse(line), { log: 'tracking', 'date-time': '2025-01-01T00:00:00.000Z', ...EVENT });
});

void test('TrackingLog writes to its sink with its clock', () => {
  const lines: string[] = [];
  new TrackingLog((l) => lines.push(l), () => Date.parse('2025-02-02T00:00:00.000Z')).write({ ...EVENT, 'event-id': 'FAIL' });
  const parsed = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  assert.equal(parsed['event-id'], 'FAIL');
  assert.equal(parsed['date-time'], '2025-02-02T00:00:00.000Z');
});
