import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { Controller, TerminalError, type Reconciler } from './controller.ts';
import { WorkQueue } from './workqueue.ts';
import { ItemExponentialRateLimiter } from './rate-limiter.ts';
import type { ReconciledMessage } from './diagnostics.ts';
import type { TestContext } from 'node:test';

function setup(t: TestContext, reconcile: Reconciler, maxConcurrentReconciles = 1) {
  const registry = new Registry();
  const queue = new WorkQueue({ name: 'c', registry, rateLimiter: new ItemExponentialRateLimiter(5, 50) });
  const controller = new Controller({ name: 'c', queue, reconcile, maxConcurrentReconciles, registry });
  controller.start();
  t.after(() => controller.stop());
  const count = async (result: string): Promise<number> =>
    (await registry.getSingleMetric('controller_runtime_reconcile_total')?.get())?.values.find((v) => v.labels.result === result)?.value ?? 0;
  const single = async (name: string): Promise<number> => (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
  return { queue, controller, registry, count, single };
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

void test('success forgets the key and counts result=success', async (t) => {
  const seen: string[] = [];
  const { queue, count, single } = setup(t, (key) => {
    seen.push(key);
    return Promise.resolve();
  });
  queue.add('ns/a');
  await until(() => seen.length === 1);
  await sleep(5);
  assert.equal(await count('success'), 1);
  assert.equal(await count('error'), 0);
  assert.equal(await single('controller_runtime_max_concurrent_reconciles'), 1);
  assert.equal(queue.numRequeues('ns/a'), 0);
});

void test('errors are retried with backoff until success; the backoff is then forgotten', async (t) => {
  let calls = 0;
  const { queue, count, single } = setup(t, () => {
    calls++;
    return calls < 4 ? Promise.reject(new Error('API hiccup')) : Promise.resolve();
  });
  queue.add('ns/a');
  await until(() => calls === 4);
  await sleep(5);
  assert.equal(await count('error'), 3);
  assert.equal(await count('success'), 1);
  assert.equal(await single('controller_runtime_reconcile_errors_total'), 3);
  assert.equal(queue.numRequeues('ns/a'), 0);
});

void test('a TerminalError is recorded and not retried', async (t) => {
  let calls = 0;
  const messages: ReconciledMessage[] = [];
  const listener = (m: unknown): void => void messages.push(m as ReconciledMessage);
  diagnostics_channel.subscribe('relay:runtime:reconciled', listener);
  t.after(() => diagnostics_channel.unsubscribe('relay:runtime:reconciled', listener));
  const { queue, single } = setup(t, () => {
    calls++;
    return Promise.reject(new TerminalError('spec.bindings names no hub address'));
  });
  queue.add('ns/bad');
  await until(() => calls === 1);
  await sleep(100);
  assert.equal(calls, 1);
  assert.equal(await single('controller_runtime_terminal_reconcile_errors_total'), 1);
  assert.equal(await single('controller_runtime_reconcile_errors_total'), 1);
  const mine = messages.filter((m) => m.key === 'ns/bad');
  assert.equal(mine.length, 1);
  assert.equal(mine[0]?.terminal, true);
  assert.equal(mine[0]?.result, 'error');
});

void test('requeueAfter reconciles the key again after the delay', async (t) => {
  const times: number[] = [];
  const { queue, count } = setup(t, () => {
    times.push(performance.now());
    return Promise.resolve(times.length < 3 ? { requeueAfter: 40 } : undefined);
  });
  queue.add('ns/poll');
  await until(() => times.length === 3);
  assert.ok((times[1] ?? 0) - (times[0] ?? 0) >= 35);
  await sleep(5);
  assert.equal(await count('requeue_after'), 2);
  assert.equal(await count('success'), 1);
});

void test('with several workers a key is never reconciled concurrently, other keys are', async (t) => {
  const running = new Map<string, number>();
  let maxPerKey = 0;
  let maxTotal = 0;
  let calls = 0;
  const { queue, controller } = setup(t, async (key) => {
    calls++;
    running.set(key, (running.get(key) ?? 0) + 1);
    maxPerKey = Math.max(maxPerKey, running.get(key) ?? 0);
    maxTotal = Math.max(maxTotal, [...running.values()].reduce((a, b) => a + b, 0));
    await sleep(20);
    running.set(key, (running.get(key) ?? 1) - 1);
  }, 4);
  for (let round = 0; round < 5; round++) {
    for (const k of ['a', 'a', 'b', 'c', 'd', 'a']) queue.add(`ns/${k}`);
    await sleep(7);
  }
  await until(() => queue.len() === 0 && controller.activeWorkers === 0, 3000);
  assert.equal(maxPerKey, 1, 'a key ran twice at once');
  assert.ok(maxTotal > 1 && maxTotal <= 4, `max parallel ${maxTotal}`);
  assert.ok(calls < 30, `re-adds during processing coalesce (${calls} runs for 30 adds)`);
});

void test('stop() waits for reconciles in flight and no new key starts', async (t) => {
  let finished = 0;
  let started = 0;
  const { queue, controller } = setup(t, async () => {
    started++;
    await sleep(50);
    finished++;
  });
  queue.add('ns/a');
  queue.add('ns/b');
  await until(() => started === 1);
  await controller.stop();
  assert.equal(finished, 1);
  assert.equal(started, 1);
});

void test('maxConcurrentReconciles is validated', () => {
  const queue = new WorkQueue({ name: 'v', registry: new Registry() });
  assert.throws(() => new Controller({ name: 'v', queue, reconcile: () => Promise.resolve(), maxConcurrentReconciles: 0 }), /maxConcurrentReconciles/);
  queue.shutdown();
});
