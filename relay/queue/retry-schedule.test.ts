import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expiresAtMs, isDelayNoticeDue, isExpired, nextAttemptAtMs, retryDelayMs, RETRY_JITTER } from './retry-schedule.ts';

const POSTFIX = { minBackoffMs: 300_000, maxBackoffMs: 4_000_000, maxAgeMs: 5 * 86_400_000, delayNotificationMs: 4 * 3_600_000 };
const middle = (): number => 0.5;

void test('backoff doubles from minBackoff up to maxBackoff (no jitter at the midpoint)', () => {
  const delays = [1, 2, 3, 4, 5, 6, 50].map((n) => retryDelayMs(n, POSTFIX, middle));
  assert.deepEqual(delays, [300_000, 600_000, 1_200_000, 2_400_000, 4_000_000, 4_000_000, 4_000_000]);
});

void test('jitter stays within the band and never exceeds maxBackoff', () => {
  const low = retryDelayMs(2, POSTFIX, () => 0);
  const high = retryDelayMs(2, POSTFIX, () => 0.999999);
  assert.equal(low, Math.round(600_000 * (1 - RETRY_JITTER)));
  assert.ok(high <= 600_000 * (1 + RETRY_JITTER) && high > 600_000);
  assert.equal(retryDelayMs(10, POSTFIX, () => 0.999999), 4_000_000);
  for (let i = 0; i < 200; i += 1) {
    const d = retryDelayMs(1 + (i % 8), POSTFIX);
    assert.ok(d >= 300_000 * (1 - RETRY_JITTER) && d <= 4_000_000, `delay ${d}`);
  }
});

void test('tiny values work (tests run in milliseconds)', () => {
  const tiny = { minBackoffMs: 20, maxBackoffMs: 80, maxAgeMs: 1000, delayNotificationMs: 0 };
  assert.deepEqual([1, 2, 3, 4].map((n) => retryDelayMs(n, tiny, middle)), [20, 40, 80, 80]);
  assert.equal(retryDelayMs(1, { minBackoffMs: 0, maxBackoffMs: 0, maxAgeMs: 1, delayNotificationMs: 0 }, middle), 1);
});

void test('expiry: maxAge after receivedAt, and the next attempt is clamped to it', () => {
  const receivedAt = '2025-01-01T00:00:00.000Z';
  const t0 = Date.parse(receivedAt);
  assert.equal(expiresAtMs(receivedAt, POSTFIX), t0 + POSTFIX.maxAgeMs);
  assert.equal(isExpired(receivedAt, t0 + POSTFIX.maxAgeMs - 1, POSTFIX), false);
  assert.equal(isExpired(receivedAt, t0 + POSTFIX.maxAgeMs, POSTFIX), true);
  const nearEnd = t0 + POSTFIX.maxAgeMs - 1000;
  assert.equal(nextAttemptAtMs(nearEnd, 9, receivedAt, POSTFIX, middle), t0 + POSTFIX.maxAgeMs);
  assert.equal(nextAttemptAtMs(t0, 1, receivedAt, POSTFIX, middle), t0 + 300_000);
});

void test('a delay notice is due from delayNotification on, until the message expires', () => {
  const receivedAt = '2025-01-01T00:00:00.000Z';
  const t0 = Date.parse(receivedAt);
  const delay = POSTFIX.delayNotificationMs;
  assert.equal(isDelayNoticeDue(receivedAt, t0, POSTFIX), false);
  assert.equal(isDelayNoticeDue(receivedAt, t0 + delay - 1, POSTFIX), false);
  assert.equal(isDelayNoticeDue(receivedAt, t0 + delay, POSTFIX), true);
  assert.equal(isDelayNoticeDue(receivedAt, t0 + POSTFIX.maxAgeMs - 1, POSTFIX), true);
  assert.equal(isDelayNoticeDue(receivedAt, t0 + POSTFIX.maxAgeMs, POSTFIX), false, 'expired: the final attempt fails instead');
  assert.equal(isDelayNoticeDue(receivedAt, t0 + delay, { ...POSTFIX, delayNotificationMs: 0 }), false, '0 turns notices off');
  const notShorter = { ...POSTFIX, delayNotificationMs: POSTFIX.maxAgeMs };
  for (const now of [t0, t0 + POSTFIX.maxAgeMs - 1, t0 + POSTFIX.maxAgeMs, t0 + 2 * POSTFIX.maxAgeMs]) {
    assert.equal(isDelayNoticeDue(receivedAt, now, notShorter), false, 'not shorter than maxAge: never due');
  }
});
