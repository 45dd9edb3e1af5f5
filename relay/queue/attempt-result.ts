/*
 * relay/queue/attempt-result - from an attempt's outcomes to the next delivery state.
 *
 * applyExpiry: every pending recipient gets an outcome (the agent may skip one: `4.3.0 not
 * attempted`), and on an expired message's final attempt every deferral becomes a failure
 * with status 4.4.7 and the last error kept in the reply. mergeOutcomes: the recipients'
 * states after the attempt (deferred -> pending; delivered and failed are final); a deferral
 * while the job's delay notice is due sets delayNotified, for good. Pure.
 */
import type { QueueJob, RecipientDeliveryState, RecipientOutcome } from '../delivery/job.ts';

export const EXPIRED_STATUS = '4.4.7';

/** applyExpiry - complete the outcomes and apply the expiry rule. */
export function applyExpiry(job: Pick<QueueJob, 'pending' | 'expired'>, outcomes: readonly RecipientOutcome[]): RecipientOutcome[] {
  const seen = new Set(outcomes.map((o) => o.index));
  const missing = job.pending.filter((i) => !seen.has(i)).map((index): RecipientOutcome => ({ index, result: 'deferred', dsnStatus: '4.3.0', reply: 'not attempted' }));
  const all = [...outcomes, ...missing];
  if (!job.expired) return all;
  return all.map((o) => (o.result === 'deferred' ? { ...o, result: 'failed', dsnStatus: EXPIRED_STATUS, reply: `message expired in the queue; last error: ${o.reply}` } : o));
}

/** mergeOutcomes - new recipient states (the input is not changed). */
export function mergeOutcomes(
  job: Pick<QueueJob, 'recipients' | 'delayNoticeDue'>,
  outcomes: readonly RecipientOutcome[],
  nowIso: string,
): RecipientDeliveryState[] {
  const next = job.recipients.map((r) => ({ ...r }));
  for (const o of outcomes) {
    const r = next[o.index];
    if (!r) continue;
    r.status = o.result === 'deferred' ? 'pending' : o.result;
    if (o.result === 'deferred' && job.delayNoticeDue) r.delayNotified = true;
    r.attempts += 1;
    r.lastAttemptAt = nowIso;
    r.dsnStatus = o.dsnStatus;
    r.reply = o.reply;
    if (o.remoteMta) r.remoteMta = o.remoteMta;
  }
  return next;
}
