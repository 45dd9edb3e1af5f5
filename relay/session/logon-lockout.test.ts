/*
 * relay/session/rate-limits LogonLockout - failed AUTH per source and per user name across
 * sessions (issue 17, item 10): the thresholds, the window, the reply, the known-source exemption.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOGON_LOCKOUT_DEFAULTS, LogonLockout } from './rate-limits.ts';

const MIN = 60_000;
const REPLY = { ok: false, code: 454, enhanced: '4.7.0', message: 'Temporary authentication failure, try again later' };

test('a source is locked out for one window after maxFailuresPerSource failures, whatever the name', () => {
  const lockout = new LogonLockout({ maxFailuresPerSource: 3, maxFailuresPerUser: 0, windowMs: 10 * MIN });
  const t0 = 1_000_000;
  for (let i = 0; i < 2; i++) lockout.recordFailure('192.0.2.7', `name-${i}`, t0 + i);
  assert.equal(lockout.check('192.0.2.7', 'anyone', t0 + 2), null, 'two failures: not yet');
  lockout.recordFailure('192.0.2.7', 'name-2', t0 + 2);
  assert.deepEqual(lockout.check('192.0.2.7', 'anyone', t0 + 3), { ...REPLY, reason: 'logonLockout:source' });
  assert.equal(lockout.check('192.0.2.8', 'anyone', t0 + 3), null, 'another address is not locked');
  assert.notEqual(lockout.check('192.0.2.7', 'x', t0 + 2 + 10 * MIN - 1), null, 'locked to the end of the window');
  assert.equal(lockout.check('192.0.2.7', 'x', t0 + 2 + 10 * MIN), null, 'free after it');
});

test('failures older than the window do not count', () => {
  const lockout = new LogonLockout({ maxFailuresPerSource: 3, maxFailuresPerUser: 0, windowMs: MIN });
  lockout.recordFailure('192.0.2.7', 'a', 0);
  lockout.recordFailure('192.0.2.7', 'a', 30_000);
  lockout.recordFailure('192.0.2.7', 'a', 61_000);
  assert.equal(lockout.check('192.0.2.7', 'a', 61_001), null);
});

test('an IPv6 /64 is one source; IPv4-mapped IPv6 is the IPv4 address', () => {
  const lockout = new LogonLockout({ maxFailuresPerSource: 2, maxFailuresPerUser: 0, windowMs: MIN });
  lockout.recordFailure('2001:db8:1:2::1', 'a', 0);
  lockout.recordFailure('2001:db8:1:2:ffff::9', 'b', 1);
  assert.equal(lockout.check('2001:db8:1:2::77', 'c', 2)?.reason, 'logonLockout:source');
  assert.equal(lockout.check('2001:db8:1:3::1', 'c', 2), null);
  lockout.recordFailure('::ffff:192.0.2.9', 'a', 0);
  lockout.recordFailure('192.0.2.9', 'a', 1);
  assert.equal(lockout.check('192.0.2.9', 'c', 2)?.reason, 'logonLockout:source');
});

test('a name is locked out across sources, except for sources that authenticated as it', () => {
  const lockout = new LogonLockout({ maxFailuresPerSource: 0, maxFailuresPerUser: 3, windowMs: MIN });
  lockout.recordSuccess('198.51.100.1', 'alice', 0);
  for (let i = 0; i < 3; i++) lockout.recordFailure(`203.0.113.${i}`, 'alice', 10 + i);
  assert.deepEqual(lockout.check('203.0.113.200', 'alice', 20), { ...REPLY, reason: 'logonLockout:user' });
  assert.equal(lockout.check('198.51.100.1', 'alice', 20), null, 'the known source');
  assert.equal(lockout.check('203.0.113.200', 'bob', 20), null, 'another name');
  // Unknown names lock out alike: the reply does not tell which names exist.
  for (let i = 0; i < 3; i++) lockout.recordFailure(`203.0.113.${i}`, 'ghost', 10 + i);
  assert.equal(lockout.check('203.0.113.200', 'ghost', 20)?.reason, 'logonLockout:user');
});

test('0 turns a lockout off; failures still mark the source for the password queue', () => {
  const lockout = new LogonLockout({ maxFailuresPerSource: 0, maxFailuresPerUser: 0, windowMs: MIN });
  for (let i = 0; i < 100; i++) lockout.recordFailure('192.0.2.7', 'alice', i);
  assert.equal(lockout.check('192.0.2.7', 'alice', 200), null);
  assert.equal(lockout.hasRecentFailures('192.0.2.7', 200), true);
  assert.equal(lockout.hasRecentFailures('192.0.2.8', 200), false);
  assert.equal(lockout.hasRecentFailures('192.0.2.7', 100 + MIN), false);
});

test('defaults: 10 per source, 30 per name, 15 minutes; settings follow a reload, counts carry over', () => {
  assert.deepEqual(LOGON_LOCKOUT_DEFAULTS, { maxFailuresPerSource: 10, maxFailuresPerUser: 30, windowMs: 15 * MIN });
  const lockout = new LogonLockout();
  for (let i = 0; i < 9; i++) lockout.recordFailure('192.0.2.7', `n${i}`, i);
  assert.equal(lockout.check('192.0.2.7', 'x', 10), null);
  lockout.recordFailure('192.0.2.7', 'n9', 9);
  assert.equal(lockout.check('192.0.2.7', 'x', 10)?.reason, 'logonLockout:source');
  lockout.update({ maxFailuresPerSource: 2 });
  assert.equal(lockout.settings.maxFailuresPerUser, 30, 'unset fields take the defaults');
  lockout.recordFailure('192.0.2.50', 'a', 20);
  lockout.recordFailure('192.0.2.50', 'a', 21);
  assert.equal(lockout.check('192.0.2.50', 'x', 22)?.reason, 'logonLockout:source');
});

test('idle records are swept: memory follows the sources and names of the last window', () => {
  const lockout = new LogonLockout({ windowMs: MIN });
  for (let i = 0; i < 500; i++) lockout.recordFailure(`10.0.${i >> 8}.${i & 255}`, `user-${i}`, 0);
  assert.equal(lockout.trackedKeys, 1000);
  lockout.check('192.0.2.1', 'x', 2 * MIN);
  assert.equal(lockout.trackedKeys, 0);
});
