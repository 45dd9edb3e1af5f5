import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DestinationLimiter } from './smtp-pool.ts';
import { resolveDeliveryTuning } from './tuning.ts';

void test('DestinationLimiter: at most `limit` per key, FIFO, keys independent', async () => {
  const limiter = new DestinationLimiter();
  const order: string[] = [];
  const a1 = await limiter.acquire('a', 2);
  const a2 = await limiter.acquire('a', 2);
  const b1 = await limiter.acquire('b', 2);
  const a3 = limiter.acquire('a', 2).then((release) => (order.push('a3'), release));
  const a4 = limiter.acquire('a', 2).then((release) => (order.push('a4'), release));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, []);
  a1();
  a1(); // a second release is a no-op
  (await a3)();
  a2();
  (await a4)();
  b1();
  assert.deepEqual(order, ['a3', 'a4']);
  const again = await limiter.acquire('a', 1);
  again();
});

void test('tuning: defaults, and each bad value named', () => {
  assert.equal(resolveDeliveryTuning().maxActiveMessages, 100);
  assert.equal(resolveDeliveryTuning({ pollIntervalMs: 20 }).pollIntervalMs, 20);
  assert.throws(() => resolveDeliveryTuning({ destinationConcurrency: 0 }), { code: 'RELAY_ERR_DELIVERY_INVALID_ARGUMENT', message: /destinationConcurrency/ });
  assert.throws(() => resolveDeliveryTuning({ pollIntervalMs: 1.5 }), /pollIntervalMs/);
});
