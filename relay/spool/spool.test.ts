import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Spool, QUEUE_STATES } from './spool.ts';
import { testBody, testEnvelope } from '../../test/support/spool-messages.ts';
import type { TestContext } from 'node:test';
import type { SpoolCommittedMessage, SpoolLogEvent } from './spool.ts';

async function tempSpool(t: TestContext, options: Parameters<typeof Spool.open>[1] = {}) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-spool-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const log: SpoolLogEvent[] = [];
  const spool = await Spool.open(dir, { minFreeBytes: 0, log: (e) => log.push(e), ...options });
  t.after(() => spool.close());
  return { dir, spool, log };
}

const ls = (dir: string): Promise<string[]> => fs.readdir(dir);

void test('open creates every state directory, tmp/ and the LOCK of this hub', async (t) => {
  const { dir, spool } = await tempSpool(t);
  assert.deepEqual((await ls(dir)).sort(), [...QUEUE_STATES, 'LOCK', 'log', 'tmp'].sort());
  assert.deepEqual(spool.recovery, { kept: 0, discarded: 0, corrupt: 0 });
});

void test('commit, list and read give back what was committed', async (t) => {
  const { dir, spool } = await tempSpool(t);
  const body = testBody(1, 10_000);
  const id = await spool.commitMessage(testEnvelope(body.length, 1), [body.subarray(0, 10), body.subarray(10)]);
  assert.deepEqual(await spool.listMessages('incoming'), [id]);
  assert.deepEqual(await ls(path.join(dir, 'tmp')), []);
  const msg = await spool.readMessage('incoming', id);
  assert.deepEqual(msg.envelope, testEnvelope(body.length, 1));
  assert.deepEqual(msg.body, body);
  assert.deepEqual(spool.stats, { commits: 1, logSyncs: 1, fileSyncs: 0, dirSyncs: 0, failures: 0 });
  const [segment] = (await ls(path.join(dir, 'log'))).filter((n) => n.endsWith('.log'));
  const mode = (await fs.stat(path.join(dir, 'log', segment as string))).mode & 0o777;
  assert.equal(mode, 0o600);
});

void test('the commit rule: appended to the log and fdatasynced, and only then resolve', async (t) => {
  const { dir, spool } = await tempSpool(t);
  const order: string[] = [];
  const names = ['logSynced', 'fileSynced', 'dirSynced', 'committed'] as const;
  for (const name of names) {
    const listener = (): void => void order.push(name);
    diagnostics_channel.subscribe(`relay:spool:${name}`, listener);
    t.after(() => diagnostics_channel.unsubscribe(`relay:spool:${name}`, listener));
  }
  const body = testBody(9, 3000);
  const id = await spool.commitMessage(testEnvelope(body.length, 9), body);
  // Checked synchronously at the moment of resolution: the frame is already in the segment.
  const [segment] = readdirSync(path.join(dir, 'log')).filter((n) => n.endsWith('.log'));
  assert.ok(readFileSync(path.join(dir, 'log', segment as string)).includes(Buffer.from(id)), 'in the log before resolving');
  assert.equal(existsSync(path.join(dir, 'incoming', id)), false, 'no file per message');
  assert.deepEqual(order, ['logSynced', 'committed']);
});

void test('20 concurrent commits share fdatasyncs and publish relay:spool:committed', async (t) => {
  const { spool } = await tempSpool(t);
  const events: SpoolCommittedMessage[] = [];
  const onCommitted = (m: unknown): void => void events.push(m as SpoolCommittedMessage);
  diagnostics_channel.subscribe('relay:spool:committed', onCommitted);
  t.after(() => diagnostics_channel.unsubscribe('relay:spool:committed', onCommitted));

  const ids = await Promise.all(
    Array.from({ length: 20 }, (_, i) => spool.commitMessage(testEnvelope(4096, i), testBody(i, 4096))),
  );
  const stats = spool.stats;
  assert.equal(stats.commits, 20);
  assert.equal(stats.fileSyncs, 0);
  assert.ok(stats.logSyncs < 5, `logSyncs ${stats.logSyncs}: 20 commits in one turn share a batch or a few`);
  assert.equal(new Set(ids).size, 20);
  assert.deepEqual(events.map((e) => e.id).sort(), [...ids].sort());
  for (const e of events) assert.ok(e.bytes > 4096 && e.durationMs >= 0);
});

void test('spool full: SpoolFullError before writing, nothing left behind', async (t) => {
  const { dir, spool } = await tempSpool(t, { minFreeBytes: Number.MAX_SAFE_INTEGER });
  const body = testBody(1, 1000);
  await assert.rejects(spool.commitMessage(testEnvelope(body.length), body), {
    name: 'SpoolFullError',
    code: 'RELAY_ERR_SPOOL_FULL',
  });
  assert.deepEqual(await ls(path.join(dir, 'tmp')), []);
  assert.deepEqual(await ls(path.join(dir, 'incoming')), []);
  assert.equal(spool.stats.logSyncs, 0);
  const [segment] = (await ls(path.join(dir, 'log'))).filter((n) => n.endsWith('.log'));
  assert.equal((await fs.stat(path.join(dir, 'log', segment as string))).size, 8, 'the segment holds its header only');
});

void test('a write error throws SpoolWriteError with the cause and acknowledges nothing', async (t) => {
  const { dir, spool, log } = await tempSpool(t, { segmentBytes: 4096 });
  const body = testBody(2, 5000);
  await spool.commitMessage(testEnvelope(body.length), body); // fills the first segment
  // The next commit must start a segment, and the log directory has vanished.
  await fs.rm(path.join(dir, 'log'), { recursive: true });
  const err = await spool.commitMessage(testEnvelope(body.length), body).then(
    () => assert.fail('commit should fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof Error);
  assert.equal((err as Error & { code: string }).code, 'RELAY_ERR_SPOOL_WRITE');
  assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
  assert.deepEqual(await ls(path.join(dir, 'tmp')), []);
  assert.equal(spool.stats.failures, 1);
  assert.equal(spool.stats.commits, 1);
  assert.equal((await spool.listMessages('incoming')).length, 1, 'only the first message is queued');
  assert.equal(log.at(-1)?.event, 'commitFailed');
});

void test('moveMessage: incoming and active in the log, deferred as a file; logs both ends', async (t) => {
  const { dir, spool, log } = await tempSpool(t);
  const body = testBody(3, 200);
  const id = await spool.commitMessage(testEnvelope(body.length), body);
  await spool.moveMessage(id, 'incoming', 'active');
  assert.deepEqual(await spool.listMessages('active'), [id]);
  assert.deepEqual(await ls(path.join(dir, 'active')), [], 'active is a state of the logged message, not a file');
  await spool.moveMessage(id, 'active', 'deferred');
  assert.deepEqual(await ls(path.join(dir, 'deferred')), [id]);
  assert.deepEqual(await spool.listMessages('incoming'), []);
  assert.deepEqual(await spool.listMessages('active'), []);
  assert.deepEqual(await spool.listMessages('deferred'), [id]);
  assert.deepEqual((await spool.readMessage('deferred', id)).body, body);
  assert.deepEqual(log.filter((e) => e.event === 'messageMoved'), [
    { event: 'messageMoved', id, from: 'incoming', to: 'active' },
    { event: 'messageMoved', id, from: 'active', to: 'deferred' },
  ]);
  await assert.rejects(spool.moveMessage(id, 'incoming', 'active'), { code: 'RELAY_ERR_SPOOL_NOT_FOUND' });
  await assert.rejects(spool.moveMessage(id, 'deferred', 'deferred'), { code: 'RELAY_ERR_SPOOL_INVALID_ARGUMENT' });
  await assert.rejects(spool.moveMessage('../../etc/passwd', 'deferred', 'hold'), { code: 'RELAY_ERR_SPOOL_INVALID_ARGUMENT' });
  await assert.rejects(spool.moveMessage(id, 'deferred', 'tmp' as 'hold'), { code: 'RELAY_ERR_SPOOL_INVALID_ARGUMENT' });
  await spool.removeMessage('deferred', id);
  assert.deepEqual(await ls(path.join(dir, 'deferred')), []);
});

void test('readMessage reports a damaged file as SpoolCorruptError; the caller moves it to corrupt/', async (t) => {
  const { dir, spool } = await tempSpool(t);
  const body = testBody(4, 200);
  const id = await spool.commitMessage(testEnvelope(body.length), body);
  await spool.moveMessage(id, 'incoming', 'hold');
  await spool.moveMessage(id, 'hold', 'incoming'); // now a file in incoming/
  const file = path.join(dir, 'incoming', id);
  await fs.truncate(file, (await fs.stat(file)).size - 3);
  await assert.rejects(spool.readMessage('incoming', id), { code: 'RELAY_ERR_SPOOL_CORRUPT', reason: 'truncated' });
  await spool.moveMessage(id, 'incoming', 'corrupt');
  assert.deepEqual(await spool.listMessages('corrupt'), [id]);
});

void test('envelope and body checks at the door', async (t) => {
  const { spool } = await tempSpool(t, { assertCanonical: true });
  const body = Buffer.from('Subject: x\r\n\r\nbare\nLF\r\n');
  await assert.rejects(spool.commitMessage(testEnvelope(body.length), body), {
    code: 'RELAY_ERR_SPOOL_BODY_NOT_CANONICAL',
    offset: 18,
  });
  await assert.rejects(spool.commitMessage(testEnvelope(1), testBody(1, 100)), { code: 'RELAY_ERR_SPOOL_ENVELOPE' });
  const { spool: lenient } = await tempSpool(t);
  const id = await lenient.commitMessage(testEnvelope(body.length), body);
  assert.deepEqual((await lenient.readMessage('incoming', id)).body, body, 'stored verbatim when the assertion is off');
});

void test('options are validated at the door; close refuses new work', async (t) => {
  await assert.rejects(tempSpool(t, { minFreeBytes: -1 }), { code: 'RELAY_ERR_SPOOL_INVALID_ARGUMENT', message: /minFreeBytes/ });
  await assert.rejects(tempSpool(t, { groupCommitWindowMs: 5000 }), { message: /groupCommitWindowMs/ });
  const { spool } = await tempSpool(t);
  const body = testBody(5, 100);
  const pending = spool.commitMessage(testEnvelope(body.length), body);
  await spool.close();
  assert.ok(await pending, 'work in flight finishes before close resolves');
  await assert.rejects(spool.commitMessage(testEnvelope(body.length), body), { code: 'RELAY_ERR_SPOOL_CLOSED' });
});
