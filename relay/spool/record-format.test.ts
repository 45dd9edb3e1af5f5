import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findBareLineEnd } from '../common/line-endings.ts';
import { checkEnvelope } from '../delivery/envelope.ts';
import { createMessageId, isSpoolMessageId } from './message-id.ts';
import { decodeSpoolFile, encodeSpoolFile, REC_END, RECORD_HEADER_BYTES } from './record-format.ts';
import { testBody, testEnvelope } from '../../test/support/spool-messages.ts';

function encodeToBuffer(seq: number, chunks = 1): Buffer {
  const body = testBody(seq, 300);
  const parts = chunks === 1 ? [body] : [body.subarray(0, 100), Buffer.alloc(0), body.subarray(100)];
  return Buffer.concat(encodeSpoolFile(testEnvelope(body.length, seq), parts).buffers);
}

void test('encode then decode gives back envelope and body, for one chunk or several', () => {
  for (const chunks of [1, 3]) {
    const file = encodeToBuffer(7, chunks);
    const decoded = decodeSpoolFile(file);
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
    assert.deepEqual(decoded.envelope, testEnvelope(300, 7));
    assert.deepEqual(decoded.body, testBody(7, 300));
    assert.equal(decoded.version, 1);
  }
});

void test('the file ends with an END record carrying the crc32', () => {
  const file = encodeToBuffer(1);
  assert.equal(file[file.length - RECORD_HEADER_BYTES - 4], REC_END);
  assert.equal(file.readUInt32BE(file.length - 8), 4);
});

void test('every truncation is rejected (torn write)', () => {
  const file = encodeToBuffer(2);
  const reasons = new Set<string>();
  for (let len = 0; len < file.length; len++) {
    const decoded = decodeSpoolFile(file.subarray(0, len));
    assert.equal(decoded.ok, false, `length ${len} accepted`);
    if (!decoded.ok) reasons.add(decoded.reason);
  }
  assert.deepEqual([...reasons].sort(), ['missingEnd', 'truncated']);
});

void test('every single flipped byte is rejected', () => {
  const file = encodeToBuffer(3);
  for (let i = 0; i < file.length; i++) {
    const damaged = Buffer.from(file);
    damaged[i] = (damaged[i] ?? 0) ^ 0x20;
    assert.equal(decodeSpoolFile(damaged).ok, false, `flip at ${i} accepted`);
  }
  const body = Buffer.from(file);
  body[body.length - 20] = (body[body.length - 20] ?? 0) ^ 1;
  assert.deepEqual(decodeSpoolFile(body), { ok: false, reason: 'badChecksum' });
});

void test('bytes after the END record are rejected', () => {
  const file = Buffer.concat([encodeToBuffer(4), Buffer.from('x')]);
  assert.deepEqual(decodeSpoolFile(file), { ok: false, reason: 'trailingBytes' });
});

void test('envelope check keeps known fields only and rejects injection material', () => {
  const extra = { ...testEnvelope(10), secret: 'not persisted' };
  const ok = checkEnvelope(extra);
  assert.ok(ok.ok);
  assert.equal('secret' in ok.envelope, false);
  const bad: [string, unknown][] = [
    ['crlf in recipient', { ...testEnvelope(1), rcptTo: [{ address: 'a@x\r\nRCPT TO:<b@y>' }] }],
    ['crlf in sender', { ...testEnvelope(1), mailFrom: 'a@x\r\n' }],
    ['no recipients', { ...testEnvelope(1), rcptTo: [] }],
    ['NEVER with others', { ...testEnvelope(1), rcptTo: [{ address: 'a@x', notify: ['NEVER', 'DELAY'] }] }],
    ['bad ret', { ...testEnvelope(1), dsnRet: 'ALL' }],
    ['negative size', { ...testEnvelope(1), size: -1 }],
    ['bad time', { ...testEnvelope(1), receivedAt: 'yesterday' }],
    ['not an object', 'envelope'],
  ];
  for (const [desc, value] of bad) assert.equal(checkEnvelope(value).ok, false, desc);
});

void test('findBareLineEnd finds bare CR and LF, also across chunks', () => {
  const cases: [string, string[], number][] = [
    ['canonical', ['a\r\nb\r\n'], -1],
    ['empty', [], -1],
    ['bare LF', ['a\r\nb\nc'], 4],
    ['bare CR', ['ab\rc\r\n'], 2],
    ['CR ends body', ['ab\r'], 2],
    ['CRLF split across chunks', ['ab\r', '', '\ncd\r\n'], -1],
    ['CR then non-LF across chunks', ['ab\r', 'x'], 2],
    ['LF opens a chunk after non-CR', ['ab', '\ncd'], 2],
    ['LF opens first chunk', ['\nab'], 0],
  ];
  for (const [desc, chunks, want] of cases) {
    assert.equal(findBareLineEnd(chunks.map((c) => Buffer.from(c, 'latin1'))), want, desc);
  }
});

void test('message ids are well formed, unique and sort by time', () => {
  const ids = [createMessageId(1000), createMessageId(1000), createMessageId(2000)];
  for (const id of ids) assert.ok(isSpoolMessageId(id), id);
  assert.equal(new Set(ids).size, 3);
  assert.deepEqual([...ids].sort(), ids);
  for (const bad of ['../incoming/x', 'ABC', '', `${ids[0]}/`]) assert.equal(isSpoolMessageId(bad), false, bad);
});
