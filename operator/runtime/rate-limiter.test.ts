import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ItemExponentialRateLimiter, MaxOfRateLimiter, TokenBucketRateLimiter, defaultControllerRateLimiter } from './rate-limiter.ts';

void test('per-key backoff doubles from 5 ms and caps at 1000 s; forget resets it', () => {
  const limiter = new ItemExponentialRateLimiter();
  const delays = Array.from({ length: 5 }, () => limiter.when('a'));
  assert.deepEqual(delays, [5, 10, 20, 40, 80]);
  assert.equal(limiter.retries('a'), 5);
  assert.equal(limiter.when('b'), 5, 'keys back off independently');
  for (let i = 0; i < 30; i++) limiter.when('a');
  assert.equal(limiter.when('a'), 1_000_000);
  limiter.forget('a');
  assert.equal(limiter.retries('a'), 0);
  assert.equal(limiter.when('a'), 5);
});

void test('token bucket: burst 100 free, then one token per 100 ms at 10 qps, refilled by time', () => {
  let now = 0;
  const bucket = new TokenBucketRateLimiter(10, 100, () => now);
  for (let i = 0; i < 100; i++) assert.equal(bucket.when(`k${i}`), 0);
  assert.equal(Math.round(bucket.when('x')), 100);
  assert.equal(Math.round(bucket.when('y')), 200);
  now += 1000; // 10 tokens back: debt of 2 repaid, 8 saved
  for (let i = 0; i < 8; i++) assert.equal(bucket.when(`z${i}`), 0);
  assert.equal(Math.round(bucket.when('over')), 100);
  now += 3_600_000;
  for (let i = 0; i < 100; i++) assert.equal(bucket.when(`again${i}`), 0, 'the bucket never saves more than burst');
  assert.ok(bucket.when('101st') > 0);
});

void test('the default controller limiter is the max of both', () => {
  let now = 0;
  const limiter = defaultControllerRateLimiter(() => now);
  assert.equal(limiter.when('a'), 5);
  assert.equal(limiter.when('a'), 10);
  for (let i = 0; i < 98; i++) limiter.when(`b${i}`);
  // bucket exhausted: the bucket's 100 ms beats the key's fresh 5 ms
  assert.equal(Math.round(limiter.when('c')), 100);
  now += 10_000;
  assert.equal(limiter.when('a'), 20, 'per-key history survives bucket refills');
  limiter.forget('a');
  assert.equal(limiter.retries('a'), 0);
});

void test('MaxOf reports the most retries of its limiters', () => {
  const a = new ItemExponentialRateLimiter(1, 100);
  const limiter = new MaxOfRateLimiter(a, new TokenBucketRateLimiter());
  limiter.when('k');
  limiter.when('k');
  assert.equal(limiter.retries('k'), 2);
});

void test('options are validated at the door', () => {
  assert.throws(() => new ItemExponentialRateLimiter(0), { code: 'RELAY_ERR_RUNTIME_INVALID_ARGUMENT', message: /baseMs/ });
  assert.throws(() => new TokenBucketRateLimiter(10, 1.5), { message: /burst must be a positive integer/ });
});
