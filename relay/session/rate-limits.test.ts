import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectorLimits } from '../config/schema.ts';
import { ConnectorRateLimiter, logonFailureDecision, RateLimitRegistry, sourceKey, tarpit } from './rate-limits.ts';
import type { ConnectionDecision } from './rate-limits.ts';
import { DEFAULT_LIMITS, connector } from '../../test/support/session-fixtures.ts';

const limits = (l: Partial<ConnectorLimits>): ConnectorLimits => ({ ...DEFAULT_LIMITS, ...l });
const lease = (d: ConnectionDecision): () => void => {
  assert.ok(d.ok, `refused: ${d.ok ? '' : d.reason}`);
  return d.release;
};

test('sourceKey: IPv4, IPv4-mapped, IPv6 /64', () => {
  assert.equal(sourceKey('192.0.2.1'), '192.0.2.1');
  assert.equal(sourceKey('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(sourceKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 128), '2001:db8:1:2:aaaa:bbbb:cccc:dddd/128');
  assert.equal(sourceKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 60), '2001:db8:1::/60');
});

test('per-source connection limit: 421 4.7.0 Too many connections from your IP', () => {
  const r = new ConnectorRateLimiter(limits({ maxInboundConnectionsPerSource: 2, maxInboundConnectionPercentagePerSource: 0 }));
  const a = lease(r.openConnection('192.0.2.1'));
  lease(r.openConnection('192.0.2.1'));
  assert.deepEqual(r.openConnection('192.0.2.1'), {
    ok: false,
    code: 421,
    enhanced: '4.7.0',
    message: 'Too many connections from your IP',
    reason: 'maxInboundConnectionsPerSource',
  });
  lease(r.openConnection('192.0.2.2'));
  a();
  a(); // a second release counts once
  assert.equal(r.connectionsFrom('192.0.2.1'), 1);
  assert.equal(r.total, 2);
  lease(r.openConnection('192.0.2.1'));
});

test('IPv6 addresses in one /64 share the per-source count', () => {
  const r = new ConnectorRateLimiter(limits({ maxInboundConnectionsPerSource: 1, maxInboundConnectionPercentagePerSource: 0 }));
  lease(r.openConnection('2001:db8::1'));
  const d = r.openConnection('2001:db8::2');
  assert.equal(d.ok ? '' : d.reason, 'maxInboundConnectionsPerSource');
  lease(r.openConnection('2001:db8:0:1::1'));
});

test('total connection limit', () => {
  const r = new ConnectorRateLimiter(limits({ maxInboundConnections: 2, maxInboundConnectionsPerSource: 0, maxInboundConnectionPercentagePerSource: 0 }));
  lease(r.openConnection('192.0.2.1'));
  const release = lease(r.openConnection('192.0.2.2'));
  const d = r.openConnection('192.0.2.3');
  assert.ok(!d.ok);
  assert.equal(d.code, 421);
  assert.equal(d.reason, 'maxInboundConnections');
  release();
  lease(r.openConnection('192.0.2.3'));
});

test('percentage per source is of the connections still available', () => {
  // 100 slots, 10%: an idle connector allows 10 from one source; as others fill it, fewer
  const r = new ConnectorRateLimiter(limits({ maxInboundConnections: 100, maxInboundConnectionsPerSource: 0, maxInboundConnectionPercentagePerSource: 10 }));
  let held = 0;
  while (r.openConnection('192.0.2.1').ok) held++;
  // held < floor((100 - held) * 0.1) stops at 9: with 9 held, 91 available -> 9 allowed
  assert.equal(held, 9);
  const d = r.openConnection('192.0.2.1');
  assert.equal(d.ok ? '' : d.reason, 'maxInboundConnectionPercentagePerSource');
  assert.equal(d.ok ? '' : d.message, 'Too many connections from your IP');
  for (let i = 0; i < 60; i++) lease(r.openConnection(`198.51.100.${i}`));
  // 31 available: a fresh source gets its 1st (31 -> 3 allowed) and 2nd (30 -> 3), not a
  // 3rd (29 available -> 2 allowed)
  let fresh = 0;
  while (r.openConnection('203.0.113.9').ok) fresh++;
  assert.equal(fresh, 2);
});

test('percentage never drops below one connection per source', () => {
  const r = new ConnectorRateLimiter(limits({ maxInboundConnections: 10, maxInboundConnectionsPerSource: 0, maxInboundConnectionPercentagePerSource: 2 }));
  lease(r.openConnection('192.0.2.1'));
  assert.ok(!r.openConnection('192.0.2.1').ok);
  lease(r.openConnection('192.0.2.2'));
});

test('limits of 0 are unlimited', () => {
  const r = new ConnectorRateLimiter(limits({ maxInboundConnections: 0, maxInboundConnectionsPerSource: 0, maxInboundConnectionPercentagePerSource: 2, messageRateLimit: 0 }));
  for (let i = 0; i < 1000; i++) lease(r.openConnection('192.0.2.1'));
  for (let i = 0; i < 1000; i++) assert.ok(r.checkMessage({ clientAddress: '192.0.2.1' }).ok);
  assert.equal(r.trackedRateKeys, 0);
});

test('message rate per IP: sliding one-minute window, 451 4.7.0', () => {
  const r = new ConnectorRateLimiter(limits({ messageRateLimit: 3 }));
  const from = { clientAddress: '192.0.2.1' };
  const t0 = 1_000_000;
  assert.ok(r.checkMessage(from, t0).ok);
  assert.ok(r.checkMessage(from, t0 + 10_000).ok);
  assert.ok(r.checkMessage(from, t0 + 20_000).ok);
  assert.deepEqual(r.checkMessage(from, t0 + 30_000), {
    ok: false,
    code: 451,
    enhanced: '4.7.0',
    message: 'Message rate limit exceeded',
    reason: 'messageRateLimit:ip',
  });
  assert.ok(r.checkMessage({ clientAddress: '192.0.2.2' }, t0 + 30_000).ok);
  assert.ok(!r.checkMessage(from, t0 + 59_999).ok);
  assert.ok(r.checkMessage(from, t0 + 60_000).ok, 'the first message left the window');
  assert.ok(!r.checkMessage(from, t0 + 60_001).ok, 'refused attempts do not count, accepted ones do');
});

test('message rate per User: authenticated user, else MAIL FROM', () => {
  const r = new ConnectorRateLimiter(limits({ messageRateLimit: 1, messageRateSource: 'User' }));
  assert.ok(r.checkMessage({ clientAddress: '192.0.2.1', user: 'alice' }, 0).ok);
  assert.equal(r.checkMessage({ clientAddress: '192.0.2.2', user: 'alice' }, 1).ok, false);
  assert.ok(r.checkMessage({ clientAddress: '192.0.2.1', user: 'bob' }, 1).ok);
  assert.ok(r.checkMessage({ clientAddress: '192.0.2.1', mailFrom: 'X@example.org' }, 1).ok);
  const d = r.checkMessage({ clientAddress: '192.0.2.9', mailFrom: 'x@EXAMPLE.org' }, 2);
  assert.equal(d.ok ? '' : d.reason, 'messageRateLimit:sender');
});

test('message rate All: either key exceeding refuses', () => {
  const r = new ConnectorRateLimiter(limits({ messageRateLimit: 2, messageRateSource: 'All' }));
  assert.ok(r.checkMessage({ clientAddress: '192.0.2.1', user: 'alice' }, 0).ok);
  assert.ok(r.checkMessage({ clientAddress: '192.0.2.1', user: 'bob' }, 0).ok);
  const ip = r.checkMessage({ clientAddress: '192.0.2.1', user: 'carol' }, 0);
  assert.equal(ip.ok ? '' : ip.reason, 'messageRateLimit:ip');
  assert.ok(r.checkMessage({ clientAddress: '192.0.2.2', user: 'alice' }, 0).ok);
  const user = r.checkMessage({ clientAddress: '192.0.2.3', user: 'alice' }, 0);
  assert.equal(user.ok ? '' : user.reason, 'messageRateLimit:user');
});

test('idle rate windows are swept', () => {
  const r = new ConnectorRateLimiter(limits({ messageRateLimit: 5 }));
  for (let i = 0; i < 100; i++) r.checkMessage({ clientAddress: `192.0.2.${i}` }, 100_000);
  assert.equal(r.trackedRateKeys, 100);
  r.checkMessage({ clientAddress: '198.51.100.1' }, 200_000);
  assert.equal(r.trackedRateKeys, 1);
});

test('registry keeps one limiter per connector and follows reloads', () => {
  const reg = new RateLimitRegistry();
  const c1 = connector({ id: 'mail/a', limits: { maxInboundConnectionsPerSource: 1, maxInboundConnectionPercentagePerSource: 0 } });
  const lim = reg.limiterFor(c1);
  lease(lim.openConnection('192.0.2.1'));
  assert.ok(!reg.limiterFor(c1).openConnection('192.0.2.1').ok);
  const reloaded = connector({ id: 'mail/a', limits: { maxInboundConnectionsPerSource: 2, maxInboundConnectionPercentagePerSource: 0 } });
  assert.equal(reg.limiterFor(reloaded), lim);
  assert.ok(lim.openConnection('192.0.2.1').ok);
  assert.notEqual(reg.limiterFor(connector({ id: 'mail/b' })), lim);
  reg.retain(['mail/b']);
  assert.notEqual(reg.limiterFor(c1), lim);
});

test('tarpit waits, and an abort ends it early without throwing', async () => {
  const t = performance.now();
  await tarpit(30);
  assert.ok(performance.now() - t >= 25);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 10);
  const t2 = performance.now();
  await tarpit(10_000, ac.signal);
  assert.ok(performance.now() - t2 < 1000);
  await tarpit(0);
});

test('logon failures: tarpit each, disconnect at maxLogonFailures', () => {
  const l = { maxLogonFailures: 3, tarpitIntervalMs: 5000 };
  assert.deepEqual(logonFailureDecision(0, l), { tarpitMs: 0, disconnect: null });
  assert.deepEqual(logonFailureDecision(2, l), { tarpitMs: 5000, disconnect: null });
  const third = logonFailureDecision(3, l);
  assert.equal(third.disconnect?.code, 421);
  assert.equal(third.disconnect?.reason, 'maxLogonFailures');
  assert.equal(logonFailureDecision(100, { maxLogonFailures: 0, tarpitIntervalMs: 0 }).disconnect, null);
});
