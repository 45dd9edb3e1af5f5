/*
 * Crash tests: a child process commits messages and prints each id only after the commit
 * resolved (when the session would say 250); we SIGKILL it and reopen the spool. Every
 * acknowledged id must be present and intact. (Torn log tails, which a kill can leave, are
 * tested byte by byte in commit-log.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Spool } from './spool.ts';
import { testBody } from '../../test/support/spool-messages.ts';
import type { TestContext } from 'node:test';

const NODE = path.resolve(import.meta.dirname, '../../node_modules/.bin/node');
const WRITER = path.join(import.meta.dirname, '..', '..', 'test', 'support', 'spool-crash-writer.ts');

interface Ack {
  id: string;
  seq: number;
}

/** runWriter - start the writer; kill it `killAfterMs` after its first ack (if given). */
function runWriter(dir: string, mode: string, killAfterMs?: number): Promise<{ acks: Ack[]; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [WRITER, dir, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (killAfterMs !== undefined && timer === undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      const lines = out.split('\n').slice(0, -1); // a last line without \n was never fully acked
      const acks = lines.map((l) => {
        const [id = '', seq = ''] = l.split(' ');
        return { id, seq: Number(seq) };
      });
      resolve({ acks, signal });
    });
  });
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-spool-crash-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function assertIntact(spool: Spool, acks: Ack[]): Promise<void> {
  const incoming = new Set(await spool.listMessages('incoming'));
  for (const { id, seq } of acks) {
    assert.ok(incoming.has(id), `acknowledged ${id} (seq ${seq}) is missing`);
    const msg = await spool.readMessage('incoming', id);
    assert.deepEqual(msg.body, testBody(seq, 2048 + (seq % 7) * 1000), `body of ${id}`);
    assert.equal(msg.envelope.sessionId, `session-${seq}`);
  }
}

void test('SIGKILL during a commit loop loses no acknowledged message', async (t) => {
  const dir = await tempDir(t);
  const { acks, signal } = await runWriter(dir, 'loop', 300);
  assert.equal(signal, 'SIGKILL');
  assert.ok(acks.length > 0, 'writer acknowledged something before the kill');

  const spool = await Spool.open(dir, { minFreeBytes: 0 });
  t.after(() => spool.close());
  assert.equal(spool.recovery.corrupt, 0);
  assert.ok(spool.recovery.kept >= acks.length, 'unacked-but-renamed files may exist, acked ones must');
  await assertIntact(spool, acks);
  assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
  t.diagnostic(`acked ${acks.length}, kept ${spool.recovery.kept}, discarded ${spool.recovery.discarded}`);
});
