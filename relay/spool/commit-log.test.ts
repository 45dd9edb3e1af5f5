/*
 * The commit log across restarts: torn tails, damaged frames, D and O frames, a file that
 * wins over its frame, segment deletion (a prefix only) and moving old messages out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readQueueSnapshot } from './snapshot.ts';
import { Spool } from './spool.ts';
import { testBody, testEnvelope } from '../../test/support/spool-messages.ts';
import type { TestContext } from 'node:test';
import type { SpoolLogEvent, SpoolOptions } from './spool.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-commit-log-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function open(t: TestContext, dir: string, options: SpoolOptions = {}): Promise<{ spool: Spool; log: SpoolLogEvent[] }> {
  const log: SpoolLogEvent[] = [];
  const spool = await Spool.open(dir, { minFreeBytes: 0, log: (e) => log.push(e), ...options });
  t.after(() => spool.close());
  return { spool, log };
}

/** commit - one message at a time, so each gets its own batch (and frame order is commit order). */
async function commit(spool: Spool, seqs: number[], bytes = 1500): Promise<string[]> {
  const ids: string[] = [];
  for (const seq of seqs) {
    const body = testBody(seq, bytes);
    ids.push(await spool.commitMessage(testEnvelope(body.length, seq), body));
  }
  return ids;
}

const segments = async (dir: string, kind = '.log'): Promise<string[]> => (await fs.readdir(path.join(dir, 'log'))).filter((n) => n.endsWith(kind)).sort();

async function lastSegment(dir: string, kind = '.log'): Promise<string> {
  return path.join(dir, 'log', (await segments(dir, kind)).at(-1) as string);
}

void test('a torn tail (a crash during an append) is truncated, and what was before it kept', async (t) => {
  const dir = await tempDir(t);
  const first = await open(t, dir);
  const ids = await commit(first.spool, [1, 2, 3]);
  await first.spool.close();
  const file = await lastSegment(dir);
  const intact = (await fs.stat(file)).size;
  const frame = (await fs.readFile(file)).subarray(8, 8 + 600); // the start of a frame, cut short
  await fs.appendFile(file, frame);

  const { spool, log } = await open(t, dir);
  assert.deepEqual(spool.recovery, { kept: 3, discarded: 1, corrupt: 0 });
  assert.deepEqual(await spool.listMessages('incoming'), ids);
  assert.equal((await fs.stat(file)).size, intact, 'truncated back to the last whole frame');
  assert.deepEqual(log.find((e) => e.event === 'tornLogTailDiscarded'), { event: 'tornLogTailDiscarded', file: path.basename(file), bytes: 600 });
  for (const [i, id] of ids.entries()) assert.deepEqual((await spool.readMessage('incoming', id)).body, testBody(i + 1, 1500));
});

void test('a damaged frame inside a segment is copied to corrupt/, and the frames after it are kept', async (t) => {
  const dir = await tempDir(t);
  const first = await open(t, dir);
  const [a, b, c] = await commit(first.spool, [1, 2, 3]);
  await first.spool.close();
  const file = await lastSegment(dir);
  const bytes = await fs.readFile(file);
  const at = bytes.indexOf(Buffer.from(b as string)) + 1000; // inside b's body
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  await fs.writeFile(file, bytes);

  const { spool, log } = await open(t, dir);
  assert.deepEqual(spool.recovery, { kept: 2, discarded: 0, corrupt: 1 });
  assert.deepEqual(await spool.listMessages('incoming'), [a, c]);
  const damaged = log.find((e) => e.event === 'logDamaged');
  assert.ok(damaged?.event === 'logDamaged' && damaged.reason === 'badChecksum', JSON.stringify(damaged));
  const aside = (await fs.readdir(path.join(dir, 'corrupt'))).filter((n) => n.endsWith('.damaged'));
  assert.equal(aside.length, 1);
  assert.ok((await fs.readFile(path.join(dir, 'corrupt', aside[0] as string))).includes(Buffer.from(b as string)));
});

void test('done and moved-out messages do not come back; a file wins over its frame', async (t) => {
  const dir = await tempDir(t);
  const first = await open(t, dir);
  const [a, b, c, d] = await commit(first.spool, [1, 2, 3, 4]);
  await first.spool.moveMessage(a as string, 'incoming', 'active');
  await first.spool.removeMessage('active', a as string);
  await first.spool.moveMessage(b as string, 'incoming', 'deferred');
  await first.spool.moveMessage(d as string, 'incoming', 'hold');
  await first.spool.close();
  // a crash after d's file was written but before its O frame (in the marker file) was on disk
  const file = await lastSegment(dir, '.done');
  await fs.truncate(file, (await fs.stat(file)).size - 37);

  const { spool } = await open(t, dir);
  assert.deepEqual(spool.recovery, { kept: 3, discarded: 0, corrupt: 0 });
  assert.deepEqual(await spool.listMessages('incoming'), [c]);
  assert.deepEqual(await spool.listMessages('deferred'), [b]);
  assert.deepEqual(await spool.listMessages('hold'), [d]);
  assert.deepEqual((await spool.readMessage('hold', d as string)).body, testBody(4, 1500));
});

void test('segments are deleted oldest first once nothing in them is queued', async (t) => {
  const dir = await tempDir(t);
  const { spool, log } = await open(t, dir, { segmentBytes: 4096 });
  const [a, b] = await commit(spool, [1, 2], 5000); // one segment each
  await spool.moveMessage(b as string, 'incoming', 'active');
  await spool.removeMessage('active', b as string);
  assert.equal(log.filter((e) => e.event === 'segmentDeleted').length, 0, "b's segment stays: a's, older, is still needed");
  const [c] = await commit(spool, [3], 5000);
  await spool.moveMessage(a as string, 'incoming', 'active');
  await spool.removeMessage('active', a as string);
  await spool.close();
  assert.ok(log.filter((e) => e.event === 'segmentDeleted').length >= 2, 'both went once a was done');
  const left = await segments(dir);
  assert.ok(left.length <= 2, `left: ${left.join(' ')} (c's segment and the newest)`);

  const again = await open(t, dir, { segmentBytes: 4096 });
  assert.deepEqual(await again.spool.listMessages('incoming'), [c]);
  assert.deepEqual(again.spool.recovery, { kept: 1, discarded: 0, corrupt: 0 });
});

void test('messages in segments beyond maxSegments are moved out to files, once, intact', async (t) => {
  const dir = await tempDir(t);
  const { spool, log } = await open(t, dir, { segmentBytes: 4096, maxSegments: 2, cacheBytes: 0 });
  const ids = await commit(spool, [1, 2, 3, 4, 5], 5000);
  await spool.moveMessage(ids[0] as string, 'incoming', 'active').catch(() => {}); // unless already moved out
  const evicted = (): string[] => log.flatMap((e) => (e.event === 'messageEvicted' ? [e.id] : []));
  for (let i = 0; i < 200 && evicted().length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  await spool.close();
  assert.ok(evicted().length >= 3, `evicted ${evicted().join(' ')}`);
  assert.ok((await segments(dir)).length <= 3);

  const again = await open(t, dir, { segmentBytes: 4096, maxSegments: 2 });
  assert.deepEqual(again.spool.recovery, { kept: 5, discarded: 0, corrupt: 0 });
  const queued = [...(await again.spool.listMessages('incoming')), ...(await again.spool.listMessages('active'))];
  assert.deepEqual(queued.sort(), [...ids].sort(), 'each message exactly once');
  for (const id of ids) {
    const state = (await again.spool.listMessages('active')).includes(id) ? 'active' : 'incoming';
    const seq = ids.indexOf(id) + 1;
    assert.deepEqual((await again.spool.readMessage(state, id)).body, testBody(seq, 5000));
  }
});

void test('reads come from the log when the body is no longer cached', async (t) => {
  const dir = await tempDir(t);
  const { spool } = await open(t, dir, { cacheBytes: 0 });
  const [id] = await commit(spool, [7], 20_000);
  const message = await spool.readMessage('incoming', id as string);
  assert.deepEqual(message.body, testBody(7, 20_000));
  assert.deepEqual(message.envelope, testEnvelope(20_000, 7));
});

void test('readQueueSnapshot sees what the spool holds without opening it', async (t) => {
  const dir = await tempDir(t);
  const { spool } = await open(t, dir);
  const [a, b, c] = await commit(spool, [1, 2, 3]);
  await spool.moveMessage(a as string, 'incoming', 'active');
  await spool.removeMessage('active', a as string);
  await spool.moveMessage(b as string, 'incoming', 'deferred');
  const snapshot = readQueueSnapshot(dir);
  assert.deepEqual(snapshot.map((m) => [m.id, m.state]), [[c, 'incoming'], [b, 'deferred']]);
  assert.deepEqual(snapshot[0]?.body, testBody(3, 1500));
});

void test('done markers have their own file and group commit; marker files go with their segments', async (t) => {
  const dir = await tempDir(t);
  const { spool } = await open(t, dir, { segmentBytes: 4096 });
  const [a, b] = await commit(spool, [1, 2], 5000); // one segment each
  const before = (await fs.stat(await lastSegment(dir))).size;
  await spool.moveMessage(a as string, 'incoming', 'active');
  await spool.removeMessage('active', a as string);
  assert.equal((await fs.stat(await lastSegment(dir))).size, before, 'nothing appended to the message segment');
  assert.ok((await fs.readFile(await lastSegment(dir, '.done'))).includes(Buffer.from(a as string)), 'the D frame is in the marker file');
  await spool.moveMessage(b as string, 'incoming', 'active');
  await spool.removeMessage('active', b as string);
  await commit(spool, [3], 5000);
  await spool.close();
  const logs = await segments(dir);
  const dones = await segments(dir, '.done');
  assert.ok(dones.every((d) => logs.some((l) => l.slice(0, 16) >= d.slice(0, 16))), `marker files ${dones.join(' ')} outlive no segment (${logs.join(' ')})`);
  const again = await open(t, dir, { segmentBytes: 4096 });
  assert.equal((await again.spool.listMessages('incoming')).length, 1);
});
