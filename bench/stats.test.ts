import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, percentile, spread, summarize } from './stats.ts';

test('median: odd and even counts, unsorted input left as it was, NaN for none', () => {
  const xs = [5, 1, 3];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('spread: half the range over the median, nothing for one sample', () => {
  assert.equal(spread([90, 100, 110]), ' ±10%');
  assert.equal(spread([100]), '');
});

test('percentile: nearest rank, a value that occurred, numeric (not string) order', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile([2, 10, 9], 50), 9); // "10" < "2" as strings
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 1000], 99), 1000); // fewer than 100: p99 is the largest
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 1000], 90), 9);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile([1], 0), /p must be in \(0, 100\], got 0/);
  assert.throws(() => percentile([1], 101), /got 101/);
});

test('summarize: n, p50, p90, p99, max; a large sample does not overflow the stack', () => {
  const xs = Array.from({ length: 200_000 }, (_, i) => i + 1);
  assert.deepEqual(summarize(xs), { n: 200_000, p50: 100_000, p90: 180_000, p99: 198_000, max: 200_000 });
  const none = summarize([]);
  assert.equal(none.n, 0);
  assert.ok(Number.isNaN(none.p99) && Number.isNaN(none.max));
});
