/*
 * relay/spool/queue-state - each queue state (named once, relay/queue/queue-store.ts) is a directory.
 *
 * A message lives either in the commit log (log/, states incoming and active only: see
 * spool.ts) or as a file in exactly one state directory; a file transition is one rename
 * that names both ends (Spool.moveMessage). `tmp/` is not a state: it holds writes in
 * progress, and whatever is found there at startup is a torn write.
 */
import path from 'node:path';
import { QUEUE_STATES, type QueueState } from '../queue/queue-store.ts';
import { SpoolArgumentError } from './errors.ts';

/** States whose files are validated at startup (corrupt/ is left as found). */
export const LIVE_QUEUE_STATES: readonly QueueState[] = ['incoming', 'active', 'deferred', 'hold'];

/** Directory for writes in progress; never a queue state. */
export const TMP_DIR_NAME = 'tmp';

/** isQueueState - true when the value names a queue state. */
export function isQueueState(value: unknown): value is QueueState {
  return typeof value === 'string' && (QUEUE_STATES as readonly string[]).includes(value);
}

/** assertQueueState - throws SpoolArgumentError unless value is a queue state. */
export function assertQueueState(value: unknown, name: string): asserts value is QueueState {
  if (!isQueueState(value)) {
    throw new SpoolArgumentError(`${name} must be one of ${QUEUE_STATES.join(', ')}, got ${String(value)}`);
  }
}

export interface SpoolPaths {
  root: string;
  tmp: string;
  /** The commit log (log-format.ts). */
  log: string;
  states: Readonly<Record<QueueState, string>>;
}

/** spoolPaths - the directory layout under a spool root. */
export function spoolPaths(root: string): SpoolPaths {
  const abs = path.resolve(root);
  const states = Object.fromEntries(QUEUE_STATES.map((s) => [s, path.join(abs, s)])) as Record<QueueState, string>;
  return { root: abs, tmp: path.join(abs, TMP_DIR_NAME), log: path.join(abs, 'log'), states };
}
