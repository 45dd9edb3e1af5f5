import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { FAILURES_TO_MARK, HostHealth, isHostDownFailure, probeGreeting, skippedFailure } from './host-health.ts';
import { stepFailureOf, type StepFailure } from './smtp-transaction.ts';

const refused: StepFailure = { phase: 'connect', code: null, reply: 'connect ECONNREFUSED 127.0.0.1:2525', errno: 'ECONNREFUSED' };

/** Fail `n` times in a row; the result of the last one. */
function fail(health: HostHealth, host: string, n: number, downMs = 500, failure = refused): boolean {
  let marked = false;
  for (let i = 0; i < n; i += 1) marked = health.recordFailure(host, failure, downMs) !== null;
  return marked;
}

void test(`a host is down after ${FAILURES_TO_MARK} failures in a row, for downMs, then may be tried again`, () => {
  let now = 1_000;
  const health = new HostHealth(() => now);
  assert.equal(fail(health, 'h:25', FAILURES_TO_MARK - 1), false, 'one failure alone is not enough');
  assert.equal(health.down('h:25'), null);
  assert.deepEqual(health.recordFailure('h:25', refused, 500), { untilMs: 1_500, failure: refused }, 'this failure marks it, until now + downMs');
  assert.equal(health.recordFailure('h:25', refused, 500), null, 'already down: no second report');
  assert.equal(health.down('h:25')?.untilMs, 1_500);
  assert.equal(health.down('h:26'), null, 'another host is not affected');
  assert.equal(health.downCount, 1);
  now = 1_499;
  assert.ok(health.down('h:25'));
  now = 1_500;
  assert.equal(health.down('h:25'), null, 'the period is over');
  assert.equal(health.downCount, 0);
  assert.equal(fail(health, 'h:25', FAILURES_TO_MARK), true, 'a fresh count after the period: down again, reported again');
});

void test('a session opened in between resets the count and ends a down period at once; downMs 0 never marks', () => {
  const health = new HostHealth(() => 0);
  fail(health, 'h:25', FAILURES_TO_MARK - 1);
  assert.equal(health.markUp('h:25'), false, 'was not down');
  assert.equal(fail(health, 'h:25', FAILURES_TO_MARK - 1), false, 'the session in between reset the count');
  assert.notEqual(health.recordFailure('h:25', refused, 10_000), null);
  assert.equal(health.markUp('h:25'), true);
  assert.equal(health.down('h:25'), null);
  assert.equal(fail(health, 'h:26', FAILURES_TO_MARK, 0), false);
});

void test('what counts: refused, timed out, unreachable, a 4xx before the session; not 5xx, TLS, AUTH or local errors', () => {
  const connect = (code: number | null, errno?: string): StepFailure => ({ phase: 'connect', code, reply: 'x', ...(errno ? { errno } : {}) });
  assert.equal(isHostDownFailure(connect(null, 'ECONNREFUSED')), true);
  assert.equal(isHostDownFailure(connect(null, 'ETIMEDOUT')), true);
  assert.equal(isHostDownFailure(connect(null, 'EHOSTUNREACH')), true);
  assert.equal(isHostDownFailure(connect(421)), true, '421 greeting');
  assert.equal(isHostDownFailure(connect(554)), false, 'a 5xx greeting bounces each message on its own');
  assert.equal(isHostDownFailure(connect(null, 'EMFILE')), false, 'out of file descriptors here, not down there');
  assert.equal(isHostDownFailure(connect(null, 'EADDRNOTAVAIL')), false);
  assert.equal(isHostDownFailure(connect(null)), false, 'no code: not known to be the host');
  assert.equal(isHostDownFailure({ phase: 'tls', code: null, reply: 'x', errno: 'ECONNRESET' }), false);
  assert.equal(isHostDownFailure({ phase: 'auth', code: 454, reply: 'x' }), false);
});

void test('nodemailer socket errors: the code underneath is kept; certificate errors are TLS, not connect', () => {
  const socketError = (originalCode: string): unknown => Object.assign(new Error('socket'), { code: 'ESOCKET', originalCode, command: 'CONN' });
  assert.deepEqual(stepFailureOf(socketError('ECONNREFUSED'), 'connect'), { phase: 'connect', code: null, reply: 'socket', errno: 'ECONNREFUSED' });
  for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_WRONG_VERSION_NUMBER']) {
    assert.equal(stepFailureOf(socketError(code), 'connect').phase, 'tls', code);
  }
  assert.equal(stepFailureOf(Object.assign(new Error('Greeting never received'), { code: 'ETIMEDOUT', command: 'CONN' }), 'connect').errno, 'ETIMEDOUT');
});

void test('the failure reported for a skipped host says why and until when, and keeps a soft class', () => {
  const health = new HostHealth(() => Date.parse('2026-01-01T00:00:00Z'));
  fail(health, 'h:25', FAILURES_TO_MARK, 60_000, { phase: 'connect', code: 421, reply: '421 4.3.2 too busy' });
  const failure = skippedFailure('mx.example.test:25', health.down('h:25') as NonNullable<ReturnType<HostHealth['down']>>);
  assert.equal(failure.phase, 'connect');
  assert.equal(failure.code, 421);
  assert.equal(failure.reply, 'mx.example.test:25 not tried: down until 2026-01-01T00:01:00.000Z after: 421 4.3.2 too busy');
});

void test('a host that failed is probed; when it answers, its down period ends and onUp names it; an old failure is no longer probed', async () => {
  let now = 0;
  const up: string[] = [];
  const probed: string[] = [];
  let answering = false;
  const health = new HostHealth(() => now, {
    intervalMs: 20,
    forgetAfterMs: () => 60_000,
    onUp: (target) => up.push(target.name),
    probe: (target) => {
      probed.push(target.name);
      return Promise.resolve(answering);
    },
  });
  const target = { name: 'smart.example', address: '192.0.2.1', port: 25 };
  fail(health, '192.0.2.1:25', FAILURES_TO_MARK - 1);
  health.recordFailure('192.0.2.1:25', refused, 600_000, target);
  health.recordFailure('192.0.2.1:25', refused, 600_000, target);
  assert.ok(health.down('192.0.2.1:25'), 'marked down for ten minutes');
  await new Promise((r) => setTimeout(r, 70));
  assert.ok(probed.length >= 1, 'probed while down');
  assert.deepEqual(up, [], 'not answering: still down');
  answering = true;
  await new Promise((r) => setTimeout(r, 70));
  assert.deepEqual(up, ['smart.example'], 'answered: onUp once');
  assert.equal(health.down('192.0.2.1:25'), null, 'the down period ended at once');

  answering = false;
  health.recordFailure('192.0.2.2:25', refused, 600_000, { ...target, address: '192.0.2.2' });
  now = 61_000;
  probed.length = 0;
  await new Promise((r) => setTimeout(r, 70));
  assert.deepEqual(probed, [], 'a failure older than forgetAfterMs is not probed');
  health.stopProbing();
});

void test('probeGreeting: a 220 greeting answers; a 421 greeting or a closed port does not', async () => {
  const serve = async (greeting: string): Promise<{ port: number; close: () => void }> => {
    const server = createServer((s) => {
      s.on('error', () => undefined);
      s.end(greeting);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as { port: number }).port, close: () => server.close() };
  };
  const ok = await serve('220-first line\r\n220 smart.example ESMTP\r\n');
  const busy = await serve('421 4.3.2 too busy\r\n');
  try {
    assert.equal(await probeGreeting({ name: 'a', address: '127.0.0.1', port: ok.port }, 2000), true);
    assert.equal(await probeGreeting({ name: 'b', address: '127.0.0.1', port: busy.port }, 2000), false);
    busy.close();
    assert.equal(await probeGreeting({ name: 'b', address: '127.0.0.1', port: busy.port }, 2000), false, 'connection refused');
  } finally {
    ok.close();
  }
});
