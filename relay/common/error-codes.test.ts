// Every registered error code is documented in docs/errors.md, and the page names no code
// the registry lacks (fastify's test/internals/errors.test.js, for the same reason).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, type ErrorCode } from './error-codes.ts';
import { RelayError } from './errors.ts';

const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = new Set([...docs.matchAll(/^\| `(RELAY_ERR_[A-Z0-9_]+)` \|/gm)].flatMap((m) => (m[1] ? [m[1]] : [])));

test('every code of the registry has a row in docs/errors.md', () => {
  const missing = Object.keys(ERROR_CODES).filter((code) => !documented.has(code));
  assert.deepEqual(missing, []);
});

test('docs/errors.md documents no code the registry lacks', () => {
  const unknown = [...documented].filter((code) => !(code in ERROR_CODES));
  assert.deepEqual(unknown, []);
});

test('codes are prefixed RELAY_ERR_ and upper snake case', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.match(code, /^RELAY_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
});

test('a RelayError carries its code, its subclass name and the cause it wraps', () => {
  class SampleError extends RelayError {}
  const cause = new Error('disk gone');
  const code: ErrorCode = 'RELAY_ERR_SPOOL_WRITE';
  const error = new SampleError(code, 'write failed', { cause });
  assert.equal(error.code, 'RELAY_ERR_SPOOL_WRITE');
  assert.equal(error.name, 'SampleError');
  assert.equal(error.cause, cause);
  assert.ok(error instanceof Error);
});
