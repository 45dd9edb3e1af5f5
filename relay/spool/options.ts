/*
 * relay/spool/options - the spool settings as one table: name, default, bounds, unit.
 *
 * resolveSpoolOptions validates at the door (one message per option, naming it) and
 * returns an immutable object; nothing here is module state.
 */
import { DEFAULT_MIN_FREE_BYTES } from '../config/settings.ts';
import { SpoolArgumentError } from './errors.ts';
import type { SpoolLogEvent } from './events.ts';

export interface SpoolOptions {
  /** Refuse a commit that would leave less free space than this. */
  minFreeBytes?: number;
  /** Extra wait before a commit-log write or directory fsync, to gather more into one batch. */
  groupCommitWindowMs?: number;
  /** A commit-log segment is closed (a new one started) once it holds this many bytes. */
  segmentBytes?: number;
  /** Segments kept before the messages still queued in the oldest are moved out to files. */
  maxSegments?: number;
  /** Bodies of messages in the log kept in memory for the queue manager's first read. */
  cacheBytes?: number;
  /** Refuse bodies with a bare CR or LF (caller canonicalises; this only asserts). */
  assertCanonical?: boolean;
  log?: (event: SpoolLogEvent) => void;
  /** Called with the queue id after each commit, before commitMessage resolves: the hub wires the queue manager's wake-up here. */
  onCommitted?: (id: string) => void;
}

export interface ResolvedSpoolOptions {
  readonly minFreeBytes: number;
  readonly groupCommitWindowMs: number;
  readonly segmentBytes: number;
  readonly maxSegments: number;
  readonly cacheBytes: number;
  readonly assertCanonical: boolean;
  readonly log: (event: SpoolLogEvent) => void;
  readonly onCommitted: (id: string) => void;
}

interface NumericSetting {
  name: 'minFreeBytes' | 'groupCommitWindowMs' | 'segmentBytes' | 'maxSegments' | 'cacheBytes';
  default: number;
  min: number;
  max: number;
  unit: string;
}

export const SPOOL_SETTINGS: readonly NumericSetting[] = [
  { name: 'minFreeBytes', default: DEFAULT_MIN_FREE_BYTES, min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'bytes' },
  { name: 'groupCommitWindowMs', default: 0, min: 0, max: 1000, unit: 'ms' },
  { name: 'segmentBytes', default: 64 * 1024 * 1024, min: 4096, max: 1024 * 1024 * 1024, unit: 'bytes' },
  { name: 'maxSegments', default: 4, min: 2, max: 1000, unit: 'segments' },
  { name: 'cacheBytes', default: 64 * 1024 * 1024, min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'bytes' },
];

/** resolveSpoolOptions - defaults applied, bounds checked. */
export function resolveSpoolOptions(options: SpoolOptions = {}): ResolvedSpoolOptions {
  const numbers: Record<string, number> = {};
  for (const s of SPOOL_SETTINGS) {
    const value = options[s.name] ?? s.default;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < s.min || value > s.max) {
      throw new SpoolArgumentError(`${s.name} must be a number of ${s.unit} from ${s.min} to ${s.max}`);
    }
    numbers[s.name] = value;
  }
  if (options.assertCanonical !== undefined && typeof options.assertCanonical !== 'boolean') {
    throw new SpoolArgumentError('assertCanonical must be a boolean');
  }
  for (const name of ['log', 'onCommitted'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new SpoolArgumentError(`${name} must be a function`);
  }
  return Object.freeze({
    minFreeBytes: numbers.minFreeBytes ?? 0,
    groupCommitWindowMs: numbers.groupCommitWindowMs ?? 0,
    segmentBytes: numbers.segmentBytes ?? 0,
    maxSegments: numbers.maxSegments ?? 0,
    cacheBytes: numbers.cacheBytes ?? 0,
    assertCanonical: options.assertCanonical ?? false,
    log: options.log ?? (() => {}),
    onCommitted: options.onCommitted ?? (() => {}),
  });
}
