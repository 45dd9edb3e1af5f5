import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createMessageId } from './message-id.ts';
import { Spool } from './spool.ts';
import { testBody, testEnvelope } from '../../test/support/spool-messages.ts';
import type { TestContext } from 'node:test';
import type { SpoolLogEvent } from './spool.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-spool-recovery-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Commit `n` messages with one spool, close it; return the ids. */
async function seed(dir: string, n: number): Promise<string[]> {
  const spool = await Spool.open(dir, { minFreeBytes: 0 });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const body = testBody(i, 1500);
    ids.push(await spool.commitMessage(testEnvelope(body.length, i), body));
  }
  await spool.close();
  return ids;
}

/** seedFiles - like seed, but each message ends up as a file in incoming/ (moved out of the log and back). */
async function seedFiles(dir: string, n: number): Promise<string[]> {
  const ids = await seed(dir, n);
  const spool = await Spool.open(dir, { minFreeBytes: 0 });
  for (const id of ids) {
    await spool.moveMessage(id, 'incoming', 'hold');
    await spool.moveMessage(id, 'hold', 'incoming');
  }
  await spool.close();
  return ids;
}

async function reopen(t: TestContext, dir: string): Promise<{ spool: Spool; log: SpoolLogEvent[] }> {
  const log: SpoolLogEvent[] = [];
  const spool = await Spool.open(dir, { minFreeBytes: 0, log: (e) => log.push(e) });
  t.after(() => spool.close());
  return { spool, log };
}

void test('torn writes in tmp/ are deleted and logged', async (t) => {
  const dir = await tempDir(t);
  const [kept] = await seed(dir, 1);
  const torn = [createMessageId(), createMessageId()];
  await fs.writeFile(path.join(dir, 'tmp', torn[0] as string), 'H\0\0');
  await fs.writeFile(path.join(dir, 'tmp', torn[1] as string), '');
  const { spool, log } = await reopen(t, dir);
  assert.deepEqual(spool.recovery, { kept: 1, discarded: 2, corrupt: 0 });
  assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
  assert.deepEqual(
    log.filter((e) => e.event === 'tornWriteDiscarded').map((e) => e.event === 'tornWriteDiscarded' && e.file),
    [...torn].sort(),
  );
  assert.deepEqual(await spool.listMessages('incoming'), [kept]);
  assert.deepEqual(log.at(-1), { event: 'recovered', kept: 1, discarded: 2, corrupt: 0 });
});

void test('a truncated file in incoming/ goes to corrupt/ with its reason', async (t) => {
  const dir = await tempDir(t);
  const [good, bad] = await seedFiles(dir, 2);
  const file = path.join(dir, 'incoming', bad as string);
  const { size } = await fs.stat(file);
  await fs.truncate(file, size - 9); // the END record is gone entirely
  const { spool, log } = await reopen(t, dir);
  assert.deepEqual(spool.recovery, { kept: 1, discarded: 0, corrupt: 1 });
  assert.deepEqual(await spool.listMessages('incoming'), [good]);
  assert.deepEqual(await spool.listMessages('corrupt'), [bad]);
  assert.deepEqual(log.find((e) => e.event === 'corruptFileMoved'), {
    event: 'corruptFileMoved',
    file: bad,
    from: 'incoming',
    reason: 'missingEnd',
    bytes: size - 9,
  });
  assert.deepEqual(spool.damage, { corruptBytes: size - 9, framesAfterDamage: 0 }, 'the quarantined bytes are counted for relay_spool_corrupt_bytes_total');
});

void test('a file with a bad checksum goes to corrupt/, from any live state', async (t) => {
  const dir = await tempDir(t);
  const [a, b] = await seed(dir, 2);
  const seeded = await Spool.open(dir, { minFreeBytes: 0 });
  await seeded.moveMessage(b as string, 'incoming', 'deferred');
  await seeded.close();
  const file = path.join(dir, 'deferred', b as string);
  const bytes = await fs.readFile(file);
  bytes[200] = (bytes[200] ?? 0) ^ 0xff; // inside the body; lengths stay valid
  await fs.writeFile(file, bytes);
  const { spool, log } = await reopen(t, dir);
  assert.deepEqual(spool.recovery, { kept: 1, discarded: 0, corrupt: 1 });
  assert.deepEqual(await spool.listMessages('incoming'), [a]);
  assert.deepEqual(await spool.listMessages('corrupt'), [b]);
  const moved = log.find((e) => e.event === 'corruptFileMoved');
  assert.ok(moved?.event === 'corruptFileMoved' && moved.reason === 'badChecksum' && moved.from === 'deferred');
});

void test('foreign file names go to corrupt/ without overwriting what is there', async (t) => {
  const dir = await tempDir(t);
  await seed(dir, 0);
  await fs.writeFile(path.join(dir, 'corrupt', 'notes.txt'), 'earlier');
  await fs.writeFile(path.join(dir, 'hold', 'notes.txt'), 'later');
  const { spool } = await reopen(t, dir);
  assert.deepEqual(spool.recovery, { kept: 0, discarded: 0, corrupt: 1 });
  const names = (await fs.readdir(path.join(dir, 'corrupt'))).sort();
  assert.equal(names.length, 2);
  assert.equal(await fs.readFile(path.join(dir, 'corrupt', 'notes.txt'), 'utf8'), 'earlier');
  assert.match(names[1] as string, /^notes\.txt\.hold\.[0-9a-f]{8}$/);
  assert.deepEqual(await spool.listMessages('corrupt'), [], 'listMessages shows queue ids only');
});
