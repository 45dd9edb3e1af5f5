import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createBufferedOutput, isoTime } from './log-output.ts';

void test('lines of one turn are written together, in order, on the next turn', async () => {
  const writes: string[] = [];
  const out = createBufferedOutput((chunk) => writes.push(chunk));
  out.sink('a\n');
  out.sink('b\n');
  assert.deepEqual(writes, [], 'nothing is written synchronously');
  await nextTurn();
  assert.deepEqual(writes, ['a\nb\n']);
  out.sink('c\n');
  await nextTurn();
  assert.deepEqual(writes, ['a\nb\n', 'c\n']);
  await nextTurn();
  assert.equal(writes.length, 2, 'no empty write');
});

void test('past the limit the waiting lines are written at once, whole', async () => {
  const writes: string[] = [];
  const out = createBufferedOutput((chunk) => writes.push(chunk), 10);
  out.sink('12345\n');
  assert.deepEqual(writes, []);
  out.sink('6789\n');
  assert.deepEqual(writes, ['12345\n6789\n']);
  out.sink('x\n');
  await nextTurn();
  assert.deepEqual(writes, ['12345\n6789\n', 'x\n']);
});

void test('flush writes what waits and cancels the scheduled write', async () => {
  const writes: string[] = [];
  const out = createBufferedOutput((chunk) => writes.push(chunk));
  out.flush();
  assert.deepEqual(writes, [], 'nothing waiting, no write');
  out.sink('a\n');
  out.flush();
  assert.deepEqual(writes, ['a\n']);
  await nextTurn();
  assert.deepEqual(writes, ['a\n']);
});

void test('isoTime is Date#toISOString', () => {
  for (const ms of [0, 1, 1_700_000_000_123, 1_700_000_000_123, 1_700_000_000_124]) assert.equal(isoTime(ms), new Date(ms).toISOString());
  const before = Date.now();
  const now = Date.parse(isoTime());
  assert.ok(now >= before && now <= Date.now());
});

const protocolLog = new URL('../log/protocol-log.ts', import.meta.url).href;

function runChild(body: string): { status: number | null; lines: string[]; stdout: string } {
  const script = `import { appLog, SessionLog } from ${JSON.stringify(protocolLog)};\n${body}`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { status: child.status, stdout: child.stdout, lines: child.stdout.split('\n').slice(0, -1) };
}

function messages(lines: string[]): string[] {
  return lines.map((l) => (JSON.parse(l) as { message: string }).message);
}

void test('stdout: waiting lines are written, whole, on process.exit()', () => {
  // ~45 KB: below the flush limit, so all of it waits for the exit flush.
  const child = runChild(`
    const log = new SessionLog({ 'connector-id': 'c', 'session-id': 's', 'local-endpoint': 'l', 'remote-endpoint': 'r' }, true);
    for (let i = 0; i < 300; i++) log.write('*', 'x'.repeat(i % 100), String(i));
    appLog('info', 'last');
    process.exit(3);
  `);
  assert.equal(child.status, 3);
  assert.ok(child.stdout.endsWith('\n'));
  assert.equal(child.lines.length, 301);
  child.lines.slice(0, -1).forEach((text, i) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    assert.equal(line['sequence-number'], i);
    assert.equal(line.context, String(i));
  });
  assert.deepEqual(messages(child.lines.slice(-1)), ['last']);
});

void test('stdout: megabytes of lines end whole and in order when the event loop ends', () => {
  const child = runChild(`
    const log = new SessionLog({ 'connector-id': 'c', 'session-id': 's', 'local-endpoint': 'l', 'remote-endpoint': 'r' }, true);
    for (let i = 0; i < 20000; i++) log.write('*', 'x'.repeat(i % 200), String(i));
    setTimeout(() => appLog('info', 'last'), 5);
  `);
  assert.equal(child.status, 0);
  assert.equal(child.lines.length, 20001);
  child.lines.slice(0, -1).forEach((text, i) => {
    assert.equal((JSON.parse(text) as Record<string, unknown>)['sequence-number'], i);
  });
  assert.deepEqual(messages(child.lines.slice(-1)), ['last']);
});

void test('stdout: waiting lines are written on an uncaught exception', () => {
  const crashed = runChild(`setTimeout(() => { appLog('error', 'before the crash'); throw new Error('boom'); }, 5);`);
  assert.equal(crashed.status, 1);
  assert.deepEqual(messages(crashed.lines), ['before the crash']);
});

void test('an urgent line is written at once, after the lines waiting before it', async () => {
  const writes: string[] = [];
  const out = createBufferedOutput((chunk) => writes.push(chunk));
  out.sink('a\n');
  out.sink('refused\n', true);
  assert.deepEqual(writes, ['a\nrefused\n']);
  out.sink('b\n', false);
  assert.equal(writes.length, 1);
  await nextTurn();
  assert.deepEqual(writes, ['a\nrefused\n', 'b\n']);
});

void test('with a delay, lines wait for it and go in one write', async () => {
  const writes: string[] = [];
  const out = createBufferedOutput((chunk) => writes.push(chunk), 1000, 20);
  out.sink('a\n');
  await nextTurn();
  out.sink('b\n');
  assert.deepEqual(writes, [], 'not on the next turn');
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.deepEqual(writes, ['a\nb\n']);
  out.sink('c\n', true);
  assert.deepEqual(writes, ['a\nb\n', 'c\n'], 'urgent lines do not wait');
});
