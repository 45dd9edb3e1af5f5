import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileCapBytes, MAX_PENDING_CHARS, TrackingLogFile, trackingFileName } from './tracking-log-file.ts';
import { TrackingLog } from './tracking-log.ts';
import { eventsOf, trackingLines } from '../../test/support/tracking-entries.ts';

const DAY = 86_400_000;
const START = Date.parse('2026-12-01T10:00:00.000Z');

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'tracking-file-'));
}

async function filesIn(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

void test('the file gets the same lines as stdout, in order, written after append returns', async () => {
  const dir = await tempDir();
  const file = await TrackingLogFile.open({ dir, settings: { maxAgeMs: DAY, maxSizeBytes: 1024 * 1024 }, now: () => START });
  const stdout: string[] = [];
  const log = new TrackingLog((line) => stdout.push(line), () => START, file);
  for (let n = 0; n < 20; n += 1) for (const event of eventsOf(n)) log.write(event);
  // Nothing is written in the caller's turn: the accept path never waits for the disk.
  assert.deepEqual(await filesIn(dir), []);
  await file.flushed();
  const names = await filesIn(dir);
  assert.deepEqual(names, [trackingFileName(START)]);
  assert.equal(await fs.readFile(path.join(dir, names[0] ?? ''), 'utf8'), stdout.join(''));
  await file.close();
  log.write(eventsOf(21)[0] ?? assert.fail());
  await file.flushed();
  assert.equal((await fs.readFile(path.join(dir, names[0] ?? ''), 'utf8')).length, stdout.slice(0, -1).join('').length, 'appends after close are ignored');
});

void test('a file is rotated at an eighth of the size cap and when the UTC day changes', async () => {
  const dir = await tempDir();
  let now = START;
  const maxSizeBytes = 2 * 1024 * 1024;
  const file = await TrackingLogFile.open({ dir, settings: { maxAgeMs: 30 * DAY, maxSizeBytes }, now: () => now });
  const lines = trackingLines(3000, START, 1000);
  const total = lines.reduce((sum, l) => sum + Buffer.byteLength(l), 0);
  for (const [i, line] of lines.entries()) {
    file.append(line);
    if (i % 100 === 99) { await file.flushed(); now += 1; }
  }
  await file.flushed();
  const names = await filesIn(dir);
  assert.ok(names.length >= Math.floor(total / fileCapBytes(maxSizeBytes)), `${names.length} files for ${total} bytes`);
  for (const name of names) assert.ok((await fs.stat(path.join(dir, name))).size <= fileCapBytes(maxSizeBytes), name);
  const joined = (await Promise.all(names.map((n) => fs.readFile(path.join(dir, n), 'utf8')))).join('');
  assert.equal(joined, lines.join(''), 'no line lost, split or reordered across files');

  now = START + DAY;
  file.append(lines[0] ?? '');
  await file.flushed();
  const after = await filesIn(dir);
  assert.equal(after.length, names.length + 1);
  assert.equal(after.at(-1), trackingFileName(now));
  await file.close();
});

void test('retention deletes files older than maxAge and the oldest beyond maxSize, never the current file', async () => {
  const dir = await tempDir();
  let now = START;
  const settings = { maxAgeMs: 3 * DAY, maxSizeBytes: 1024 * 1024 };
  // Five old files of 300 KiB, one per day, the newest written today.
  const old: string[] = [];
  for (let day = 0; day < 5; day += 1) {
    const name = trackingFileName(START - (5 - day) * DAY);
    await fs.writeFile(path.join(dir, name), 'x'.repeat(300 * 1024));
    const at = new Date(START - (4 - day) * DAY + 1000);
    await fs.utimes(path.join(dir, name), at, at);
    old.push(name);
  }
  await fs.writeFile(path.join(dir, 'notes.txt'), 'an administrator\'s file');
  const file = await TrackingLogFile.open({ dir, settings, now: () => now });
  // Age: files last written 4 and 3 days ago go (older than 3 days); size: 3 x 300 KiB fit in 1 MiB.
  assert.deepEqual(await filesIn(dir), [...old.slice(2), 'notes.txt'].sort());

  file.update({ maxAgeMs: 30 * DAY, maxSizeBytes: 1024 * 1024 });
  now += 1000;
  file.append(`${'y'.repeat(400 * 1024)}\n`);
  await file.flushed();
  // 3 x 300 KiB + 400 KiB > 1 MiB: the oldest goes; the file being written stays though it is the largest.
  assert.deepEqual(await file.applyRetention(), [old[2]]);
  assert.deepEqual(await filesIn(dir), [...old.slice(3), trackingFileName(now), 'notes.txt'].sort());

  file.update({ maxAgeMs: 1, maxSizeBytes: 1024 * 1024 });
  now += DAY;
  assert.deepEqual((await file.applyRetention()).sort(), old.slice(3).sort());
  assert.deepEqual(await filesIn(dir), [trackingFileName(START + 1000), 'notes.txt'].sort(), 'the current file is kept, whatever its age');
  await file.close();
});

void test('lines beyond the memory bound are dropped and counted while the disk does not keep up', async () => {
  const dir = await tempDir();
  const file = await TrackingLogFile.open({ dir, settings: { maxAgeMs: DAY, maxSizeBytes: 1024 * 1024 * 1024 } });
  const line = `${'z'.repeat(1023)}\n`;
  const fits = Math.floor(MAX_PENDING_CHARS / line.length);
  for (let i = 0; i < fits + 10; i += 1) file.append(line);
  assert.equal(file.dropped, 10);
  await file.close();
  const [name] = await filesIn(dir);
  assert.equal((await fs.stat(path.join(dir, name ?? ''))).size, fits * line.length);
});

void test('a write that fails is reported once and the log goes on', async () => {
  const dir = await tempDir();
  const errors: Error[] = [];
  const file = await TrackingLogFile.open({ dir, settings: { maxAgeMs: DAY, maxSizeBytes: 1024 * 1024 }, onError: (e) => errors.push(e) });
  await fs.rm(dir, { recursive: true });
  await fs.writeFile(dir, 'not a folder');
  file.append('{"a":1}\n');
  await file.flushed();
  file.append('{"a":2}\n');
  await file.flushed();
  assert.equal(errors.length, 1);
  assert.match(errors[0]?.message ?? '', /ENOTDIR|ENOENT/);
  await fs.rm(dir);
  await fs.mkdir(dir);
  file.append('{"a":3}\n');
  await file.close();
  const [name] = await filesIn(dir);
  assert.equal(await fs.readFile(path.join(dir, name ?? ''), 'utf8'), '{"a":3}\n');
});
