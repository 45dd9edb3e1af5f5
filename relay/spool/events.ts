/*
 * relay/spool/events - what the spool tells the world: log events and diagnostics channels.
 *
 * Log events go to the `log` callback given to Spool.open (one object per event, `event` is
 * a stable camelCase name). Channels are node:diagnostics_channel, free when nobody listens;
 * they are for logs, metrics and tests (the queue's wake-up is the onCommitted option):
 *
 *   relay:spool:committed   { id, bytes, durationMs }   after the 250-worthy commit-log fdatasync
 *   relay:spool:logSynced   { frames, bytes, durationMs } one group commit: a write and an fdatasync
 *   relay:spool:fileSynced  { id, bytes, durationMs }   a queue file written and fsynced (a message
 *                                                       leaving the log for a state directory)
 *   relay:spool:dirSynced   { dir, waiters, durationMs } one group-commit directory fsync
 */
import diagnostics_channel from 'node:diagnostics_channel';
import type { QueueState } from '../queue/queue-store.ts';

export type SpoolLogEvent =
  | { event: 'tornWriteDiscarded'; file: string }
  | { event: 'corruptFileMoved'; file: string; from: QueueState; reason: string; bytes: number }
  | { event: 'recovered'; kept: number; discarded: number; corrupt: number }
  | { event: 'messageMoved'; id: string; from: QueueState; to: QueueState }
  | { event: 'messageRemoved'; id: string; state: QueueState }
  | { event: 'commitFailed'; id: string; code: string; message: string }
  | { event: 'tornLogTailDiscarded'; file: string; bytes: number }
  | {
      event: 'logDamaged';
      file: string;
      offset: number;
      bytes: number;
      reason: string;
      /** Name of the copy in corrupt/. */
      quarantinedAs: string;
      /** Valid frames read from the file, and how many of them lie after this range. */
      framesRecovered: number;
      framesAfter: number;
    }
  | { event: 'logRecovered'; segments: number; messages: number }
  | { event: 'messageEvicted'; id: string; state: QueueState; segment: number }
  | { event: 'segmentDeleted'; file: string }
  | { event: 'logWriteFailed'; message: string };

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

export const logSyncedChannel = diagnostics_channel.channel('relay:spool:logSynced');
export const committedChannel = diagnostics_channel.channel('relay:spool:committed');
export const fileSyncedChannel = diagnostics_channel.channel('relay:spool:fileSynced');
export const dirSyncedChannel = diagnostics_channel.channel('relay:spool:dirSynced');

/**
 * spoolEventLevel - the log level an administrator should see an event at. Damage to bytes
 * that were (or may have been) acknowledged is an error: messages were lost to corrupt/ and
 * someone has to look. A torn tail is the normal trace of a crash and stays info.
 */
export function spoolEventLevel(event: { event?: unknown }): 'info' | 'error' {
  switch (event.event) {
    case 'logDamaged':
    case 'corruptFileMoved':
      return 'error';
    default:
      return 'info';
  }
}
