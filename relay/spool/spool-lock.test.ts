/*
 * Issue 12 item 6: nothing stopped a second hub from opening a spool a running hub had open;
 * both recovered and moved the same files. The second one now refuses, naming the holder's pid
 * and the lock file; a lock left by a hub that was killed is taken over; close removes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from './spool.ts';
import { SpoolLockedError } from './errors.ts';

const HOLDER = `
import { Spool } from ${JSON.stringify(new URL('./spool.ts', import.meta.url).href)};
await Spool.open(process.argv[1], { minFreeBytes: 0, log: () => {} });
process.stdout.write('open\\n');
setInterval(() => {}, 1000);
`;

test('a second hub on a spool a live hub holds is refused; after that hub is killed the spool opens; close releases it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-lock-'));
  const holder = spawn(process.execPath, ['--input-type=module', '-e', HOLDER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (chunk: Buffer) => void (chunk.toString().includes('open') && resolve()));
      holder.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
    });
    await assert.rejects(Spool.open(dir, { minFreeBytes: 0, log: () => {} }), (error: unknown) => {
      assert.ok(error instanceof SpoolLockedError);
      assert.equal(error.code, 'RELAY_ERR_SPOOL_LOCKED');
      assert.equal(error.holderPid, holder.pid);
      assert.match(error.message, new RegExp(`spool .* is in use by another running hub \\(pid ${holder.pid}\\).*give this one its own spool directory \\(lock file .*LOCK\\)`));
      return true;
    });

    holder.kill('SIGKILL'); // no close: the lock file stays behind
    await new Promise((resolve) => holder.once('exit', resolve));
    assert.ok(existsSync(join(dir, 'LOCK')));
    const spool = await Spool.open(dir, { minFreeBytes: 0, log: () => {} });
    await spool.close();
    assert.ok(!existsSync(join(dir, 'LOCK')), 'close removes the lock');
  } finally {
    holder.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
