import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { searchTrackingLog, type TrackingEntry } from './tracking-log-search.ts';
import { trackingFileName } from './tracking-log-file.ts';
import { trackingLines } from '../../test/support/tracking-entries.ts';

const START = Date.parse('2026-11-01T00:00:00.000Z');
const STEP = 60_000;
const LINES = trackingLines(3000, START, STEP);
const ALL: TrackingEntry[] = LINES.map((l) => JSON.parse(l) as TrackingEntry);

/** A folder of three files (the lines split in thirds), each file's mtime its last entry's time. */
async function folder(extra = ''): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tracking-search-'));
  const third = Math.ceil(LINES.length / 3);
  for (let i = 0; i < 3; i += 1) {
    const part = LINES.slice(i * third, (i + 1) * third);
    const first = JSON.parse(part[0] ?? '{}') as TrackingEntry;
    const last = JSON.parse(part.at(-1) ?? '{}') as TrackingEntry;
    const file = path.join(dir, trackingFileName(Date.parse(first['date-time'])));
    await fs.writeFile(file, part.join('') + (i === 2 ? extra : ''));
    const at = new Date(last['date-time']);
    await fs.utimes(file, at, at);
  }
  return dir;
}

const ids = (entries: readonly TrackingEntry[]): string[] => entries.map((e) => `${e['date-time']} ${e['event-id']} ${e['internal-message-id']}`);

void test('each filter alone and together gives exactly the entries a full scan finds, oldest first', async () => {
  const dir = await folder();
  const since = START + 1000 * STEP;
  const until = START + 2000 * STEP;
  const cases: Array<[string, Parameters<typeof searchTrackingLog>[1], (e: TrackingEntry) => boolean]> = [
    ['sender, other case', { sender: 'Scanner7@CONTOSO.test' }, (e) => e['sender-address'] === 'scanner7@contoso.test'],
    ['recipient among several', { recipient: 'team3@example.org' }, (e) => e['recipient-address'].includes('team3@example.org')],
    ['network message id with <>', { messageId: '<1234.printer@scan.example.com>' }, (e) => e['network-message-id'] === '<1234.printer@scan.example.com>'],
    ['queue id', { messageId: 'q00000004d2' }, (e) => e['internal-message-id'] === 'Q00000004d2'],
    ['events', { events: ['DEFER', 'FAIL'] }, (e) => e['event-id'] === 'DEFER' || e['event-id'] === 'FAIL'],
    ['since and until', { since, until }, (e) => Date.parse(e['date-time']) >= since && Date.parse(e['date-time']) < until],
    ['all at once', { sender: 'scanner3@contoso.test', events: ['SEND'], since }, (e) => e['sender-address'] === 'scanner3@contoso.test' && e['event-id'] === 'SEND' && Date.parse(e['date-time']) >= since],
    ['no match', { sender: 'nobody@contoso.test' }, () => false],
  ];
  for (const [name, query, expected] of cases) {
    const result = await searchTrackingLog(dir, query);
    const want = ALL.filter(expected);
    assert.deepEqual(ids(result.entries), ids(want), name);
    assert.ok(name === 'no match' || want.length > 0, `${name}: the case must select something`);
  }
});

void test('a sender is matched whole, not as part of a longer address', async () => {
  const dir = await folder();
  const result = await searchTrackingLog(dir, { sender: 'scanner1@contoso.test' });
  assert.ok(result.entries.length > 0);
  assert.ok(result.entries.every((e) => e['sender-address'] === 'scanner1@contoso.test'), 'scanner11@, scanner21@ are other senders');
});

void test('files last written before --since are not read', async () => {
  const dir = await folder();
  const lastThird = ALL[Math.ceil(LINES.length / 3) * 2] ?? assert.fail();
  // Just after the first entry of the last file: the second file's last entry is older.
  const since = Date.parse(lastThird['date-time']) + 1;
  const result = await searchTrackingLog(dir, { since });
  assert.equal(result.filesRead, 1);
  assert.deepEqual(ids(result.entries), ids(ALL.filter((e) => Date.parse(e['date-time']) >= since)));
});

void test('limit keeps the oldest entries and says it stopped', async () => {
  const dir = await folder();
  const result = await searchTrackingLog(dir, { events: ['RECEIVE'], limit: 5 });
  assert.deepEqual(ids(result.entries), ids(ALL.filter((e) => e['event-id'] === 'RECEIVE').slice(0, 5)));
  assert.equal(result.truncated, true);
  assert.equal((await searchTrackingLog(dir, { events: ['FAIL'], limit: 1000 })).truncated, false);
});

void test('a torn last line is skipped and counted, the rest found', async () => {
  const torn = LINES[5]?.slice(0, 60) ?? '';
  const dir = await folder(torn);
  const result = await searchTrackingLog(dir, {});
  assert.equal(result.entries.length, ALL.length);
  assert.equal(result.unreadableLines, 1);
});

void test('a file with letters whose lower case is longer (İ) is searched as well', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tracking-search-'));
  const first = (JSON.parse(LINES[0] ?? '{}') as TrackingEntry);
  const odd = `${JSON.stringify({ ...first, 'recipient-status': ['550 5.1.1 İİİİ no such user'] })}\n`;
  await fs.writeFile(path.join(dir, trackingFileName(START)), odd + LINES.slice(0, 300).join(''));
  const sender = ALL[200]?.['sender-address'] ?? assert.fail();
  const result = await searchTrackingLog(dir, { sender: sender.toUpperCase() });
  const want = ALL.slice(0, 300).filter((e) => e['sender-address'] === sender);
  assert.deepEqual(ids(result.entries), ids(first['sender-address'] === sender ? [first, ...want] : want));
  assert.ok(want.length > 1);
});
