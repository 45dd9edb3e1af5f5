import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { WorkQueue } from './workqueue.ts';
import { ItemExponentialRateLimiter } from './rate-limiter.ts';

function queue(name = 'q', options: Partial<ConstructorParameters<typeof WorkQueue>[0]> = {}) {
  const registry = new Registry();
  const q = new WorkQueue({ name, registry, ...options });
  return { q, registry };
}

async function value(registry: Registry, metric: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = await registry.getSingleMetric(metric)?.get();
  const want = Object.entries(labels);
  return m?.values.find((v) => want.every(([k, x]) => v.labels[k] === x) && !('le' in v.labels))?.value;
}

void test('adds of a queued key coalesce; order is first-in first-out', async (t) => {
  const { q, registry } = queue();
  t.after(() => q.shutdown());
  for (const k of ['ns/a', 'ns/b', 'ns/a', 'ns/a', 'ns/c', 'ns/b']) q.add(k);
  assert.equal(q.len(), 3);
  assert.deepEqual([await q.get(), await q.get(), await q.get()], ['ns/a', 'ns/b', 'ns/c']);
  assert.equal(await value(registry, 'workqueue_adds_total', { name: 'q', controller: 'q' }), 3);
  assert.equal(await value(registry, 'workqueue_depth'), 0);
});

void test('a key being processed is not handed out again; a re-add runs once after done()', async (t) => {
  const { q } = queue();
  t.after(() => q.shutdown());
  q.add('ns/a');
  const first = await q.get();
  assert.equal(first, 'ns/a');
  q.add('ns/a');
  q.add('ns/a');
  q.add('ns/b');
  assert.equal(q.len(), 1, 'only ns/b is waiting; ns/a is dirty but processing');
  assert.equal(await q.get(), 'ns/b');
  let handed: string | undefined;
  const waiting = q.get().then((k) => (handed = k));
  await sleep(5);
  assert.equal(handed, undefined, 'ns/a must wait for done()');
  q.done('ns/a');
  await waiting;
  assert.equal(handed, 'ns/a');
  q.done('ns/a');
  q.done('ns/b');
  assert.equal(q.len(), 0, 'the two re-adds coalesced into one run');
});

void test('waiting workers are woken by add', async (t) => {
  const { q } = queue();
  t.after(() => q.shutdown());
  const got = Promise.all([q.get(), q.get()]);
  q.add('x');
  q.add('y');
  assert.deepEqual((await got).sort(), ['x', 'y']);
});

void test('addAfter delays the key; the earliest pending time wins', async (t) => {
  const { q } = queue();
  t.after(() => q.shutdown());
  const start = performance.now();
  q.addAfter('k', 400);
  q.addAfter('k', 30);
  q.addAfter('k', 200);
  assert.equal(q.len(), 0);
  assert.equal(await q.get(), 'k');
  const waited = performance.now() - start;
  assert.ok(waited >= 25 && waited < 350, `waited ${waited} ms (the 30 ms add wins over 200 and 400)`);
  q.done('k');
  await sleep(450);
  assert.equal(q.len(), 0, 'the later addAfter calls were folded into the earliest');
  q.addAfter('now', 0);
  assert.equal(q.len(), 1);
});

void test('addRateLimited backs off exponentially per key and counts retries; forget resets', async (t) => {
  const { q, registry } = queue('rl', { rateLimiter: new ItemExponentialRateLimiter(20, 10_000) });
  t.after(() => q.shutdown());
  const gaps: number[] = [];
  for (let i = 0; i < 4; i++) {
    const start = performance.now();
    q.addRateLimited('k');
    assert.equal(await q.get(), 'k');
    gaps.push(performance.now() - start);
    q.done('k');
  }
  assert.equal(q.numRequeues('k'), 4);
  for (const [i, expected] of [20, 40, 80, 160].entries()) {
    assert.ok((gaps[i] ?? 0) >= expected - 3 && (gaps[i] ?? 0) < expected * 2 + 100, `retry ${i}: ${gaps[i]} ms, expected ~${expected}`);
  }
  assert.equal(await value(registry, 'workqueue_retries_total'), 4);
  q.forget('k');
  assert.equal(q.numRequeues('k'), 0);
});

void test('shutdown releases waiting workers, drops later adds and pending delays', async () => {
  const { q } = queue();
  const waiting = q.get();
  q.addAfter('later', 50);
  q.shutdown();
  assert.equal(await waiting, undefined);
  q.add('x');
  assert.equal(await q.get(), undefined);
  assert.equal(q.shuttingDown, true);
});

void test('queue and work durations, unfinished work and longest processor are measured', async (t) => {
  const { q, registry } = queue('m', { metricsIntervalMs: 10 });
  t.after(() => q.shutdown());
  q.add('k');
  await sleep(20);
  await q.get();
  await sleep(60);
  const longest = (await value(registry, 'workqueue_longest_running_processor_seconds')) ?? 0;
  const unfinished = (await value(registry, 'workqueue_unfinished_work_seconds')) ?? 0;
  assert.ok(longest >= 0.03 && unfinished >= 0.03, `longest ${longest}, unfinished ${unfinished}`);
  q.done('k');
  const text = await registry.metrics();
  const sum = Number(/^workqueue_queue_duration_seconds_sum\{name="m",controller="m"\} (\S+)$/m.exec(text)?.[1]);
  assert.ok(sum >= 0.015, `queue duration ${sum}`);
  assert.match(text, /^workqueue_work_duration_seconds_count\{name="m",controller="m"\} 1$/m);
  await sleep(30);
  assert.equal(await value(registry, 'workqueue_longest_running_processor_seconds'), 0);
});
