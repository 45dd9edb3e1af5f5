/*
 * relay/spool/testdata/crash-writer - a child process for crash.test.ts.
 *
 * Usage: node crash-writer.ts DIR MODE
 *   MODE loop              8 concurrent writers commit until killed
 *   MODE killAfterFileSync:N  one writer; SIGKILLs itself when the N-th file is fsynced,
 *                          i.e. after the fdatasync and before the rename into incoming/
 * Prints "<id> <seq>" on stdout for each commit only after its promise resolved (the
 * moment the session would say 250).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { Spool } from '../spool.ts';
import { testBody, testEnvelope } from './fixtures.ts';

const [dir, mode = 'loop'] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: crash-writer.ts DIR MODE');

let killAt = Infinity;
if (mode.startsWith('killAfterFileSync:')) {
  killAt = Number(mode.split(':')[1]);
  let synced = 0;
  diagnostics_channel.subscribe('relay:spool:fileSynced', () => {
    synced += 1;
    if (synced === killAt) process.kill(process.pid, 'SIGKILL');
  });
}

const spool = await Spool.open(dir, { minFreeBytes: 0 });
let seq = 0;
async function writer(): Promise<void> {
  for (;;) {
    const mine = seq++;
    const body = testBody(mine, 2048 + (mine % 7) * 1000);
    const id = await spool.commitMessage(testEnvelope(body.length, mine), body);
    process.stdout.write(`${id} ${mine}\n`);
  }
}
const writers = killAt === Infinity ? 8 : 1;
await Promise.all(Array.from({ length: writers }, writer));
