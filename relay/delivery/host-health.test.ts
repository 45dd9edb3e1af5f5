import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostHealth, skippedFailure } from './host-health.ts';

const refused = { phase: 'connect' as const, code: null, reply: 'connect ECONNREFUSED 127.0.0.1:2525' };

void test('a host is down for downMs after it is marked, then may be tried again', () => {
  let now = 1_000;
  const health = new HostHealth(() => now);
  assert.equal(health.down('127.0.0.1:25'), null);
  assert.equal(health.markDown('127.0.0.1:25', refused, 500), true, 'newly down');
  assert.equal(health.markDown('127.0.0.1:25', refused, 500), false, 'already down: no second report');
  assert.equal(health.down('127.0.0.1:25')?.untilMs, 1_500);
  assert.equal(health.down('127.0.0.2:25'), null, 'another host is not affected');
  assert.equal(health.downCount, 1);
  now = 1_499;
  assert.ok(health.down('127.0.0.1:25'));
  now = 1_500;
  assert.equal(health.down('127.0.0.1:25'), null, 'the period is over');
  assert.equal(health.downCount, 0);
  assert.equal(health.markDown('127.0.0.1:25', refused, 500), true, 'down again after it expired: reported again');
});

void test('a session opened ends the down period at once; downMs 0 never marks', () => {
  const health = new HostHealth(() => 0);
  health.markDown('h:25', refused, 10_000);
  assert.equal(health.markUp('h:25'), true);
  assert.equal(health.down('h:25'), null);
  assert.equal(health.markUp('h:25'), false, 'was not down');
  assert.equal(health.markDown('h:25', refused, 0), false);
  assert.equal(health.down('h:25'), null);
});

void test('the failure reported for a skipped host says why and until when, and keeps a soft class', () => {
  const health = new HostHealth(() => Date.parse('2026-01-01T00:00:00Z'));
  health.markDown('h:25', { phase: 'connect', code: 421, reply: '421 4.3.2 too busy' }, 60_000);
  const failure = skippedFailure('mx.example.test:25', health.down('h:25') as NonNullable<ReturnType<HostHealth['down']>>);
  assert.equal(failure.phase, 'connect');
  assert.equal(failure.code, 421);
  assert.equal(failure.reply, 'mx.example.test:25 not tried: down until 2026-01-01T00:01:00.000Z after: 421 4.3.2 too busy');
});
