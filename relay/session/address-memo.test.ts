import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoizeByAddress } from './address-memo.ts';
import { addressLiteral } from './header-firewall.ts';

void test('a memoized function runs once per address, and again after the map was dropped', () => {
  const calls: string[] = [];
  const upper = memoizeByAddress((a) => {
    calls.push(a);
    return a.toUpperCase();
  }, 2);
  assert.equal(upper('a'), 'A');
  assert.equal(upper('a'), 'A');
  assert.equal(upper('b'), 'B');
  assert.deepEqual(calls, ['a', 'b']);
  assert.equal(upper('c'), 'C'); // full: dropped, then c
  assert.equal(upper('c'), 'C');
  assert.equal(upper('a'), 'A');
  assert.deepEqual(calls, ['a', 'b', 'c', 'a']);
});

void test('memoized address literals stay right for every address', () => {
  for (let round = 0; round < 2; round++) {
    assert.equal(addressLiteral('192.0.2.1'), '[192.0.2.1]');
    assert.equal(addressLiteral('::ffff:192.0.2.1'), '[192.0.2.1]');
    assert.equal(addressLiteral('2001:db8::1'), '[IPv6:2001:db8::1]');
    assert.equal(addressLiteral('bad\r\naddr'), '[bad??add?]');
  }
});
