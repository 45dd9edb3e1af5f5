import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { DirectorySyncer } from './group-commit.ts';
import type { DirSyncReport } from './group-commit.ts';

/** A directory handle whose fsyncs finish when the test says so. */
function fakeHandle() {
  const syncs: PromiseWithResolvers<void>[] = [];
  return {
    syncs,
    handle: {
      sync(): Promise<void> {
        const s = Promise.withResolvers<void>();
        syncs.push(s);
        return s.promise;
      },
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await yieldTurn();
}

void test('callers arriving during an fsync share the next one, never the running one', async () => {
  const { syncs, handle } = fakeHandle();
  const reports: DirSyncReport[] = [];
  const syncer = new DirectorySyncer(handle, 0, (r) => reports.push(r));
  const done: string[] = [];
  const first = syncer.sync().then(() => done.push('first'));
  await settle();
  assert.equal(syncs.length, 1, 'first fsync started');

  const late = [1, 2, 3].map((n) => syncer.sync().then(() => done.push(`late${n}`)));
  await settle();
  assert.equal(syncs.length, 1, 'no second fsync while the first runs');

  syncs[0]?.resolve();
  await first;
  await settle();
  assert.deepEqual(done, ['first'], 'late callers are not acked by the fsync that began before them');
  assert.equal(syncs.length, 2, 'one fsync for all three late callers');

  syncs[1]?.resolve();
  await Promise.all(late);
  assert.deepEqual(done, ['first', 'late1', 'late2', 'late3']);
  assert.deepEqual(reports.map((r) => r.waiters), [1, 3]);
  assert.ok(syncer.idle);
});

void test('a failed fsync rejects its whole batch; the next batch gets a fresh fsync', async () => {
  const { syncs, handle } = fakeHandle();
  const syncer = new DirectorySyncer(handle, 0);
  const batch = [syncer.sync(), syncer.sync()];
  await settle();
  syncs[0]?.reject(Object.assign(new Error('EIO'), { code: 'EIO' }));
  for (const p of batch) await assert.rejects(p, /EIO/);

  const next = syncer.sync();
  await settle();
  assert.equal(syncs.length, 2);
  syncs[1]?.resolve();
  await next;
});

void test('a window gathers callers into one fsync', async () => {
  const { syncs, handle } = fakeHandle();
  const syncer = new DirectorySyncer(handle, 20);
  const first = syncer.sync();
  await new Promise((r) => setTimeout(r, 5));
  const second = syncer.sync();
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(syncs.length, 1);
  syncs[0]?.resolve();
  await Promise.all([first, second]);
});
