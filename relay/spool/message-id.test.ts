import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RANDOM_POOL_IDS, createMessageId, isSpoolMessageId } from './message-id.ts';

void test('ids keep the layout: 12 digits of ms, 4 of sequence, 12 random', () => {
  const now = Date.parse('2030-01-01T00:00:00.000Z');
  const a = createMessageId(now);
  const b = createMessageId(now);
  assert.ok(isSpoolMessageId(a) && isSpoolMessageId(b));
  assert.equal(a.slice(0, 12), now.toString(16).padStart(12, '0'));
  assert.equal((parseInt(b.slice(12, 16), 16) - parseInt(a.slice(12, 16), 16) + 0x10000) % 0x10000, 1);
  assert.ok(a < b, 'ordered within one millisecond');
  assert.ok(createMessageId(now + 1) > b, 'ordered across milliseconds');
});

void test('the random part is fresh for every id, across refills of the pool', () => {
  const count = RANDOM_POOL_IDS * 3 + 7;
  const random = new Set<string>();
  const digits = new Set<string>();
  for (let i = 0; i < count; i++) {
    const id = createMessageId(0);
    assert.ok(isSpoolMessageId(id), id);
    random.add(id.slice(16));
    for (const d of id.slice(16)) digits.add(d);
  }
  assert.equal(random.size, count, '48 random bits per id: no repeats expected');
  assert.equal(digits.size, 16, 'all hex digits appear');
});
