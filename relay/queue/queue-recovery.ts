/*
 * relay/queue/queue-recovery - resume every queue state at start, before any delivery.
 *
 * active/    a previous run died (or was stopped) mid-delivery: a message with a delivery
 *            state goes to deferred/, due at once; one without goes back to incoming/.
 * deferred/  each message is scheduled at its state's nextAttemptAt (at once when the state
 *            is missing or unreadable).
 * incoming/  left for the first pump. hold/ and corrupt/ are left alone.
 * delivery-state/  states of messages no longer queued (crash between removal steps) are
 *            deleted.
 * A message that vanishes between listing and moving (SpoolNotFoundError) is skipped.
 */
import { MESSAGE_NOT_FOUND_CODE, QUEUE_STATES, type DeliveryStates, type QueueStore } from './queue-store.ts';

export interface QueueRecoveryReport {
  activeToIncoming: number;
  activeToDeferred: number;
  deferredScheduled: number;
  orphanStates: number;
  unreadableStates: string[];
}

const isNotFound = (err: unknown): boolean => (err as { code?: string } | null)?.code === MESSAGE_NOT_FOUND_CODE;

/** recoverQueue - move active/ back, and return the deferred schedule (id -> due ms). */
export async function recoverQueue(
  spool: QueueStore,
  store: DeliveryStates,
  nowMs: number,
): Promise<{ schedule: Map<string, number>; report: QueueRecoveryReport }> {
  const report: QueueRecoveryReport = { activeToIncoming: 0, activeToDeferred: 0, deferredScheduled: 0, orphanStates: 0, unreadableStates: [] };
  const schedule = new Map<string, number>();
  for (const id of await spool.listMessages('active')) {
    const read = await store.read(id);
    const to = read.ok && read.state !== null ? 'deferred' : 'incoming';
    try {
      await spool.moveMessage(id, 'active', to);
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
    if (to === 'deferred') {
      report.activeToDeferred += 1;
      schedule.set(id, nowMs);
    } else {
      report.activeToIncoming += 1;
    }
  }
  for (const id of await spool.listMessages('deferred')) {
    if (schedule.has(id)) continue;
    schedule.set(id, await dueTime(store, id, nowMs, report));
    report.deferredScheduled += 1;
  }
  const queued = new Set<string>();
  for (const state of QUEUE_STATES) {
    for (const id of await spool.listMessages(state)) queued.add(id);
  }
  report.orphanStates = (await store.prune(queued)).length;
  return { schedule, report };
}

/** dueTime - when a deferred message is due, from its delivery state (now when unknown). */
export async function dueTime(store: DeliveryStates, id: string, nowMs: number, report?: QueueRecoveryReport): Promise<number> {
  const read = await store.read(id);
  if (!read.ok) {
    report?.unreadableStates.push(id);
    return nowMs;
  }
  const next = read.state?.nextAttemptAt;
  return next ? Date.parse(next) : nowMs;
}
