/*
 * relay/session/password-worker - bcrypt in worker threads: the event loop stays free, the
 * queue is bounded (overall and per key) and answers 'busy' past it, clean checks go first.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { PasswordPool } from './password-worker.ts';
import { checkPassword, parseUsers } from './users.ts';

const HASH_10 = bcrypt.hashSync('right', 10);
const pools: PasswordPool[] = [];
const pool = (options: ConstructorParameters<typeof PasswordPool>[0]): PasswordPool => {
  const p = new PasswordPool(options);
  pools.push(p);
  return p;
};
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

test('checks answer match and mismatch from a worker', async () => {
  const p = pool({ workers: 1 });
  assert.equal(await p.verify('right', HASH_10), 'match');
  assert.equal(await p.verify('wrong', HASH_10), 'mismatch');
  assert.equal(await p.verify('right', 'not a hash'), 'mismatch');
});

test('checkPassword keeps the event loop free while bcrypt runs (was about 65 ms of it per check)', async () => {
  const directory = parseUsers(`alice:${bcrypt.hashSync('right', 11)}`, 'users');
  await checkPassword(directory, 'alice', 'warm-up');
  const before = performance.eventLoopUtilization();
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => checkPassword(directory, i % 2 ? 'alice' : 'nobody', 'wrong')));
  const elu = performance.eventLoopUtilization(before);
  assert.deepEqual(results, [null, null, null, null, null, null]);
  // Six cost-11 checks are close to a second of CPU; on the event loop that made it busy throughout.
  assert.ok(elu.utilization < 0.3, `event loop busy ${(elu.utilization * 100).toFixed(0)}% of ${elu.idle + elu.active} ms`);
});

test('past maxQueued a check is answered busy at once', async () => {
  const p = pool({ workers: 1, maxQueued: 2, maxPerKey: 0 });
  const running = p.verify('x', HASH_10);
  const queued = [p.verify('x', HASH_10), p.verify('x', HASH_10)];
  assert.equal(p.running, 1);
  assert.equal(p.queued, 2);
  const started = performance.now();
  assert.equal(await p.verify('right', HASH_10), 'busy');
  assert.ok(performance.now() - started < 20, 'answered without waiting for a worker');
  assert.deepEqual(await Promise.all([running, ...queued]), ['mismatch', 'mismatch', 'mismatch']);
  assert.equal(await p.verify('right', HASH_10), 'match', 'room again once the queue drained');
});

test('one key holds at most maxPerKey checks; other keys still get in', async () => {
  const p = pool({ workers: 1, maxQueued: 32, maxPerKey: 2 });
  const a = [p.verify('x', HASH_10, '192.0.2.1'), p.verify('x', HASH_10, '192.0.2.1')];
  assert.equal(await p.verify('x', HASH_10, '192.0.2.1'), 'busy');
  const b = p.verify('right', HASH_10, '192.0.2.2');
  assert.deepEqual(await Promise.all([...a, b]), ['mismatch', 'mismatch', 'match']);
  assert.equal(await p.verify('right', HASH_10, '192.0.2.1'), 'match', 'the key is released when its checks end');
});

test('low checks wait behind the others', async () => {
  const p = pool({ workers: 1, maxQueued: 32, maxPerKey: 0 });
  const order: string[] = [];
  const track = (name: string, outcome: Promise<string>): Promise<void> => outcome.then(() => void order.push(name));
  const all = [
    track('running', p.verify('x', HASH_10)),
    track('low-1', p.verify('x', HASH_10, undefined, { low: true })),
    track('low-2', p.verify('x', HASH_10, undefined, { low: true })),
    track('clean', p.verify('right', HASH_10)),
  ];
  await Promise.all(all);
  assert.deepEqual(order, ['running', 'clean', 'low-1', 'low-2']);
});

test('close answers waiting checks busy', async () => {
  const p = new PasswordPool({ workers: 1 });
  const running = p.verify('x', HASH_10);
  const waiting = p.verify('x', HASH_10);
  await p.close();
  assert.deepEqual(await Promise.all([running, waiting]), ['busy', 'busy']);
  assert.equal(await p.verify('right', HASH_10), 'busy');
});
