import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Spool } from '../spool/spool.ts';
import { DataMemoryBudget, DataSink, dataMemoryBudget, SESSION_MEMORY_THRESHOLD, type DataSinkFailure } from './data-sink.ts';
import type { TestContext } from 'node:test';

async function tempSpool(t: TestContext): Promise<{ dir: string; spool: Spool }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-sink-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const spool = await Spool.open(dir, { minFreeBytes: 0 });
  t.after(() => spool.close());
  return { dir, spool };
}

const chunk = (n: number, fill = 0x61): Buffer => Buffer.alloc(n, fill);

/** feed - write `total` bytes in `piece`-byte chunks, pausing whenever the sink asks to. */
async function feed(sink: DataSink, total: number, piece = 16_384): Promise<void> {
  for (let sent = 0; sent < total; sent += piece) {
    const wait = sink.write(chunk(Math.min(piece, total - sent)));
    if (wait) await wait;
  }
}

void test('a small body stays in memory, counted in the budget until released; no spill file', async (t) => {
  const { dir, spool } = await tempSpool(t);
  const budget = new DataMemoryBudget();
  const sink = new DataSink({ spool, budget, maxMemoryBytes: 1 << 30 });
  sink.headerBytes(500);
  await feed(sink, 50_000);
  assert.equal(budget.used, 50_500);
  const body = await sink.finish();
  assert.equal(body.spill, null);
  assert.equal(Buffer.concat(body.memory).length, 50_000);
  assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
  await sink.release();
  assert.equal(budget.used, 0);
});

void test('past the threshold the body goes to a spill; the session holds at most a few batches whatever the size', async (t) => {
  const { dir, spool } = await tempSpool(t);
  const budget = new DataMemoryBudget();
  const sink = new DataSink({ spool, budget, maxMemoryBytes: 1 << 30 });
  let peak = 0;
  for (let sent = 0; sent < 8 * 1024 * 1024; sent += 65_536) {
    const wait = sink.write(chunk(65_536, 0x41 + ((sent >> 16) % 26)));
    peak = Math.max(peak, budget.used);
    if (wait) await wait;
  }
  assert.ok(peak <= SESSION_MEMORY_THRESHOLD + 3 * 65_536, `held at most ${peak} bytes`);
  const body = await sink.finish();
  assert.ok(body.spill);
  assert.deepEqual(body.memory, []);
  assert.equal(body.spill.bytes, 8 * 1024 * 1024);
  assert.equal(body.bytes, 8 * 1024 * 1024);
  assert.equal(budget.used, 0, 'written batches are given back');
  const first = Buffer.alloc(65_536);
  await body.spill.read(first, 0);
  assert.ok(first.equals(chunk(65_536, 0x41)), 'what was in memory went to the spill first, in order');
  await sink.release();
  assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), [], 'release deletes the spill');
});

void test('the hub-wide budget: a session whose bytes would pass it fails with kind memory and gives everything back', async (t) => {
  const { spool } = await tempSpool(t);
  const budget = new DataMemoryBudget();
  const limit = 300_000;
  const holder = new DataSink({ spool, budget, maxMemoryBytes: limit });
  holder.headerBytes(250_000); // an unfinished header block of another session
  const sink = new DataSink({ spool, budget, maxMemoryBytes: limit });
  await feed(sink, 40_000);
  assert.equal(sink.failure, null);
  assert.equal(sink.spilled, true, 'with half the budget in use a body spills from its first byte');
  await feed(sink, 100_000, 60_000);
  assert.equal((sink.failure as DataSinkFailure | null)?.kind, 'memory'); // the getter changed since the null check above
  assert.equal(budget.used, 250_000, 'only the holder is left in the budget');
  assert.equal(sink.write(chunk(10)), null, 'nothing more is kept');
  await sink.finish();
  await sink.release();
  await holder.release();
  assert.equal(budget.used, 0);
});

void test('drop (over the size limit) gives the memory back and deletes the spill; release is idempotent', async (t) => {
  const { dir, spool } = await tempSpool(t);
  const budget = dataMemoryBudget(spool);
  assert.equal(dataMemoryBudget(spool), budget, 'one budget per spool (per hub)');
  const sink = new DataSink({ spool, budget, maxMemoryBytes: 1 << 30 });
  await feed(sink, 1024 * 1024);
  assert.equal(sink.spilled, true);
  sink.drop();
  assert.equal(budget.used, 0);
  await sink.finish();
  await sink.release();
  await sink.release();
  assert.equal(budget.used, 0);
  assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
});
