/*
 * test/support/spool-crash-writer - a child process for crash.test.ts.
 *
 * Usage: node spool-crash-writer.ts DIR MODE
 *   MODE loop              8 concurrent writers commit until killed
 * Prints "<id> <seq>" on stdout for each commit only after its promise resolved (the
 * moment the session would say 250).
 */
import { Spool } from '../../relay/spool/spool.ts';
import { testBody, testEnvelope } from './spool-messages.ts';

const [dir, mode = 'loop'] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: spool-crash-writer.ts DIR MODE');

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
if (mode !== 'loop') throw new Error(`unknown mode ${mode}`);
await Promise.all(Array.from({ length: 8 }, writer));
