import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSpoolFull, SpoolFullError, SpoolWriteError } from './errors.ts';

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: write`), { code });

test('isSpoolFull: the reserve, and ENOSPC/EDQUOT under a write error; other write errors are not', () => {
  assert.equal(isSpoolFull(new SpoolFullError(10, 20, 0)), true);
  assert.equal(isSpoolFull(new SpoolWriteError('commit log write failed', errno('ENOSPC'))), true);
  assert.equal(isSpoolFull(new SpoolWriteError('queue file write failed', new Error('wrapped', { cause: errno('EDQUOT') }))), true);
  assert.equal(isSpoolFull(new SpoolWriteError('commit log write failed', errno('EIO'))), false);
  assert.equal(isSpoolFull(new SpoolWriteError('short read', null)), false);
  assert.equal(isSpoolFull(undefined), false);
});
