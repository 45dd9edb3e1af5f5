/*
 * relay/spool/message-id - queue ids: sortable by arrival, unique, safe as file names.
 *
 * Layout (28 lowercase hex digits): 12 digits of milliseconds since the epoch, 4 digits of
 * a per-process sequence (keeps order within one millisecond), 12 random digits (48 bits,
 * keeps ids unique across processes). Ids are checked with isSpoolMessageId before they
 * are joined to a path, so a caller can never name a file outside the spool.
 */
import { randomBytes } from 'node:crypto';
import { SpoolArgumentError } from './errors.ts';

const ID_PATTERN = /^[0-9a-f]{28}$/;
let sequence = 0;

/** createMessageId - a new queue id. */
export function createMessageId(now: number = Date.now()): string {
  sequence = (sequence + 1) & 0xffff;
  return (
    now.toString(16).padStart(12, '0') +
    sequence.toString(16).padStart(4, '0') +
    randomBytes(6).toString('hex')
  );
}

/** isSpoolMessageId - true for a well-formed queue id (and nothing else). */
export function isSpoolMessageId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** assertSpoolMessageId - throws SpoolArgumentError unless value is a queue id. */
export function assertSpoolMessageId(value: unknown): asserts value is string {
  if (!isSpoolMessageId(value)) {
    throw new SpoolArgumentError(`message id must be 28 lowercase hex digits, got ${JSON.stringify(value)}`);
  }
}
