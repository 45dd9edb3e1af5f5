/*
 * relay/spool/message-id - queue ids: sortable by arrival, unique, safe as file names.
 *
 * Layout (28 lowercase hex digits): 12 digits of milliseconds since the epoch, 4 digits of
 * a per-process sequence (keeps order within one millisecond), 12 random digits (48 bits,
 * keeps ids unique across processes). The random digits come from a pool of CSPRNG bytes
 * (crypto.randomFillSync) drawn RANDOM_POOL_IDS ids at a time and never reused: each id
 * still gets 48 fresh random bits of its own, at one call into OpenSSL per RANDOM_POOL_IDS
 * ids instead of one per id. The pool lives in this process's memory only (a child process
 * or worker thread loads its own module and fills its own pool). Ids are checked with
 * isSpoolMessageId before they are joined to a path, so a caller can never name a file
 * outside the spool.
 */
import { randomFillSync } from 'node:crypto';
import { SpoolArgumentError } from './errors.ts';

const ID_PATTERN = /^[0-9a-f]{28}$/;
let sequence = 0;

const RANDOM_BYTES_PER_ID = 6;
/** Ids per refill of the random pool (4092 bytes). */
export const RANDOM_POOL_IDS = 682;
const randomPool = Buffer.alloc(RANDOM_POOL_IDS * RANDOM_BYTES_PER_ID);
/** The pool as hex, 12 digits per id; the next id takes the digits at poolNext * 12. */
let randomPoolHex = '';
let poolNext = RANDOM_POOL_IDS;

function randomDigits(): string {
  if (poolNext === RANDOM_POOL_IDS) {
    randomFillSync(randomPool);
    randomPoolHex = randomPool.toString('hex');
    poolNext = 0;
  }
  const start = poolNext++ * RANDOM_BYTES_PER_ID * 2;
  return randomPoolHex.slice(start, start + RANDOM_BYTES_PER_ID * 2);
}

/** createMessageId - a new queue id. */
export function createMessageId(now: number = Date.now()): string {
  sequence = (sequence + 1) & 0xffff;
  return now.toString(16).padStart(12, '0') + sequence.toString(16).padStart(4, '0') + randomDigits();
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
