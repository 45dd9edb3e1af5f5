/*
 * relay/session/users - an unknown name costs what a known one costs (issue 17, Low: user
 * enumeration by timing when the bcrypt cost differs from the dummy's).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { checkPassword, parseUsers } from './users.ts';

async function medianMs(check: () => Promise<unknown>, runs = 7): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await check();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[runs >> 1] as number;
}

test('an unknown name takes as long as a known one with a wrong password, at the users\' cost', async () => {
  for (const cost of [6, 12]) {
    const directory = parseUsers([`alice:${bcrypt.hashSync('right', cost)}`, `bob:${bcrypt.hashSync('right', cost)}`].join('\n'), 'users');
    assert.deepEqual(directory.problems, []);
    await checkPassword(directory, 'alice', 'warm-up');
    const known = await medianMs(() => checkPassword(directory, 'alice', 'wrong'));
    const unknown = await medianMs(() => checkPassword(directory, 'mallory', 'wrong'));
    // The fixed cost-10 dummy made an unknown name 16x slower at cost 6 and 4x faster at 12.
    const ratio = unknown / known;
    assert.ok(ratio > 0.5 && ratio < 2, `cost ${cost}: unknown ${unknown.toFixed(1)} ms, known ${known.toFixed(1)} ms`);
    assert.equal(await checkPassword(directory, 'alice', 'right').then((u) => u?.name), 'alice');
  }
});

test('a file that mixes costs is reported, naming the odd users', () => {
  const directory = parseUsers(['a:$2b$04$abcdefghijklmnopqrstuuVwt0iVYqvGB8Yf2pHkK0zv4lX8Rr9e.', 'b:$2b$04$abcdefghijklmnopqrstuuVwt0iVYqvGB8Yf2pHkK0zv4lX8Rr9e.', 'c:$2y$12$abcdefghijklmnopqrstuuVwt0iVYqvGB8Yf2pHkK0zv4lX8Rr9e.'].join('\n'), 'users');
  assert.equal(directory.dummyHash?.slice(0, 7), '$2b$04$', 'the dummy has the cost most users have');
  assert.equal(directory.problems.length, 1);
  assert.match(directory.problems[0] as string, /bcrypt costs differ: most users have 4, not c \(12\)/);
});
