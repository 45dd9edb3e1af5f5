import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Spool } from './spool.ts';
import { testBody, testEnvelope } from '../../test/support/spool-messages.ts';
import type { TestContext } from 'node:test';
import type { SpoolCommittedMessage, SpoolLogEvent } from './spool.ts';

async function tempSpool(t: TestContext, options: Parameters<typeof Spool.open>[1] = {}, dir?: string) {
  const root = dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'relay-spill-')));
  if (!dir) t.after(() => fs.rm(root, { recursive: true, force: true }));
  const log: SpoolLogEvent[] = [];
  const spool = await Spool.open(root, { minFreeBytes: 0, log: (e) => log.push(e), ...options });
  t.after(() => spool.close());
  return { dir: root, spool, log };
}

/** spillOf - a spill holding `body` written in pieces of `piece` bytes. */
async function spillOf(spool: Spool, body: Buffer, piece = 65_536) {
  const spill = spool.createBodySpill();
  for (let at = 0; at < body.length; at += piece) await spill.write([body.subarray(at, at + piece)]);
  return spill;
}

void test('a spilled body is committed as a queue file in incoming/: read back byte for byte, listed from memory, announced', async (t) => {
  const { dir, spool } = await tempSpool(t);
  const head = Buffer.from('Received: by hub\r\nSubject: big\r\n\r\n');
  const rest = testBody(7, 3 * 1024 * 1024 + 17);
  const spill = await spillOf(spool, rest);
  assert.equal(spill.bytes, rest.length);
  assert.deepEqual((await fs.readdir(path.join(dir, 'tmp'))).filter((n) => n.startsWith('spill-')).length, 1);
  const committed: SpoolCommittedMessage[] = [];
  const listener = (m: unknown): void => void committed.push(m as SpoolCommittedMessage);
  diagnostics_channel.subscribe('relay:spool:committed', listener);
  t.after(() => diagnostics_channel.unsubscribe('relay:spool:committed', listener));
  const size = head.length + rest.length;
  const id = await spool.commitMessage(testEnvelope(size, 7), [head], { spill });
  assert.deepEqual(await fs.readdir(path.join(dir, 'incoming')), [id], 'a queue file, renamed into incoming/');
  assert.deepEqual(spool.loggedMessages('incoming'), [id], 'the queue manager\'s kick finds it without reading the directory');
  assert.equal(committed.at(-1)?.id, id);
  const read = await spool.readMessage('incoming', id);
  assert.ok(read.body.equals(Buffer.concat([head, rest])));
  assert.deepEqual(read.envelope, testEnvelope(size, 7));
  await spill.discard();
  assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), [], 'the commit leaves nothing in tmp/ once the spill is discarded');
  await spool.moveMessage(id, 'incoming', 'active');
  assert.deepEqual(spool.loggedMessages('incoming'), []);
  assert.deepEqual(await spool.listMessages('active'), [id]);
});

void test('a spilled message survives a restart; a spill left in tmp/ by a crash is deleted at start', async (t) => {
  const { dir, spool } = await tempSpool(t);
  const body = testBody(8, 1024 * 1024);
  const spill = await spillOf(spool, body);
  const id = await spool.commitMessage(testEnvelope(body.length, 8), [], { spill });
  const torn = await spillOf(spool, testBody(9, 200_000)); // a session still in DATA when the process dies
  await spool.close();
  assert.equal((await fs.readdir(path.join(dir, 'tmp'))).filter((n) => n.startsWith('spill-')).length, 2);
  const reopened = await tempSpool(t, {}, dir);
  assert.equal(reopened.spool.recovery.kept, 1);
  assert.ok(reopened.log.some((e) => e.event === 'tornWriteDiscarded' && e.file === path.basename(torn.file)));
  assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
  assert.ok((await reopened.spool.readMessage('incoming', id)).body.equals(body));
});

void test('spill writes reserve free space: past the reserve they fail with SpoolFullError and nothing is written', async (t) => {
  const { dir, spool } = await tempSpool(t, { minFreeBytes: Number.MAX_SAFE_INTEGER });
  const spill = spool.createBodySpill();
  await assert.rejects(spill.write([Buffer.alloc(1000, 0x61)]), { code: 'RELAY_ERR_SPOOL_FULL' });
  assert.equal(spill.bytes, 0);
  await spill.discard();
  assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
});

void test('checks at the door: size must count the spill; assertCanonical scans the spill; a discarded spill is refused', async (t) => {
  const { dir, spool } = await tempSpool(t, { assertCanonical: true });
  const body = testBody(10, 300_000);
  const spill = await spillOf(spool, body);
  await assert.rejects(spool.commitMessage(testEnvelope(body.length + 1, 10), [], { spill }), { code: 'RELAY_ERR_SPOOL_ENVELOPE' });
  const bare = Buffer.concat([testBody(11, 100_000), Buffer.from('smuggled\n.\r\n'), testBody(12, 100_000)]);
  const bad = await spillOf(spool, bare, 4096);
  await assert.rejects(spool.commitMessage(testEnvelope(bare.length, 11), [], { spill: bad }), { code: 'RELAY_ERR_SPOOL_BODY_NOT_CANONICAL' });
  assert.deepEqual(await fs.readdir(path.join(dir, 'incoming')), []);
  await bad.discard();
  await assert.rejects(spool.commitMessage(testEnvelope(bare.length, 11), [], { spill: bad }), { code: 'RELAY_ERR_SPOOL_INVALID_ARGUMENT' });
  await spill.discard();
  assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), [], 'refused commits leave no queue file behind in tmp/');
});
