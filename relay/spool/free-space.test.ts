import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FreeSpaceGuard } from './free-space.ts';

void test('reservations of writes in flight and since the last sample count against free space', async () => {
  let calls = 0;
  const statfs = (): Promise<{ bavail: number; bsize: number }> => {
    calls += 1;
    return Promise.resolve({ bavail: 250, bsize: 4 }); // 1000 bytes free
  };
  const guard = new FreeSpaceGuard('/unused', 100, statfs);
  await guard.reserve(500);
  await assert.rejects(guard.reserve(500), { code: 'RELAY_ERR_SPOOL_FULL', freeBytes: 500, neededBytes: 500 });
  guard.release(500, true); // kept on disk: still counted until the next sample
  await assert.rejects(guard.reserve(500), { code: 'RELAY_ERR_SPOOL_FULL' });
  await guard.reserve(400);
  guard.release(400, false); // a failed write gives its bytes back
  await guard.reserve(400);
  assert.equal(calls, 1, 'statfs is sampled at most once per second');
});

void test('concurrent first reservations share one statfs call', async () => {
  let calls = 0;
  const statfs = async (): Promise<{ bavail: number; bsize: number }> => {
    calls += 1;
    await new Promise((r) => setTimeout(r, 5));
    return { bavail: 1_000_000, bsize: 4096 };
  };
  const guard = new FreeSpaceGuard('/unused', 0, statfs);
  await Promise.all(Array.from({ length: 10 }, () => guard.reserve(1)));
  assert.equal(calls, 1);
});

void test('a new reserve from a reload applies to the next reservation; a bad one is refused', async () => {
  const guard = new FreeSpaceGuard('/unused', 0, () => Promise.resolve({ bavail: 250, bsize: 4 })); // 1000 bytes free
  await guard.reserve(600);
  guard.release(600, false);
  guard.setMinFreeBytes(500);
  assert.equal(guard.minFreeBytes, 500);
  await assert.rejects(guard.reserve(600), { code: 'RELAY_ERR_SPOOL_FULL', neededBytes: 600 });
  await guard.reserve(500);
  assert.throws(() => guard.setMinFreeBytes(-1), RangeError);
  assert.throws(() => guard.setMinFreeBytes(1.5), RangeError);
  assert.equal(guard.minFreeBytes, 500, 'a refused value leaves the reserve as it was');
});

void test('a write into the reserve (the hub\'s own DSNs) only needs the bytes themselves', async () => {
  const guard = new FreeSpaceGuard('/unused', 800, () => Promise.resolve({ bavail: 250, bsize: 4 })); // 1000 free, 800 kept
  await assert.rejects(guard.reserve(300), { code: 'RELAY_ERR_SPOOL_FULL' }, 'a client message may not eat into the reserve');
  await guard.reserve(300, true);
  await guard.reserve(700, true);
  await assert.rejects(guard.reserve(1, true), { code: 'RELAY_ERR_SPOOL_FULL' }, 'but not past the free space there is');
});
