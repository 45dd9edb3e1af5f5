/*
 * relay/spool/events - what the spool tells the world: log events and diagnostics channels.
 *
 * Log events go to the `log` callback given to Spool.open (one object per event, `event` is
 * a stable camelCase name). Channels are node:diagnostics_channel, free when nobody listens:
 *
 *   relay:spool:committed   { id, bytes, durationMs }   after the 250-worthy directory fsync
 *   relay:spool:fileSynced  { id, bytes, durationMs }   file written and fsynced, not yet renamed
 *   relay:spool:dirSynced   { dir, waiters, durationMs } one group-commit directory fsync
 */
import diagnostics_channel from 'node:diagnostics_channel';
import type { QueueState } from './queue-state.ts';

export type SpoolLogEvent =
  | { event: 'tornWriteDiscarded'; file: string }
  | { event: 'corruptFileMoved'; file: string; from: QueueState; reason: string }
  | { event: 'recovered'; kept: number; discarded: number; corrupt: number }
  | { event: 'messageMoved'; id: string; from: QueueState; to: QueueState }
  | { event: 'messageRemoved'; id: string; state: QueueState }
  | { event: 'commitFailed'; id: string; code: string; message: string };

export interface SpoolCommittedMessage {
  id: string;
  bytes: number;
  durationMs: number;
}

export interface SpoolDirSyncedMessage {
  dir: string;
  waiters: number;
  durationMs: number;
}

export const committedChannel = diagnostics_channel.channel('relay:spool:committed');
export const fileSyncedChannel = diagnostics_channel.channel('relay:spool:fileSynced');
export const dirSyncedChannel = diagnostics_channel.channel('relay:spool:dirSynced');
