/*
 * relay/queue/queue-depth - how many messages each queue state holds, and the oldest one.
 *
 * Counts come from the state directories (readdir), not from memory, so they include what
 * a previous run left and what an administrator moved by hand. The arrival time of a
 * message is read from its queue id (12 hex digits of milliseconds, message-id.ts), so no
 * message file is opened. corrupt/ is counted but not part of the oldest age.
 */
import { QUEUE_STATES, type QueueState, type QueueStore } from './queue-store.ts';

export interface QueueDepth {
  counts: Record<QueueState, number>;
  ids: Record<QueueState, string[]>;
  /** Age of the oldest message in incoming/, active/, deferred/ or hold/; 0 when empty. */
  oldestAgeMs: number;
}

/** arrivalMsOfId - the arrival time encoded in a queue id. */
export function arrivalMsOfId(id: string): number {
  return Number.parseInt(id.slice(0, 12), 16);
}

/** queueDepth - list every state directory once. */
export async function queueDepth(spool: Pick<QueueStore, 'listMessages'>, nowMs: number): Promise<QueueDepth> {
  const ids = {} as Record<QueueState, string[]>;
  const counts = {} as Record<QueueState, number>;
  let oldest = Number.POSITIVE_INFINITY;
  for (const state of QUEUE_STATES) {
    const list = await spool.listMessages(state);
    ids[state] = list;
    counts[state] = list.length;
    if (state !== 'corrupt' && list.length > 0) oldest = Math.min(oldest, arrivalMsOfId(list[0] as string));
  }
  return { counts, ids, oldestAgeMs: Number.isFinite(oldest) ? Math.max(0, nowMs - oldest) : 0 };
}
