import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionLog, appLog, type ProtocolEvent } from './protocol-log.ts';

const BASE = { 'connector-id': 'mail/in"ternal', 'session-id': 'abc123', 'local-endpoint': '192.0.2.1:25', 'remote-endpoint': '[2001:db8::1]:4567' };

/** The line as the protocol log wrote it before it was assembled by hand. */
function reference(time: string, sequence: number, event: ProtocolEvent, data: string, context: string): string {
  return `${JSON.stringify({ log: 'protocol', 'date-time': time, ...BASE, 'sequence-number': sequence, event, data, context })}\n`;
}

void test('a protocol line is the JSON.stringify of its fields, in Exchange order', () => {
  const lines: string[] = [];
  const log = new SessionLog(BASE, true, (l) => lines.push(l));
  const cases: Array<[ProtocolEvent, string, string]> = [
    ['+', '', 'matched 127.0.0.0/8'],
    ['<', 'MAIL FROM:<a"b\\c@x.test>', ''],
    ['*', 'tab\tcr\rlf\nnul\u0000 del\u007f', 'ctx "q"'],
    ['>', 'unicode é ✓ \u2028 \u2029 😀 lone \ud800', 'ü'],
    ['-', '', 'Local'],
  ];
  for (const [event, data, context] of cases) log.write(event, data, context);
  assert.equal(lines.length, cases.length);
  lines.forEach((line, i) => {
    const time = (JSON.parse(line) as { 'date-time': string })['date-time'];
    assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const [event, data, context] = cases[i] ?? ['*', '', ''];
    assert.equal(line, reference(time, i, event, data, context));
  });
});

void test('a connector without verbose logging writes refusals only, numbering only what it writes', () => {
  const lines: string[] = [];
  const log = new SessionLog(BASE, false, (l) => lines.push(l));
  log.write('<', 'MAIL FROM:<a@x.test>');
  log.write('*', 'refused', 'reason', true);
  log.write('*', 'refused again', 'reason', true);
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { 'sequence-number': number })['sequence-number']), [0, 1]);
});

void test('a value that is not a string still gives a valid line (as JSON.stringify would)', () => {
  const lines: string[] = [];
  new SessionLog(BASE, true, (l) => lines.push(l)).write('*', undefined as unknown as string, 'c');
  const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  assert.equal('data' in line, false);
  assert.equal(line.context, 'c');
});

void test('refusals are urgent (written at once), other lines are not', () => {
  const calls: Array<[string, boolean | undefined]> = [];
  const log = new SessionLog(BASE, true, (line, urgent) => calls.push([line, urgent]));
  log.write('<', 'MAIL FROM:<a@x.test>');
  log.write('*', 'MAIL refused: 530 5.7.1 Client was not authenticated', 'noSubmitRight', true);
  assert.deepEqual(calls.map(([, urgent]) => urgent), [false, true]);
});

void test('appLog writes one app line', () => {
  const lines: string[] = [];
  appLog('warn', 'hello', { a: 1 }, (l) => lines.push(l));
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  assert.deepEqual({ ...line, time: 'T' }, { log: 'app', time: 'T', level: 'warn', message: 'hello', a: 1 });
});
