/*
 * operator/runtime/diagnostics - what the runtime tells the world, as node:diagnostics_channel
 * messages (free when nobody subscribes). Logs, metrics and tests subscribe by name:
 *
 *   relay:runtime:reconciled  ReconciledMessage  after every reconcile (result, duration, error)
 *   relay:runtime:reflector   ReflectorMessage   listed, watch errors, 410 Gone, stalls, resyncs
 *   relay:runtime:leader      LeaderMessage      started/stopped leading, new leader observed
 *   relay:runtime:event       EventMessage       an Event write failed (events are best-effort)
 */
import diagnostics_channel from 'node:diagnostics_channel';

export interface ReconciledMessage {
  controller: string;
  key: string;
  result: 'success' | 'error' | 'requeue_after';
  terminal: boolean;
  durationMs: number;
  error?: unknown;
}

export interface ReflectorMessage {
  path: string;
  event: 'listed' | 'watchStarted' | 'watchClosed' | 'watchError' | 'listError' | 'gone' | 'stalled' | 'resync' | 'handlerError';
  resourceVersion?: string;
  key?: string;
  count?: number;
  error?: unknown;
  retryInMs?: number;
}

export interface LeaderMessage {
  lease: string;
  identity: string;
  event: 'startedLeading' | 'stoppedLeading' | 'newLeader' | 'renewFailed' | 'released';
  holder?: string;
  error?: unknown;
}

export interface EventMessage {
  reason: string;
  regarding: string;
  error: unknown;
}

export const reconciledChannel = diagnostics_channel.channel('relay:runtime:reconciled');
export const reflectorChannel = diagnostics_channel.channel('relay:runtime:reflector');
export const leaderChannel = diagnostics_channel.channel('relay:runtime:leader');
export const eventChannel = diagnostics_channel.channel('relay:runtime:event');

export function publish<T extends object>(channel: diagnostics_channel.Channel, message: T): void {
  if (channel.hasSubscribers) channel.publish(message);
}
